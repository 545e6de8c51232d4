"""Every package's datasets, in the order ``daofu data load`` runs them."""

from catalogue.loading import DATASETS as CATALOGUE_DATASETS
from geo.loading import DATASETS as STORE_DATASETS

ALL_DATASETS = (*STORE_DATASETS, *CATALOGUE_DATASETS)

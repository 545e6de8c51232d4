"""Run the Alembic migrations of the store programmatically."""

from __future__ import annotations

import importlib

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers
from sqlalchemy import MetaData

from geo.db import Base
from geo.settings import PROJECT_ROOT


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", "geo:migrations")
    config.attributes["url"] = url
    return config


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave PostGIS's own tables (spatial_ref_sys, topology, tiger) out of comparisons."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


def model_metadata(config: Config) -> MetaData:
    """The metadata of every package's tables, importing the modules alembic.ini names."""
    for module in (config.get_main_option("model_modules") or "geo.models").split():
        importlib.import_module(module)
    return Base.metadata


def upgrade_to_head(url: str) -> None:
    command.upgrade(alembic_config(url), "head")

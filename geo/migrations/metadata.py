"""The metadata migrations compare against: every package's models, registered here."""

import geo.models  # noqa: F401 - registers the tables
from geo.db import Base

target_metadata = Base.metadata

"""Run the Alembic migrations of the store programmatically."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from geo.settings import PROJECT_ROOT


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", "geo:migrations")
    config.attributes["url"] = url
    return config


def upgrade_to_head(url: str) -> None:
    command.upgrade(alembic_config(url), "head")

"""Settings of daofu, read once from ``DAOFU_*`` environment variables."""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Every setting of the project; no other module reads ``os.environ``."""

    model_config = SettingsConfigDict(env_prefix="DAOFU_")

    database_url: str | None = None
    """A PostgreSQL URL with PostGIS; unset means the project-local cluster in ``home``."""
    home: Path = PROJECT_ROOT / ".daofu"
    """Project-local state: the database cluster, generated secrets, logs."""
    data_dir: Path = PROJECT_ROOT / "data"
    default_city: str = "370100000000"
    """The statistical division code of the city shown when none is chosen (Jinan)."""
    host: str = "127.0.0.1"
    port: int = 8000
    page_size_max: int = 1000


@lru_cache
def get_settings() -> Settings:
    return Settings()

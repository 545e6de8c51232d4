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

    # accounts (accounts/)
    secret_key: str | None = None
    """Key for signing CSRF tokens; unset means one generated into ``home/secret_key``."""
    session_ttl_s: int = 8 * 3600
    """A web login lasts this long."""
    api_token_ttl_days: int = 30
    """A bearer token for the API lasts this long unless revoked."""
    login_max_failures: int = 5
    """Failed logins in a row after which an account is locked for ``login_lockout_s``."""
    login_lockout_s: int = 15 * 60

    # maintainers' uploads (stewardship/)
    upload_max_bytes: int = 20 * 1024 * 1024
    upload_max_rows: int = 200_000

    # map pages (web/)
    tile_url: str | None = None
    """An online tile layer offered beside our own base map, e.g. Tianditu or
    ``https://tile.openstreetmap.org/{z}/{x}/{y}.png``; unset: offline base map only."""
    tile_attribution: str = ""
    tile_crs: str = "wgs84"
    """``wgs84`` or ``gcj02`` (AMap-style tiles): overlays are shifted to sit on them."""


@lru_cache
def get_settings() -> Settings:
    return Settings()

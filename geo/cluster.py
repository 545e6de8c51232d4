"""The project-local PostgreSQL + PostGIS cluster under ``.daofu/pg``.

Used when ``DAOFU_DATABASE_URL`` is unset. PostgreSQL refuses to run as root, so
as root every server command runs as Debian's ``postgres`` user, which owns the
data directory. The password is generated on first set-up and kept in
``.daofu/cluster.json`` (mode 600), never in the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from geo.errors import ClusterError
from geo.settings import Settings

DB_NAME = "daofu"
DB_USER = "daofu"


@dataclass
class ClusterConfig:
    port: int
    password: str

    def url(self, database: str = DB_NAME) -> str:
        return f"postgresql+psycopg://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{database}"


def _pg_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True)
    if not candidates:
        raise ClusterError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql: "
            "run `make setup` (installs postgresql-15 and PostGIS) or set DAOFU_DATABASE_URL."
        )
    return candidates[0].parent


def _cluster_root(settings: Settings) -> Path:
    return settings.home / "pg"


def _data_dir(settings: Settings) -> Path:
    return _cluster_root(settings) / "data"


def _config_path(settings: Settings) -> Path:
    return settings.home / "cluster.json"


def _as_server_user(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument lists, no shell
        _as_server_user(args), capture_output=True, text=True, check=False
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def load_config(settings: Settings) -> ClusterConfig | None:
    path = _config_path(settings)
    if not path.exists():
        return None
    return ClusterConfig(**json.loads(path.read_text()))


def _save_config(settings: Settings, config: ClusterConfig) -> None:
    path = _config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(config)))
    path.chmod(0o600)


def _init_cluster(settings: Settings) -> ClusterConfig:
    root = _cluster_root(settings)
    data = _data_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    _chown_to_server_user(root)
    config = load_config(settings) or ClusterConfig(_free_port(), secrets.token_urlsafe(24))
    pwfile = root / "initpw"
    pwfile.write_text(config.password)
    _chown_to_server_user(pwfile)
    try:
        result = _run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(data),
                "-U",
                DB_USER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ]
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ClusterError(f"initdb failed in {data}: {result.stderr.strip()}")
    _save_config(settings, config)
    return config


def is_running(settings: Settings) -> bool:
    if not (_data_dir(settings) / "PG_VERSION").exists():
        return False
    return (
        _run([str(_pg_bin() / "pg_ctl"), "status", "-D", str(_data_dir(settings))]).returncode == 0
    )


def ensure_running(settings: Settings) -> ClusterConfig:
    """Initialise the cluster if needed, start it if stopped, create the database.

    Idempotent: a running cluster is left as it is.
    """
    data = _data_dir(settings)
    if not (data / "PG_VERSION").exists():
        config = _init_cluster(settings)
    else:
        loaded = load_config(settings)
        if loaded is None:
            raise ClusterError(f"{_config_path(settings)} is missing: remove {data} and retry")
        config = loaded
    if not is_running(settings):
        if not _port_is_free(config.port):
            config.port = _free_port()
            _save_config(settings, config)
        options = (
            f"-p {config.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={_cluster_root(settings)} -c synchronous_commit=off"
        )
        log = _cluster_root(settings) / "server.log"
        result = _run(
            [
                str(_pg_bin() / "pg_ctl"),
                "start",
                "-w",
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
            ]
        )
        if result.returncode != 0:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterError(f"PostgreSQL did not start: {result.stderr.strip()} {tail}")
    create_database(config.url("postgres"), DB_NAME)
    return config


def stop(settings: Settings) -> bool:
    """Stop the local cluster; returns False when it was not running."""
    if not is_running(settings):
        return False
    result = _run(
        [str(_pg_bin() / "pg_ctl"), "stop", "-m", "fast", "-w", "-D", str(_data_dir(settings))]
    )
    if result.returncode != 0:
        raise ClusterError(f"PostgreSQL did not stop: {result.stderr.strip()}")
    return True


def create_database(admin_url: str, name: str, *, drop_first: bool = False) -> None:
    """Create database ``name`` on the server of ``admin_url`` unless it exists."""
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if drop_first:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def scratch_database(server_url: str, name: str) -> str:
    """A fresh, empty database ``name`` on the server of ``server_url``; returns its URL.

    For tests and benchmarks, which must not touch the demo database.
    """
    base = make_url(server_url)
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    create_database(admin, name, drop_first=True)
    return base.set(database=name).render_as_string(hide_password=False)

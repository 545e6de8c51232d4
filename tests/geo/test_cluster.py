"""The project-local PostGIS cluster that `make demo` starts when DAOFU_DATABASE_URL is unset."""

import getpass
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from geo import cluster
from geo.settings import PROJECT_ROOT, Settings


@pytest.fixture
def scratch_home() -> Iterator[Settings]:
    # Under the project, not /tmp: the postgres user must be able to reach the directory.
    home = PROJECT_ROOT / ".daofu" / "test-cluster"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home, database_url=None)
    yield settings
    cluster.stop(settings)
    shutil.rmtree(home, ignore_errors=True)


def postgis_version(config: cluster.ClusterConfig) -> str:
    conninfo = config.url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        row = conn.execute("SELECT postgis_lib_version()").fetchone()
    assert row is not None
    return str(row[0])


def test_cluster_is_created_started_idempotently_and_stopped(scratch_home: Settings) -> None:
    config = cluster.ensure_running(scratch_home)
    assert cluster.is_running(scratch_home)
    assert postgis_version(config).startswith("3.")
    again = cluster.ensure_running(scratch_home)  # a second `daofu db up` changes nothing
    assert again == config

    secrets_file = scratch_home.home / "cluster.json"
    assert secrets_file.stat().st_mode & 0o077 == 0  # the generated password is private

    assert cluster.stop(scratch_home) is True
    assert not cluster.is_running(scratch_home)
    assert cluster.stop(scratch_home) is False

    restarted = cluster.ensure_running(scratch_home)  # data survives a restart
    assert restarted.password == config.password
    assert postgis_version(restarted).startswith("3.")


def test_wrong_password_is_refused(scratch_home: Settings) -> None:
    config = cluster.ensure_running(scratch_home)
    wrong = cluster.ClusterConfig(port=config.port, password="not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(wrong.url().replace("postgresql+psycopg://", "postgresql://"))


def test_a_port_taken_meanwhile_moves_the_cluster(scratch_home: Settings) -> None:
    import socket

    config = cluster.ensure_running(scratch_home)
    cluster.stop(scratch_home)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.port))
        squatter.listen()
        moved = cluster.ensure_running(scratch_home)
    assert moved.port != config.port
    assert postgis_version(moved).startswith("3.")


def test_cluster_files_belong_to_the_server_user(scratch_home: Settings) -> None:
    cluster.ensure_running(scratch_home)
    data = Path(scratch_home.home / "pg" / "data")
    # PostgreSQL refuses to run as root: as root the cluster belongs to Debian's postgres user
    expected = "postgres" if os.geteuid() == 0 else getpass.getuser()
    assert data.owner() == expected

"""The `daofu` command, run against the test database."""

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from geo.settings import get_settings
from web.cli import app


@pytest.fixture
def on_test_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DAOFU_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    monkeypatch.delenv("DAOFU_DATABASE_URL")
    get_settings.cache_clear()


def test_data_load_twice_skips_everything_and_prints_counts(on_test_database: str) -> None:
    result = CliRunner().invoke(app, ["data", "load"])
    assert result.exit_code == 0, result.output
    for dataset, rows in (("divisions", "65,570"), ("boundaries", "163"), ("ev_charging", "935")):
        line = next(line for line in result.output.splitlines() if dataset in line)
        assert rows in line and "skipped" in line


def test_db_commands_respect_an_external_database(on_test_database: str) -> None:
    runner = CliRunner()
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and "external database" in " ".join(status.output.split())
    assert "***" in status.output  # the password is never printed
    up = runner.invoke(app, ["db", "up"])
    assert up.exit_code == 0 and "no local cluster" in " ".join(up.output.split())
    migrate = runner.invoke(app, ["db", "migrate"])
    assert migrate.exit_code == 0 and "head" in migrate.output


def test_help_lists_the_subcommands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("db", "data", "serve"):
        assert command in result.output


def test_a_user_mistake_on_the_command_line_is_a_message_not_a_traceback(
    on_test_database: str,
) -> None:
    result = CliRunner().invoke(app, ["roads", "activate", "987654"])
    assert result.exit_code == 1
    assert "no network version 987654" in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)

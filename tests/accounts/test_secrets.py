"""The signing secret: never in the repository, generated once, readable by its owner only."""

from __future__ import annotations

import stat
from pathlib import Path

import accounts.secrets
from accounts.secrets import secret_key
from geo.settings import PROJECT_ROOT, Settings


def test_a_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", secret_key=None)
    key = secret_key(settings)
    path = tmp_path / "home" / "secret_key"
    assert len(bytes.fromhex(key.decode())) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    accounts.secrets._cache.clear()  # as a new process would: read back from the file
    assert secret_key(Settings(home=tmp_path / "home", secret_key=None)) == key


def test_a_configured_secret_wins(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, secret_key="from-the-environment")
    assert secret_key(settings) == b"from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_the_generated_secret_stays_out_of_git() -> None:
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".daofu/" in ignored or ".daofu" in ignored
    assert Settings.model_fields["home"].default == PROJECT_ROOT / ".daofu"

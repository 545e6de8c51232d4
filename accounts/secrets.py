"""The secret key that signs CSRF tokens: from settings, or generated once under ``home``."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from geo.settings import Settings

KEY_FILE_NAME = "secret_key"
_cache: dict[Path, bytes] = {}


def secret_key(settings: Settings) -> bytes:
    """``settings.secret_key``, else ``<home>/secret_key`` (32 random bytes in hex, mode
    0600), created the first time it is needed and read from then on."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.home / KEY_FILE_NAME
    if path not in _cache:
        _cache[path] = _read_or_create(path)
    return _cache[path]


def _read_or_create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two processes starting at once cannot both write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_existing(path)
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key.encode()


def _read_existing(path: Path) -> bytes:
    for _ in range(50):  # another process may have created it and not written it yet
        key = path.read_text().strip()
        if key:
            return key.encode()
        time.sleep(0.02)
    raise RuntimeError(f"{path} is empty: delete it so a new key is generated")

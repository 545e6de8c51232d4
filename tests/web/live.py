"""A live daofu server for browser tests: a committed database and uvicorn in a subprocess.

The usual ``session`` fixture is a transaction that is rolled back, which a separate
server process cannot see. Here a scratch database of this test run (named after the
process id, like tests/conftest.py's) is migrated, loaded with every dataset and the
real Nanjing extract, committed, and served by ``uvicorn web.app:app`` on a free port
with ``DAOFU_DATABASE_URL`` pointing at it. See tests/web/conftest.py for the fixtures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from geo.settings import PROJECT_ROOT, get_settings
from routing.service import import_network
from tests.conftest import NANJING_PBF, scratch_database
from tests.conftest import fill_database as fill_all

SCREENSHOTS = PROJECT_ROOT / ".daofu" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@dataclass
class LiveServer:
    """A running app: ``url`` like ``http://127.0.0.1:PORT`` (no trailing slash)."""

    url: str
    database_url: str
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def wait_until_ready(self, timeout_s: float = 90.0) -> None:
        """Until the app answers from its database (its first import takes a few seconds)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the live server exited: {self.log.read_text(errors='replace')}"
                )
            try:
                if httpx.get(f"{self.url}/api/regions/320100", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the live server did not answer within {timeout_s} s (log: {self.log})")


def fill_database(url: str, prepare: Callable[[Session], object] | None = None) -> None:
    """Migrate ``url`` and commit every dataset, the Nanjing network and ``prepare``'s rows."""

    def roads_and_more(session: Session) -> None:
        import_network(session, NANJING_PBF)
        if prepare is not None:
            prepare(session)

    fill_all(url, prepare=roads_and_more)


def committed_database(suffix: str, prepare: Callable[[Session], object] | None = None) -> str:
    """A scratch database of this run, filled by :func:`fill_database`; returns its URL.

    Drop it with ``tests.conftest.drop_database`` when done.
    """
    url = scratch_database(suffix)
    fill_database(url, prepare)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    database_url: str, env: dict[str, str] | None = None, *, wait: bool = True
) -> Iterator[LiveServer]:
    """Serve the app from ``database_url`` until the block ends; ``env`` adds DAOFU_* settings.

    ``wait=False`` returns at once: the app imports (seconds) while the caller fills the
    database, then calls :meth:`LiveServer.wait_until_ready`. The app touches the
    database only when asked.
    """
    port = free_port()
    log = get_settings().home / "logs" / f"live-server-{os.getpid()}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "DAOFU_DATABASE_URL": database_url, **(env or {})}
    command = [sys.executable, "-m", "uvicorn", "web.app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        server = LiveServer(f"http://127.0.0.1:{port}", database_url, log, process)
        try:
            if wait:
                server.wait_until_ready()
            yield server
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@dataclass
class Recorder:
    """What a page did: every request URL, console errors and uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Answers with a status of 400 or more: ``STATUS URL``."""


def assert_offline_and_clean(
    recorder: Recorder, server: LiveServer, expected_failures: int = 0
) -> None:
    """Every request went to the app itself (no CDN, no tiles), and nothing failed.

    ``expected_failures``: answers >= 400 the test asked for (e.g. a 404 page), each of
    which the browser also logs as a console error.
    """
    foreign = [u for u in recorder.requests if not u.startswith(server.url + "/")]
    assert not foreign, f"requests to other hosts: {foreign}"
    assert len(recorder.failed) == expected_failures, f"failed requests: {recorder.failed}"
    errors = [e for e in recorder.errors if not e.startswith("Failed to load resource")]
    assert not errors, f"console errors / CSP violations: {recorder.errors}"


def record(page: Any) -> Recorder:
    """Start recording what ``page`` requests and logs."""
    recorder = Recorder()
    page.on("request", lambda request: recorder.requests.append(request.url))
    page.on(
        "response",
        lambda r: recorder.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on(
        "console",
        lambda message: recorder.errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: recorder.errors.append(f"uncaught: {error}"))
    return recorder

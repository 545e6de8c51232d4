"""The engines a running app serves, swapped atomically when the active versions change.

Requests read ``holder.current`` (a dict replaced as a whole, never mutated), so a
request that started on the old version finishes on it while the next one
already sees the new. When a request notices that a city's active version
changed, the new engine is loaded and built in a background thread (with a
session of its own) and the old engine keeps answering until the new one is
ready; only a city with no engine yet (the first request after start) waits for
its load. A failed load leaves the old engine serving and is retried at the
next check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session

from geo.db import session_scope
from routing.engine import Engine
from routing.errors import NoNetwork
from routing.models import NetworkVersion
from routing.network import RoadNetwork
from routing.service import active_versions, city_at, load_network

Loader = Callable[[Session, NetworkVersion], RoadNetwork]
Sessions = Callable[[], AbstractContextManager[Session]]
log = logging.getLogger(__name__)


class EngineHolder:
    """Active version id → engine; checks the database at most every ``check_interval_s``.

    ``sessions`` opens the session a background load reads with (by default a
    new session of the app's database); ``engine_options`` go to :class:`Engine`.
    """

    def __init__(
        self,
        check_interval_s: float = 2.0,
        loader: Loader = load_network,
        sessions: Sessions = session_scope,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        self.check_interval_s = check_interval_s
        self.loader = loader
        self.sessions = sessions
        self.engine_options = engine_options or {}
        self.current: dict[str, Engine] = {}
        self.last_error: BaseException | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._loading: dict[str, tuple[int, threading.Thread]] = {}

    def _build(self, session: Session, version: NetworkVersion) -> Engine:
        return Engine(self.loader(session, version), **self.engine_options)

    def _swap(self, city: str, engine: Engine) -> None:
        with self._lock:
            current = dict(self.current)
            current[city] = engine
            self.current = current

    def _load_in_background(self, version: NetworkVersion) -> None:
        city, version_id = version.city_code, version.id

        def run() -> None:
            try:
                with self.sessions() as session:
                    fresh = session.get(NetworkVersion, version_id)
                    if fresh is None:
                        return
                    engine = self._build(session, fresh)
                self._swap(city, engine)
            except Exception as exc:  # keep serving the old engine; retried at the next check
                log.exception("loading road network version %s failed", version_id)
                self.last_error = exc
            finally:
                with self._lock:
                    if self._loading.get(city, (None,))[0] == version_id:
                        del self._loading[city]

        thread = threading.Thread(target=run, name=f"road-network-{version_id}", daemon=True)
        self._loading[city] = (version_id, thread)
        thread.start()

    def refresh(self, session: Session, force: bool = False) -> dict[str, Engine]:
        """Swap in engines of newly active versions; returns the map requests should use now."""
        if not force and time.monotonic() - self._checked_at < self.check_interval_s:
            return self.current
        active = {v.city_code: v for v in active_versions(session)}
        self._checked_at = time.monotonic()
        current = self.current
        if set(current) == set(active) and all(
            current[c].network.version_id == v.id for c, v in active.items()
        ):
            return current
        missing = [v for c, v in active.items() if c not in current]
        for version in missing:  # nothing to serve meanwhile: this request waits for the load
            self._swap(version.city_code, self._build(session, version))
        with self._lock:
            for city, version in active.items():
                engine = self.current[city]
                loading = self._loading.get(city)
                if engine.network.version_id != version.id and (
                    loading is None or loading[0] != version.id
                ):
                    self._load_in_background(version)
            gone = set(self.current) - set(active)
            if gone:
                self.current = {c: e for c, e in self.current.items() if c not in gone}
            return self.current

    def wait(self, timeout_s: float = 60.0) -> None:
        """Wait for the background loads under way (tests, and a clean shutdown)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                threads = [t for _, t in self._loading.values()]
            if not threads:
                return
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return

    def engine_at(self, session: Session, lon: float, lat: float) -> Engine:
        """The engine whose network covers the point (its extent grown by the snap radius)."""
        for engine in self.refresh(session).values():
            west, south, east, north = engine.network.extent
            margin_lon = engine.snap_radius_m / engine.kx
            margin_lat = engine.snap_radius_m / engine.ky
            if (
                west - margin_lon <= lon <= east + margin_lon
                and south - margin_lat <= lat <= north + margin_lat
            ):
                return engine
        city = city_at(session, lon, lat)
        where = (
            f"城市 {city} 没有路网 / city {city} has no road network."
            if city
            else (
                f"({lon:.5f}, {lat:.5f}) 附近没有路网 / "
                f"no road network covers ({lon:.5f}, {lat:.5f})."
            )
        )
        raise NoNetwork(where, city)


_default: EngineHolder | None = None


def default_holder() -> EngineHolder:
    """The process's holder (the API's dependency; tests override it)."""
    global _default
    if _default is None:
        _default = EngineHolder()
    return _default

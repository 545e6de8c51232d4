"""The engines a running app serves, swapped atomically when the active versions change.

Requests read ``holder.current`` (a dict replaced as a whole, never mutated), so a
request that started on the old version finishes on it while the next one
already sees the new; a failed load leaves the old engines serving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from routing.engine import Engine
from routing.errors import NoNetwork
from routing.models import NetworkVersion
from routing.network import RoadNetwork
from routing.service import active_versions, city_at, load_network

Loader = Callable[[Session, NetworkVersion], RoadNetwork]


class EngineHolder:
    """Active version id → engine; checks the database at most every ``check_interval_s``."""

    def __init__(self, check_interval_s: float = 2.0, loader: Loader = load_network) -> None:
        self.check_interval_s = check_interval_s
        self.loader = loader
        self.current: dict[str, Engine] = {}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, session: Session, force: bool = False) -> dict[str, Engine]:
        """Load engines for newly active versions and swap them in; returns the current map."""
        if not force and time.monotonic() - self._checked_at < self.check_interval_s:
            return self.current
        active = {v.city_code: v for v in active_versions(session)}
        if all(
            c in self.current and self.current[c].network.version_id == v.id
            for c, v in active.items()
        ) and (set(self.current) == set(active)):
            self._checked_at = time.monotonic()
            return self.current
        with self._lock:  # one loader at a time; others keep serving the old map meanwhile
            current = dict(self.current)
            for city, version in active.items():
                engine = current.get(city)
                if engine is None or engine.network.version_id != version.id:
                    current[city] = Engine(self.loader(session, version))
            for city in set(current) - set(active):
                del current[city]
            self.current = current
            self._checked_at = time.monotonic()
        return current

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

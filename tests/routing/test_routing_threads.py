"""The engine is shared by the web server's threads: answers must not depend on the thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sqlalchemy.orm import Session

from routing import service
from routing.engine import Engine
from routing.errors import Unreachable
from routing.models import NetworkVersion
from routing.profiles import Mode


def test_routes_from_many_threads_equal_the_single_threaded_answers(
    routing_session: Session, nanjing: NetworkVersion
) -> None:
    engine = Engine(service.load_network(routing_session, nanjing))
    rng = np.random.default_rng(3)
    west, south, east, north = engine.network.extent
    points = [
        (float(x), float(y))
        for x, y in zip(
            rng.uniform(west + 0.003, east - 0.003, 60),
            rng.uniform(south + 0.003, north - 0.003, 60),
            strict=True,
        )
    ]
    snaps = [engine.snap(*p, Mode.drive) for p in points]
    pairs = [(snaps[i], snaps[-1 - i]) for i in range(30)]

    def duration(pair: tuple[object, object]) -> float | None:
        try:
            return engine.route(pair[0], pair[1], Mode.drive).duration_s  # type: ignore[arg-type]
        except Unreachable:
            return None

    alone = [duration(p) for p in pairs]
    with ThreadPoolExecutor(max_workers=8) as pool:  # as uvicorn's worker threads do
        together = list(pool.map(duration, pairs * 4))
    assert together == alone * 4
    assert sum(d is not None for d in alone) > 20

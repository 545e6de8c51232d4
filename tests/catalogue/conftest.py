"""Fixtures of the catalogue tests that need the real Nanjing road network.

``nanjing``: the real Nanjing extract imported into the test's rolled-back transaction
(as tests/routing/conftest.py does); ``holder``: a fresh engine holder that sees it;
``nanjing_client``: the web app served from that session and holder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from geo.db import request_session
from geo.settings import PROJECT_ROOT
from routing import api as routing_api
from routing import service
from routing.holder import EngineHolder
from routing.models import NetworkVersion

NANJING_PBF = PROJECT_ROOT / "data" / "roads" / "nanjing_xinjiekou_highways.osm.pbf"


@pytest.fixture
def nanjing(session: Session) -> NetworkVersion:
    return service.import_network(session, NANJING_PBF)


@pytest.fixture
def holder(nanjing: NetworkVersion) -> EngineHolder:
    return EngineHolder(check_interval_s=0)


@pytest.fixture
def nanjing_client(session: Session, holder: EngineHolder) -> Iterator[TestClient]:
    """The whole web app, served from the test session with the Nanjing network active."""
    from web.app import create_app

    app = create_app()
    app.dependency_overrides[request_session] = lambda: session
    app.dependency_overrides[routing_api.get_holder] = lambda: holder
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client

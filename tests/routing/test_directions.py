"""Directions as text (routing/directions.py) on the real Nanjing extract and the demo sites."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from geo.models import Site, SiteStatus
from routing.directions import (
    SiteRetired,
    duration_text,
    site_directions,
    steps_text,
    straight_line_m,
)
from routing.errors import OutsideNetwork
from routing.holder import EngineHolder
from routing.models import NetworkVersion
from routing.profiles import Mode
from routing.steps import distance_text

XINJIEKOU = (118.7787, 32.0426)
QUANCHENG_SQUARE = (117.0009, 36.6758)  # Jinan: no road network in the tests
JIANGNING = (118.8400, 31.9530)  # Nanjing, far outside the 新街口 extract
URL = "http://testserver/sites/1"


@pytest.fixture
def holder(nanjing: NetworkVersion) -> EngineHolder:
    return EngineHolder(check_interval_s=0)


def nearest_site(session: Session, point: tuple[float, float], region_prefix: str) -> Site:
    origin = func.ST_SetSRID(func.ST_MakePoint(*point), 4326)
    site = session.scalars(
        select(Site)
        .where(
            Site.region_code.startswith(region_prefix),
            Site.status == SiteStatus.published,
            Site.kind == "hall",
        )
        .order_by(func.ST_Distance(Site.geom, origin))
        .limit(1)
    ).first()
    assert site is not None
    return site


def test_a_routed_answer_reads_like_the_example(
    routing_session: Session, holder: EngineHolder
) -> None:
    site = nearest_site(routing_session, (118.7800, 32.0480), "3201")
    answer = site_directions(
        routing_session, holder, site, XINJIEKOU, Mode.walk, URL, "今天 09:00–17:00 开放"
    )
    assert not answer.estimate and answer.route is not None and answer.note is None
    assert answer.duration_s is not None and answer.duration_s > 0
    minutes = max(1, round(answer.duration_s / 60))
    head = (
        f"从出发点步行约{minutes}分钟（{distance_text(answer.distance_m)}）到达{site.name}"
        f"（地址{site.address}，电话{site.phone}，今天 09:00–17:00 开放，示例数据）："
    )
    assert answer.text.startswith(head), answer.text
    assert answer.text.endswith(f"。详情：{URL}")
    first_step = answer.route.steps[0].instruction
    assert first_step.startswith("沿") and first_step in answer.text
    # the road distance is at least the straight line
    assert answer.distance_m >= answer.straight_line_m - 1


def test_driving_says_so(routing_session: Session, holder: EngineHolder) -> None:
    site = nearest_site(routing_session, (118.7700, 32.0425), "3201")
    answer = site_directions(routing_session, holder, site, XINJIEKOU, Mode.drive, URL)
    assert answer.text.startswith("从出发点驾车约") and "行驶" in answer.text
    assert "今天" not in answer.text  # no hours given, none made up


def test_no_network_in_the_city_gives_an_honest_estimate(
    routing_session: Session, holder: EngineHolder
) -> None:
    site = nearest_site(routing_session, QUANCHENG_SQUARE, "3701")
    answer = site_directions(routing_session, holder, site, QUANCHENG_SQUARE, Mode.walk, URL)
    assert answer.estimate and answer.duration_s is None and answer.route is None
    assert answer.distance_m == pytest.approx(
        straight_line_m(QUANCHENG_SQUARE, site_point(site)), rel=1e-9
    )
    assert "直线距离约" in answer.text and "估算" in answer.text
    assert "尚未导入路网" in answer.text and answer.note and "尚未导入路网" in answer.note
    assert not re.search(r"\d+分钟", answer.text), "no travel time without a road network"
    assert answer.text.endswith(f"详情：{URL}")


def test_a_start_outside_the_imported_extract_is_an_estimate_too(
    routing_session: Session, holder: EngineHolder
) -> None:
    site = nearest_site(routing_session, XINJIEKOU, "3201")
    answer = site_directions(routing_session, holder, site, JIANGNING, Mode.walk, URL)
    assert answer.estimate and answer.duration_s is None
    assert answer.note is not None and "出发点不在已导入的路网范围内" in answer.note


def test_a_start_off_the_roads_of_the_extract_is_the_callers_mistake(
    routing_session: Session, holder: EngineHolder
) -> None:
    """Inside the network's extent but beyond the snapping radius: 422 like /api/route."""
    engine = holder.engine_at(routing_session, *XINJIEKOU)
    west, south, east, north = engine.network.extent
    site = nearest_site(routing_session, XINJIEKOU, "3201")
    # a point just inside the extent's corner may still be near a road: find one that is not
    for lon, lat in ((west, south), (west, north), (east, south), (east, north)):
        try:
            engine.snap(lon, lat, Mode.walk, "from")
        except OutsideNetwork:
            with pytest.raises(OutsideNetwork):
                site_directions(routing_session, holder, site, (lon, lat), Mode.walk, URL)
            return
    pytest.skip("every corner of the extract lies near a road")


def test_a_retired_site_gets_no_directions(routing_session: Session, holder: EngineHolder) -> None:
    site = nearest_site(routing_session, XINJIEKOU, "3201")
    site.status = SiteStatus.retired
    routing_session.flush()
    with pytest.raises(SiteRetired) as raised:
        site_directions(routing_session, holder, site, XINJIEKOU, Mode.walk, URL)
    assert raised.value.status == 409 and site.name in raised.value.message


def test_durations_and_steps_are_short() -> None:
    assert duration_text(20) == "1分钟"
    assert duration_text(12 * 60 + 10) == "12分钟"
    assert duration_text(3600) == "1小时"
    assert duration_text(3900) == "1小时5分钟"


def test_only_the_first_steps_are_quoted(routing_session: Session, holder: EngineHolder) -> None:
    site = nearest_site(routing_session, (118.7700, 32.0550), "3201")
    answer = site_directions(routing_session, holder, site, (118.7950, 32.0320), Mode.walk, URL)
    assert answer.route is not None
    instructions = [s.instruction for s in answer.route.steps if s.maneuver != "arrive"]
    text = steps_text(answer.route, max_steps=2)
    assert text.startswith(instructions[0])
    if len(instructions) > 2:
        assert text.endswith("……") and instructions[2] not in text


def site_point(site: Site) -> tuple[float, float]:
    from geoalchemy2.shape import to_shape

    point = to_shape(site.geom)
    return (point.x, point.y)

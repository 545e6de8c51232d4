"""Directions for people: a short Chinese text from a start to a site, with a link.

For agents (导服人员) who attach "how to get there" to a reply, and for the site page:
"从出发点步行约12分钟（850米）到达历下区政务服务中心（地址…，电话…，今天 09:00–17:00
开放）：沿经十路向东步行300米，左转进入…。详情：http://…/sites/123".

Where no road network covers the start (a city whose OSM extract is not imported),
the text gives the straight-line distance and says it is an estimate — never a
travel time. A start off the roads of a covered city is the caller's mistake
(:class:`~routing.errors.OutsideNetwork`, 422, as for ``/api/route``); a retired site
gets :class:`SiteRetired` (409): directions to a hall that no longer serves would
send people to a closed door.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoalchemy2.shape import to_shape
from pyproj import Geod
from sqlalchemy.orm import Session

from geo.errors import DaofuError
from geo.models import Site, SiteStatus
from routing.engine import Engine, Route
from routing.errors import NoNetwork, OutsideNetwork
from routing.holder import EngineHolder
from routing.profiles import Mode
from routing.steps import distance_text

LonLat = tuple[float, float]
MAX_STEPS = 4
"""Steps quoted in the text; the rest is "…" (the link has them all)."""
_GEOD = Geod(ellps="WGS84")
VERBS = {Mode.walk: "步行", Mode.drive: "驾车"}


class SiteRetired(DaofuError):
    """The site no longer serves the public: no directions to a closed door."""

    code = "site_retired"
    status = 409
    title = "场所已停用 Site retired"


@dataclass(frozen=True)
class SiteDirections:
    """The text and the numbers behind it; ``route`` is None for an estimate."""

    text: str
    url: str
    mode: Mode
    estimate: bool
    duration_s: float | None
    """None for an estimate: no travel time is made up without a road network."""
    distance_m: float
    """Along the route, or the straight line for an estimate."""
    straight_line_m: float
    note: str | None
    """Why the answer is an estimate."""
    route: Route | None
    engine: Engine | None


def straight_line_m(a: LonLat, b: LonLat) -> float:
    """Geodesic distance on WGS-84, in metres."""
    return float(_GEOD.inv(a[0], a[1], b[0], b[1])[2])


def duration_text(duration_s: float) -> str:
    minutes = max(1, round(duration_s / 60))
    if minutes < 60:
        return f"{minutes}分钟"
    hours, rest = divmod(minutes, 60)
    return f"{hours}小时{rest}分钟" if rest else f"{hours}小时"


def site_facts(site: Site, hours_today: str | None) -> str:
    """地址…，电话…，今天 09:00–17:00 开放 (what is known of it)."""
    facts = []
    if site.address:
        facts.append(f"地址{site.address}")
    if site.phone:
        facts.append(f"电话{site.phone}")
    if hours_today:
        facts.append(hours_today)
    if site.demo:
        facts.append("示例数据")
    return "，".join(facts)


def steps_text(route: Route, max_steps: int = MAX_STEPS) -> str:
    instructions = [s.instruction for s in route.steps if s.maneuver != "arrive"]
    text = "；".join(instructions[:max_steps])
    return text + ("；……" if len(instructions) > max_steps else "")


def routed_text(site: Site, route: Route, mode: Mode, hours_today: str | None, url: str) -> str:
    facts = site_facts(site, hours_today)
    head = (
        f"从出发点{VERBS[mode]}约{duration_text(route.duration_s)}"
        f"（{distance_text(route.distance_m)}）到达{site.name}"
    )
    head += f"（{facts}）" if facts else ""
    steps = steps_text(route)
    return f"{head}：{steps}。详情：{url}" if steps else f"{head}。详情：{url}"


def estimate_text(
    site: Site, distance_m: float, note: str, hours_today: str | None, url: str
) -> str:
    facts = site_facts(site, hours_today)
    text = f"从出发点到{site.name}直线距离约{distance_text(distance_m)}（估算：{note}）"
    text += f"。{site.name}：{facts}" if facts else ""
    return f"{text}。详情：{url}"


def _estimate_reason(holder: EngineHolder, error: NoNetwork) -> str:
    city = error.detail.get("city_code")
    if isinstance(city, str) and city in holder.current:
        return "出发点不在已导入的路网范围内，无法计算路线和用时"
    return "该城市尚未导入路网，无法计算路线和用时"


def site_directions(
    session: Session,
    holder: EngineHolder,
    site: Site,
    origin: LonLat,
    mode: Mode,
    url: str,
    hours_today: str | None = None,
) -> SiteDirections:
    """Directions from ``origin`` (WGS-84) to ``site`` in ``mode``, as text and numbers.

    ``hours_today``: a phrase for the site's hours today (e.g. 今天 09:00–17:00 开放),
    which the caller evaluates with the holiday calendar; ``url``: the site's page.
    Raises :class:`SiteRetired`, :class:`~routing.errors.OutsideNetwork` (start off the
    roads of a covered city) and :class:`~routing.errors.Unreachable`.
    """
    if site.status == SiteStatus.retired:
        raise SiteRetired(
            f"{site.name} 已停止服务，请选择其他场所 / the site no longer serves the public",
            id=site.id,
        )
    point = to_shape(site.geom)
    target = (float(point.x), float(point.y))
    straight = straight_line_m(origin, target)

    def estimate(note: str, engine: Engine | None = None) -> SiteDirections:
        text = estimate_text(site, straight, note, hours_today, url)
        return SiteDirections(text, url, mode, True, None, straight, straight, note, None, engine)

    try:
        engine = holder.engine_at(session, *origin)
    except NoNetwork as no_network:
        return estimate(_estimate_reason(holder, no_network))
    start = engine.snap(*origin, mode, "from")
    try:
        end = engine.snap(*target, mode, "site")
    except OutsideNetwork:
        return estimate("目的地不在已导入的路网范围内，无法计算路线和用时", engine)
    route = engine.route(start, end, mode)
    text = routed_text(site, route, mode, hours_today, url)
    return SiteDirections(
        text, url, mode, False, route.duration_s, route.distance_m, straight, None, route, engine
    )

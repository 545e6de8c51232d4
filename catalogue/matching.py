"""Matching: from an item to the sites that handle it, open when the citizen arrives.

With a road network for the origin, one bounded one-to-many search from the
origin gives every candidate's travel time; arrival times are checked against
each site's hours (holidays and 调休 included), and the sites are ordered by
when the citizen can be served: arrival, or opening time if that is later.
Without a network (Jinan until its OSM extract is imported) the answer is
ordered by straight-line distance, every result marked as an estimate, and no
travel time is invented.

A warm request asks the database nothing: the published sites (snapped once per
mode), each item's handling sites and windows, the items and the region names are
cached per process. At most every :data:`CACHE_CHECK_S` one cheap query asks whether
anything was written since the caches were validated (the transaction snapshot); only
then are the tables' fingerprints compared and what changed dropped.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
from geoalchemy2 import Geography
from numpy.typing import NDArray
from pyproj import Geod
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import Row, cast, func, select, text
from sqlalchemy.orm import Session

from catalogue import service
from catalogue.calendar import HolidayCalendar
from catalogue.hours import OpenPeriods, next_open, open_state, today_hours
from catalogue.models import SiteItem
from catalogue.service import ItemCard, sites_handling
from catalogue.site_grid import SiteGrid, smallest
from geo.coords import CRS
from geo.features import SITE_COLUMNS, site_feature, site_properties
from geo.features import region_names as load_region_names
from geo.models import Site, SiteKind, SiteStatus
from geo.service import region_at
from routing.engine import Engine, Route, Snap, Snaps
from routing.errors import NoNetwork
from routing.holder import EngineHolder
from routing.profiles import Mode

log = logging.getLogger(__name__)
LonLat = tuple[float, float]
NEARBY_LEFT_OUT = 10
STRAIGHT_LINE_RANGE_M = 60_000.0
_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class MatchRequest:
    origin: LonLat
    depart_at: datetime
    mode: Mode
    k: int = 5
    max_minutes: float = 60.0
    max_wait_minutes: float = 120.0
    service_minutes: float = 15.0
    """Time needed at the window: a hall closing sooner after arrival does not count as open."""


class ItemLike(Protocol):
    """An item as matching needs it: its code (an ``Item`` row or a cached :class:`ItemCard`)."""

    @property
    def code(self) -> str: ...


@dataclass(frozen=True)
class SiteCard:
    """What answers show of a site, kept with the site index so a request loads no row."""

    id: int
    name: str
    kind: SiteKind
    opening_hours: str | None
    region_code: str
    lon: float
    lat: float
    feature: dict[str, Any]
    """The site as a GeoJSON Feature in WGS-84, without region name and distance."""

    @classmethod
    def of(cls, site: Site) -> SiteCard:
        feature = site_feature(site, None, CRS.wgs84).model_dump()
        lon, lat = feature["geometry"]["coordinates"]
        return cls(site.id, site.name, site.kind, site.opening_hours, site.region_code,
                   float(lon), float(lat), feature)  # fmt: skip


@dataclass
class Candidate:
    """A site considered for the answer; ``reason`` says why it was left out, if it was."""

    distance_m: float
    position: int = -1
    """Index in the :class:`SiteIndex` (routed answers)."""
    site: SiteCard | None = None
    window: str | None = None
    """Where in the site the item is handled (its link's window)."""
    duration_s: float | None = None
    arrive_at: datetime | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    ready_at: datetime | None = None
    open_on_arrival: bool | None = None
    open_now: bool | None = None
    hours_today: str | None = None
    route: Route | None = None
    target: Snap | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass
class Exclusion:
    site: SiteCard
    distance_m: float
    reason: str
    detail: str


@dataclass
class MatchOutcome:
    item: ItemLike
    request: MatchRequest
    routed: bool
    reason: str | None
    engine: Engine | None
    results: list[Candidate] = field(default_factory=list)
    left_out: list[Exclusion] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def match_item(
    session: Session,
    holder: EngineHolder,
    calendar: HolidayCalendar,
    item: ItemLike,
    request: MatchRequest,
) -> MatchOutcome:
    """Sites handling ``item`` ordered by when the citizen can be served there."""
    try:
        engine = engine_for(session, holder, request.origin, request.mode)
    except NoNetwork as no_network:
        return _straight_line(session, calendar, item, request, no_network)
    return _routed(session, engine, calendar, item, request)


def resolve_item(session: Session, item: str) -> tuple[ItemCard, list[ItemCard]]:
    """:func:`catalogue.service.resolve_item` from the cached items (no row loaded)."""
    return service.resolve_item_card(session, item, _item_cards(session))


def engine_for(session: Session, holder: EngineHolder, origin: LonLat, mode: Mode) -> Engine:
    """The engine covering ``origin``. :class:`NoNetwork` only where the city has no network:
    a point off the network of a city that has one is :class:`OutsideNetwork` (field ``from``),
    not a reason to fall back to straight lines saying the city has no roads."""
    try:
        return holder.engine_at(session, *origin)
    except NoNetwork as no_network:
        city = no_network.detail.get("city_code")
        covering = holder.current.get(city) if isinstance(city, str) else None
        if covering is not None:
            covering.snap(*origin, mode, "from")  # raises OutsideNetwork with the distance
        raise


def _with_distance(
    session: Session, origin: LonLat, *clauses: object, limit: int
) -> list[tuple[Site, float]]:
    point = cast(func.ST_SetSRID(func.ST_MakePoint(*origin), 4326), Geography)
    geog = cast(Site.geom, Geography)
    distance = func.ST_Distance(geog, point)
    rows = session.execute(
        select(Site, distance)
        .where(Site.status == SiteStatus.published, *clauses)  # type: ignore[arg-type]
        .order_by(distance, Site.id)
        .limit(limit)
    ).all()
    return [(site, float(d)) for site, d in rows]


def _routed(
    session: Session, engine: Engine, calendar: HolidayCalendar, item: ItemLike,
    request: MatchRequest,
) -> MatchOutcome:  # fmt: skip
    outcome = MatchOutcome(item, request, routed=True, reason=None, engine=engine)
    origin = engine.snap(*request.origin, request.mode, "from")
    index = site_index(session, engine)
    links = _all_links(session)
    handled = links.handling(item.code)
    handling = handled.positions_in(index)
    horizon = timedelta(minutes=request.max_minutes + request.max_wait_minutes)
    clock = _Clock(calendar, request.depart_at, request.depart_at + horizon,
                   round(request.service_minutes * 60_000), outcome.warnings)  # fmt: skip
    targets = handled.targets_in(index, engine, request.mode)
    reached = _search(engine, origin, index, handling, targets, clock, request)
    chosen = [
        _candidate(index, p, reached.get(p), request, calendar)
        for p in reached.served(request.k, index.site_ids)
    ]
    nearby = _nearby(index, handling, chosen, reached, engine, origin, clock, request, calendar)
    for c in chosen:
        c.site = index.card(c.position)
        c.window = links.window(handled, c.site.id)
        assert c.arrive_at is not None and c.target is not None
        c.hours_today = today_hours(c.site.opening_hours or "24/7", c.arrive_at.date(), calendar)
    routes = engine.routes(origin, [c.target for c in chosen if c.target], request.mode)
    for c, route in zip(chosen, routes, strict=True):
        c.route = route
    outcome.results = chosen
    outcome.left_out = [
        Exclusion(index.card(c.position), c.distance_m, c.reason or "", c.detail or "")
        for c in nearby
    ]
    return outcome


# -- caches and their freshness ----------------------------------------------------------------

CACHE_CHECK_S = 2.0
"""How long the cached sites, item → sites lists, windows, items and region names are
trusted before the database is asked again: a site published by a maintainer is matched
at most this much later."""

_SNAPSHOT = text("SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned() IS NOT NULL")
_FINGERPRINTS = text(
    "SELECT pg_current_snapshot()::text, "
    "(SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || "
    " coalesce(max(updated_at)::text, '') FROM sites WHERE status = 'published'), "
    "(SELECT count(*) || ':' || coalesce(sum(hashtext("
    "  item_code || ':' || coalesce(\"window\", ''))::bigint * site_id), 0) FROM site_items), "
    "(SELECT count(*) || ':' || coalesce(md5(string_agg(concat_ws(':', code, name, department,"
    "  category, sample_content::text), ',' ORDER BY code)), '') FROM items)"
)


@dataclass
class _Watch:
    """When the caches were last validated, and the fingerprints they were validated with.

    ``snapshot`` is the transaction snapshot the fingerprints were taken in: while a new
    snapshot is identical, no transaction has committed since, so nothing can differ and
    the fingerprints (a scan of the links) need not be taken again.
    """

    checked_at: float = float("-inf")
    snapshot: str | None = None
    sites: str = ""
    links: str = ""
    items: str = ""
    names_generation: int = 0


_watch = _Watch()
_lock = threading.Lock()


CHECK_AHEAD_S = 0.5
"""A check starts in a background thread this long before the caches expire, so the
requests of an async server do not wait for it (scanning the links takes ~0.1 s)."""
_checking = threading.Lock()


def _check(session: Session) -> None:
    """Drop what may have changed; asks the database at most every :data:`CACHE_CHECK_S`."""
    age = time.monotonic() - _watch.checked_at
    if age < CACHE_CHECK_S - CHECK_AHEAD_S:
        return
    if age < CACHE_CHECK_S and _check_in_background(session):
        return
    _check_now(session)


def _check_in_background(session: Session) -> bool:
    """Start (or keep) a check on a session of its own; False where there can be none
    (a session bound to one connection, as tests have: their changes are its own)."""
    bind = session.get_bind()
    if not isinstance(bind, SqlEngine):
        return False
    if _checking.acquire(blocking=False):

        def run() -> None:
            try:
                with Session(bind) as own:
                    _check_now(own)
            except Exception:  # the next request checks in line and raises what is wrong
                log.exception("checking the matching caches failed")
            finally:
                _checking.release()

        threading.Thread(target=run, name="matching-check", daemon=True).start()
    return True


def _check_now(session: Session) -> None:
    started = time.monotonic()
    snapshot, writing = session.execute(_SNAPSHOT).one()
    changed = writing or snapshot != _watch.snapshot
    if changed:
        taken_in, sites, links, items = session.execute(_FINGERPRINTS).one()
    with _lock:
        if started < _watch.checked_at:
            return  # a check that began later has already been applied
        if changed:
            _region_names.clear()
            _watch.names_generation += 1
            _watch.links = links
            if items != _watch.items:
                _items_cache.clear()
                _watch.items = items
            _watch.sites = sites
            # inside a transaction that writes, its own changes are not in the snapshot
            _watch.snapshot = None if writing else taken_in
        _watch.checked_at = max(_watch.checked_at, started)


_items_cache: dict[str, dict[str, ItemCard]] = {}


def _item_cards(session: Session) -> dict[str, ItemCard]:
    """Every item's card by code, loaded once and again when the items change."""
    _check(session)
    fingerprint = _watch.items
    cards = _items_cache.get(fingerprint)
    if cards is None:
        cards = service.item_cards(session)
        with _lock:
            if _watch.items == fingerprint:
                _items_cache[fingerprint] = cards
    return cards


_region_names: dict[str, str | None] = {}


def region_names(session: Session, codes: Iterable[str | None]) -> dict[str, str]:
    """Region names by code (:func:`geo.features.region_names`), cached until the next write."""
    _check(session)
    generation = _watch.names_generation
    names = {c: _region_names.get(c) for c in codes if c}
    missing = [c for c in names if c not in _region_names]
    if missing:
        found = load_region_names(session, missing)
        names.update({c: found.get(c) for c in missing})
        with _lock:
            if _watch.names_generation == generation:
                _region_names.update({c: found.get(c) for c in missing})
    return {c: n for c, n in names.items() if n is not None}


@dataclass(frozen=True)
class SiteIndex:
    """Published sites within one network, snapped once per mode, as arrays.

    Built on first use and rebuilt when the sites change, so a request touches only
    the arrays and the rows loaded with them, never the database.
    """

    version_id: int
    fingerprint: str
    site_ids: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    exprs: list[str]
    """The distinct opening-hours expressions; ``expr_ids`` points each site at its own."""
    expr_ids: NDArray[np.int32]
    snaps: dict[Mode, Snaps]
    rows: list[Row[Any]] = field(default_factory=list, compare=False)
    """Each site's columns as answers show them (:data:`_CARD_COLUMNS`), by position."""
    cards: dict[int, SiteCard] = field(default_factory=dict, compare=False)
    """Cards by position, made when first shown."""
    grid: SiteGrid = field(init=False, compare=False, repr=False)
    """The sites bucketed by cell, for the nearest left-out sites."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "grid", SiteGrid.of(self.lon, self.lat))

    def positions(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Positions of ``ids`` in the index (ids of sites outside the network dropped)."""
        pos = np.searchsorted(self.site_ids, ids)
        pos = np.minimum(pos, max(len(self.site_ids) - 1, 0))
        found = (self.site_ids[pos] == ids) if len(self.site_ids) else np.zeros(len(ids), bool)
        return np.asarray(pos[found], dtype=np.int64)

    def card(self, position: int) -> SiteCard:
        card = self.cards.get(position)
        if card is None:
            card = self.cards[position] = _card_of_row(self.rows[position])
        return card


_CARD_COLUMNS = (
    Site.id,
    func.ST_X(Site.geom).label("lon"),
    func.ST_Y(Site.geom).label("lat"),
    *SITE_COLUMNS,
)


def _card_of_row(row: Row[Any]) -> SiteCard:
    """:meth:`SiteCard.of` from the index's columns."""
    feature = {
        "type": "Feature",
        "id": row.id,
        "geometry": {"type": "Point", "coordinates": (row.lon, row.lat)},
        "properties": site_properties(row, None),
    }
    return SiteCard(row.id, row.name, row.kind, row.opening_hours, row.region_code, row.lon,
                    row.lat, feature)  # fmt: skip


_indexes: dict[int, SiteIndex] = {}
_index_building = threading.Lock()


def site_index(session: Session, engine: Engine) -> SiteIndex:
    _check(session)
    version = engine.network.version_id
    cached = _indexes.get(version)
    if cached is not None and cached.fingerprint == _watch.sites:
        return cached
    with _index_building:  # one build at a time; the requests waiting for it then share it
        fingerprint = _watch.sites
        cached = _indexes.get(version)
        if cached is not None and cached.fingerprint == fingerprint:
            return cached
        built = _build_index(session, engine, fingerprint)
        with _lock:
            _indexes.clear()  # one network version per city is active; old ones are not needed
            _indexes[version] = built
        _settle_once()
    return built


_settled = threading.Event()


def _settle_once() -> None:
    """Once per process, when the first index is built: move what lives on (the modules,
    the road network, the caches) out of the garbage collector's reach (``gc.freeze``).
    A full collection over those ~500k objects (pypinyin's dictionaries are most of them)
    otherwise stops the server for ~0.25 s every few seconds while the caches fill."""
    if not _settled.is_set():
        _settled.set()
        gc.collect()
        gc.freeze()


def _build_index(session: Session, engine: Engine, fingerprint: str) -> SiteIndex:
    west, south, east, north = engine.network.extent
    rows = list(
        session.execute(
            select(*_CARD_COLUMNS)
            .where(
                Site.status == SiteStatus.published,
                func.ST_Intersects(Site.geom, func.ST_MakeEnvelope(west, south, east, north, 4326)),
            )
            .order_by(Site.id)
        )
    )
    ids = np.array([r.id for r in rows], dtype=np.int64)
    lon = np.array([r.lon for r in rows], dtype=np.float64)
    lat = np.array([r.lat for r in rows], dtype=np.float64)
    hours = [r.opening_hours or "24/7" for r in rows]
    exprs = sorted(set(hours))
    expr_ids = np.array([exprs.index(h) for h in hours], dtype=np.int32)
    snaps = {mode: engine.snap_points(lon, lat, mode) for mode in Mode}
    version = engine.network.version_id
    return SiteIndex(version, fingerprint, ids, lon, lat, exprs, expr_ids, snaps, rows)


_ALL_LINKS = text(
    "SELECT item_code, \"window\", string_agg(int4send(site_id), ''::bytea) "
    'FROM site_items GROUP BY item_code, "window"'
)


@dataclass
class _Handling:
    """The sites that handle one item (ids ascending) and the window of each."""

    ids: NDArray[np.int64]
    window_ids: NDArray[np.int32]
    """Index of each site's window in :attr:`_Links.windows`."""
    _positions: tuple[SiteIndex, NDArray[np.int64]] | None = None
    _targets: dict[tuple[int, Mode], _Targets] = field(default_factory=dict)

    def positions_in(self, index: SiteIndex) -> NDArray[np.int64]:
        """Positions of the handling sites in ``index`` (sites outside it dropped)."""
        known = self._positions
        if known is None or known[0] is not index:
            known = self._positions = (index, index.positions(self.ids))
            self._targets = {}
        return known[1]

    def targets_in(self, index: SiteIndex, engine: Engine, mode: Mode) -> _Targets:
        """The handling sites' snaps in ``index`` and how the search enters them."""
        positions = self.positions_in(index)
        key = (id(engine), mode)
        found = self._targets.get(key)
        if found is None or found.engine is not engine:
            snaps = index.snaps[mode].take(positions)
            found = _Targets(engine, snaps, engine.target_entry_arrays(snaps, mode))
            self._targets[key] = found
        return found


@dataclass(frozen=True)
class _Targets:
    engine: Engine
    snaps: Snaps
    entries: tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.int32]]


@dataclass(frozen=True)
class _Links:
    """Every item's handling sites with their windows: the whole ``site_items`` table,
    fetched as one array per item and window (a few MB even with a million links)."""

    fingerprint: str
    windows: list[str | None]
    items: dict[str, _Handling]

    def handling(self, item_code: str) -> _Handling:
        found = self.items.get(item_code)
        return found if found is not None else _NOBODY

    def window(self, handling: _Handling, site_id: int) -> str | None:
        i = int(np.searchsorted(handling.ids, site_id))
        return self.windows[int(handling.window_ids[i])]


_NOBODY = _Handling(np.zeros(0, np.int64), np.zeros(0, np.int32))
_links: list[_Links] = []
_links_loading = threading.Lock()


def _all_links(session: Session) -> _Links:
    """The cached links, loaded again when they change (one load at a time)."""
    _check(session)
    if _links and _links[0].fingerprint == _watch.links:
        return _links[0]
    with _links_loading:
        fingerprint = _watch.links
        if _links and _links[0].fingerprint == fingerprint:
            return _links[0]
        windows: list[str | None] = []
        parts: dict[str, list[tuple[NDArray[np.int64], int]]] = {}
        for code, window, packed in session.execute(_ALL_LINKS):
            if window not in windows:
                windows.append(window)
            ids = np.frombuffer(packed, dtype=">i4").astype(np.int64)
            parts.setdefault(code, []).append((ids, windows.index(window)))
        items = {}
        for code, groups in parts.items():
            ids = np.concatenate([g for g, _ in groups])
            which = np.concatenate([np.full(len(g), w, np.int32) for g, w in groups])
            order = np.argsort(ids, kind="stable")
            items[code] = _Handling(ids[order], which[order])
        loaded = _Links(fingerprint, windows, items)
        with _lock:
            _links[:] = [loaded]
    return loaded


NEVER = np.int64(2**62)


@dataclass
class _Clock:
    """Opening windows of each hours expression over one request's horizon, for array checks.

    The windows are the open periods :func:`earliest_service` walks through, so
    ``ready`` answers the same question for thousands of arrivals at once.
    """

    calendar: HolidayCalendar
    start: datetime
    end: datetime
    need_ms: int
    warnings: list[str]
    _windows: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = field(default_factory=dict)
    _periods: OpenPeriods = field(init=False)

    def __post_init__(self) -> None:
        self._periods = OpenPeriods(self.calendar, self.start, self.end)

    def windows(self, expr: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if expr not in self._windows:
            found, warning = self._periods.windows(expr)
            if warning and warning not in self.warnings:
                self.warnings.append(warning)
            opens = [o for o, _ in found]
            closes = [int(NEVER) if c is None else c for _, c in found]
            self._windows[expr] = (np.array(opens, np.int64), np.array(closes, np.int64))
        return self._windows[expr]

    def first_ready(self, expr: str, arrive_ms: int) -> int:
        """``ready`` for one arrival (-1: none within the horizon), without walking all of
        the horizon's windows nor collecting warnings: a bound for sites not yet reached."""
        start = self._periods.first_start(expr, arrive_ms, self.need_ms)
        return -1 if start is None else start

    def ready(
        self, expr: str, arrive_ms: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Earliest service start (-1: none within the horizon) and that period's closing."""
        ready = np.full(len(arrive_ms), -1, np.int64)
        closing = np.full(len(arrive_ms), -1, np.int64)
        for o, c in zip(*self.windows(expr), strict=True):
            start = np.maximum(arrive_ms, o)
            fits = (ready < 0) & (c - self.need_ms >= start)
            ready[fits] = start[fits]
            closing[fits] = c
        return ready, closing


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int, like: datetime) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=like.tzinfo)


@dataclass
class _Reached:
    """What the search learnt about one handling site: travel ms (None: not within the
    limit), service start and closing in epoch ms (-1: not served in time)."""

    ms: int | None
    ready_ms: int
    closes_ms: int


@dataclass
class _ReachTable:
    """Everything the search learnt, as arrays sorted by site position."""

    positions: NDArray[np.int64]
    ms: NDArray[np.int64]
    ready_ms: NDArray[np.int64]
    closes_ms: NDArray[np.int64]
    extra: dict[int, _Reached] = field(default_factory=dict)
    """Sites looked up one by one afterwards (nearby ones the search stopped before)."""

    def get(self, position: int) -> _Reached | None:
        if position in self.extra:
            return self.extra[position]
        i = int(np.searchsorted(self.positions, position))
        if i < len(self.positions) and self.positions[i] == position:
            return _Reached(int(self.ms[i]), int(self.ready_ms[i]), int(self.closes_ms[i]))
        return None

    def served(self, k: int, site_ids: NDArray[np.int64]) -> list[int]:
        """The ``k`` positions served first (by service start, travel time, site id)."""
        ok = np.flatnonzero(self.ready_ms >= 0)
        order = np.lexsort((site_ids[self.positions[ok]], self.ms[ok], self.ready_ms[ok]))
        return [int(p) for p in self.positions[ok][order][:k]]


def _search(
    engine: Engine,
    origin: Snap,
    index: SiteIndex,
    handling: NDArray[np.int64],
    targets: _Targets,
    clock: _Clock,
    request: MatchRequest,
) -> _ReachTable:
    """Travel times and service times of the sites that can be served soonest.

    The bounded search stops after the ``budget`` nearest sites by travel time; once no
    farther site can be served before the ``k``-th found (:func:`_unbeaten`), the answer
    is known. Otherwise the budget grows.
    """
    limit_ms = round(request.max_minutes * 60_000)
    wait_ms = round(request.max_wait_minutes * 60_000)
    depart_ms = _ms(request.depart_at)
    budget = min(len(handling), max(8 * request.k, 40))
    rounds = 0
    while True:
        rounds += 1
        if rounds == 3 and _cannot_stop_early(index, handling, clock, request):
            budget = len(handling)
        _, best = engine.bounded_search(
            origin, request.mode, limit_ms, targets.snaps, k=budget, entries=targets.entries
        )
        found = np.flatnonzero(best <= limit_ms)
        if len(found) > budget:  # the budget nearest; kept in position order, like ``found``
            found = np.sort(found[smallest(best[found], budget)])
        positions = handling[found]  # ascending, as ``handling`` is
        ms = best[found].astype(np.int64)
        arrive = depart_ms + ms
        ready = np.full(len(found), -1, np.int64)
        closes = np.full(len(found), -1, np.int64)
        expr_ids = index.expr_ids[positions]
        for expr_id in np.unique(expr_ids).tolist():
            mask = expr_ids == expr_id
            ready[mask], closes[mask] = clock.ready(index.exprs[expr_id], arrive[mask])
        ready[(ready >= 0) & (ready - arrive > wait_ms)] = -1
        done = len(found) < budget or budget >= len(handling) or not len(found)
        if done or _unbeaten(index, handling, expr_ids, ms, ready, clock, depart_ms, request.k):
            return _ReachTable(positions, ms, ready, closes)
        budget = min(len(handling), budget * 4)


def _unbeaten(index: SiteIndex, handling: NDArray[np.int64], found_exprs: NDArray[np.int32],
              ms: NDArray[np.int64], ready: NDArray[np.int64], clock: _Clock, depart_ms: int,
              k: int) -> bool:  # fmt: skip
    """Whether no handling site beyond the ones found can be served before the ``k``-th of
    them (by service start, then travel time), or at all when fewer than ``k`` are served.

    A site not found arrives no sooner than the last one found, and service start only
    grows with arrival, so its hours evaluated at that arrival bound it from below. Before
    opening time everyone waits: the nearest sites that open first win, found in the
    first rounds instead of searching the whole horizon.
    """
    last_ms = int(ms.max())
    ok = np.flatnonzero(ready >= 0)
    ready_k = ms_k = int(NEVER)  # fewer than k served: stop only if no other site can be
    if len(ok) >= k:
        kth = ok[np.lexsort((ms[ok], ready[ok]))[k - 1]]
        ready_k, ms_k = int(ready[kth]), int(ms[kth])
        if ready_k < depart_ms + last_ms:
            return True
    unseen = np.bincount(index.expr_ids[handling], minlength=len(index.exprs)) - np.bincount(
        found_exprs, minlength=len(index.exprs)
    )
    for expr_id in np.flatnonzero(unseen).tolist():
        bound = clock.first_ready(index.exprs[expr_id], depart_ms + last_ms)
        if bound >= 0 and (bound < ready_k or (bound == ready_k and last_ms <= ms_k)):
            return False
    return True


def _cannot_stop_early(index: SiteIndex, handling: NDArray[np.int64], clock: _Clock,
                       request: MatchRequest) -> bool:  # fmt: skip
    """Whether fewer than ``k`` handling sites open at all within the horizon, and no
    opening-hours warning is at stake.

    Then no round of :func:`_search` can stop for having served ``k`` sites, only for
    having found every site that could serve, which the last round finds too: the search
    may go straight to it, with the same answer (only the order in which warnings are met
    could differ, hence the condition on warnings).
    """
    probe = _Clock(clock.calendar, clock.start, clock.end, clock.need_ms, [])
    counts = np.bincount(index.expr_ids[handling], minlength=len(index.exprs)).tolist()
    opens = {e: probe.windows(index.exprs[e])[0] for e, n in enumerate(counts) if n}
    if probe.warnings:
        return False
    if sum(counts[e] for e, o in opens.items() if len(o)) >= request.k:
        return False
    for expr, windows in probe._windows.items():  # the same windows: no need to walk them again
        clock._windows.setdefault(expr, windows)
    return True


def _candidate(
    index: SiteIndex,
    position: int,
    state: _Reached | None,
    request: MatchRequest,
    calendar: HolidayCalendar,
    distance_m: float | None = None,
) -> Candidate:
    """The candidate as answers show it; ``state`` None: unreachable from any road."""
    if distance_m is None:
        distance_m = _geodesic_m(index, position, request.origin)
    c = Candidate(position=position, distance_m=distance_m)
    c.target = index.snaps[request.mode][position]
    if c.target is None or state is None:
        c.reason, c.detail = (
            "unreachable",
            "场所离可用道路太远 — the site is too far from any usable road",
        )
        return c
    if state.ms is None:
        c.reason = "out_of_range"
        c.detail = (f"{request.max_minutes:g} 分钟内无法到达 — not reachable within "
                    f"{request.max_minutes:g} min ({request.mode.value})")  # fmt: skip
        return c
    c.duration_s = state.ms / 1000.0
    c.arrive_at = request.depart_at + timedelta(milliseconds=state.ms)
    if state.ready_ms >= 0:
        c.ready_at = _moment(state.ready_ms, request.depart_at)
        c.closes_at = (
            None if state.closes_ms >= NEVER else _moment(state.closes_ms, request.depart_at)
        )
        c.open_on_arrival = c.ready_at == c.arrive_at
        c.opens_at = None if c.open_on_arrival else c.ready_at
        return c
    expr = index.exprs[int(index.expr_ids[position])]
    reopening = next_open(expr, c.arrive_at, calendar)
    when = (
        f"下次开放 next opening {reopening:%Y-%m-%d %H:%M}"
        if reopening
        else "近期不开放 not open soon"
    )
    c.open_on_arrival = False
    c.reason = "closed_on_arrival"
    c.detail = (
        f"{c.arrive_at:%m-%d %H:%M} 到达时未开放或即将下班 — closed (or closing within "
        f"{request.service_minutes:.0f} min) on arrival; {when}"
    )
    return c


def _geodesic_m(index: SiteIndex, position: int, origin: LonLat) -> float:
    return float(_GEOD.inv(origin[0], origin[1], index.lon[position], index.lat[position])[2])


def _nearby(
    index: SiteIndex,
    handling: NDArray[np.int64],
    chosen: list[Candidate],
    reached: _ReachTable,
    engine: Engine,
    origin: Snap,
    clock: _Clock,
    request: MatchRequest,
    calendar: HolidayCalendar,
) -> list[Candidate]:
    """The nearest sites (straight line) that were left out, each with its reason."""
    if not len(index.site_ids):
        return []
    shortlist = index.grid.nearest(*request.origin, 4 * NEARBY_LEFT_OUT + len(chosen))
    lon, lat = request.origin
    exact = _GEOD.inv(np.full(len(shortlist), lon), np.full(len(shortlist), lat),
                      index.lon[shortlist], index.lat[shortlist])[2]  # fmt: skip
    by_distance = np.argsort(np.round(exact, 6), kind="stable")
    nearest = shortlist[by_distance]
    order: list[int] = nearest.tolist()
    distance = dict(zip(order, exact[by_distance].tolist(), strict=True))
    handles = dict(zip(order, _members(nearest, handling).tolist(), strict=True))
    searched = dict(zip(order, _members(nearest, reached.positions).tolist(), strict=True))
    unknown = [p for p in order if handles[p] and not searched[p] and p not in reached.extra]
    _fill_times(engine, origin, index, unknown, reached.extra, clock, request)
    chosen_positions = {c.position for c in chosen}
    left: list[Candidate] = []
    for position in order:
        if position in chosen_positions:
            continue
        if not handles[position]:
            c = Candidate(position=position, distance_m=distance[position])
            c.reason, c.detail = (
                "not_handled",
                "该场所不办理此事项 — this site does not handle the item",
            )
            left.append(c)
        elif (state := reached.get(position)) is None or state.ready_ms < 0:
            left.append(_candidate(index, position, state, request, calendar, distance[position]))
        if len(left) == NEARBY_LEFT_OUT:
            break
    return left


def _members(values: NDArray[np.int64], ascending: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Which ``values`` are in ``ascending`` (a sorted array)."""
    if not len(ascending):
        return np.zeros(len(values), dtype=np.bool_)
    at = np.minimum(np.searchsorted(ascending, values), len(ascending) - 1)
    return np.asarray(ascending[at] == values)


def _fill_times(
    engine: Engine,
    origin: Snap,
    index: SiteIndex,
    positions: list[int],
    reached: dict[int, _Reached],
    clock: _Clock,
    request: MatchRequest,
) -> None:
    """Times of a few more sites (nearby ones the search stopped before), by CH queries."""
    snaps = index.snaps[request.mode]
    reachable = [p for p in positions if snaps.piece[p] >= 0]
    if not reachable:
        return
    targets = [t for t in (snaps[p] for p in reachable) if t is not None]
    times = engine.matrix_ms([origin], targets, request.mode)[0]
    limit_ms = round(request.max_minutes * 60_000)
    wait_ms = round(request.max_wait_minutes * 60_000)
    depart_ms = _ms(request.depart_at)
    for p, t in zip(reachable, times, strict=True):
        if np.isnan(t) or t > limit_ms:
            reached[p] = _Reached(None, -1, -1)
            continue
        arrive = np.array([depart_ms + int(t)], np.int64)
        ready, closes = clock.ready(index.exprs[int(index.expr_ids[p])], arrive)
        served = ready[0] >= 0 and ready[0] - arrive[0] <= wait_ms
        reached[p] = _Reached(int(t), int(ready[0]) if served else -1, int(closes[0]))


def earliest_service(
    expr: str,
    arrive_at: datetime,
    need: timedelta,
    calendar: HolidayCalendar,
    latest: datetime,
    warnings: list[str] | None = None,
) -> tuple[datetime, datetime | None] | None:
    """The first moment from ``arrive_at`` (until ``latest``) at which the site is open
    for at least ``need``, with its closing time; None if there is none."""
    at = arrive_at
    while at <= latest:
        state = open_state(expr, at, calendar)
        if warnings is not None and state.warning and state.warning not in warnings:
            warnings.append(state.warning)
        if state.is_open and (state.closes_at is None or state.closes_at - at >= need):
            return at, state.closes_at
        # Open but closing too soon: try the next period. Closed: its next period (when
        # closed, ``closes_at`` is the *end* of that next period, so it must not be skipped).
        if state.is_open and state.closes_at is not None:
            following = next_open(expr, state.closes_at + timedelta(seconds=1), calendar)
        else:
            following = next_open(expr, at, calendar)
        if following is None or following <= at:
            return None
        at = following
    return None


def _not_handled(
    session: Session, origin: LonLat, links: dict[int, SiteItem], *clauses: object
) -> list[Exclusion]:
    nearby = _with_distance(
        session, origin, *clauses, Site.id.not_in(links) if links else True, limit=NEARBY_LEFT_OUT
    )
    return [
        Exclusion(
            SiteCard.of(site),
            d,
            "not_handled",
            "该场所不办理此事项 — this site does not handle the item",
        )
        for site, d in nearby
    ]


def _straight_line(
    session: Session,
    calendar: HolidayCalendar,
    item: ItemLike,
    request: MatchRequest,
    no_network: NoNetwork,
) -> MatchOutcome:
    """No network here: straight-line order, no travel time, hours judged at departure."""
    reason = (
        f"{no_network.message} 结果按直线距离排序，仅供参考，不含行程时间 — "
        "ordered by straight-line distance, no travel times."
    )
    outcome = MatchOutcome(item, request, routed=False, reason=reason, engine=None)
    links = sites_handling(session, item.code)
    region = region_at(session, request.origin)
    city_clause = Site.region_code.startswith(region.code[:4]) if region is not None else True
    point = cast(func.ST_SetSRID(func.ST_MakePoint(*request.origin), 4326), Geography)
    in_range = func.ST_DWithin(cast(Site.geom, Geography), point, STRAIGHT_LINE_RANGE_M)
    handling = _with_distance(
        session,
        request.origin,
        city_clause,
        in_range,
        Site.id.in_(links) if links else False,
        limit=request.k,
    )
    for site, distance in handling:
        candidate = Candidate(
            distance_m=distance, site=SiteCard.of(site), window=links[site.id].window
        )
        expr = site.opening_hours or "24/7"
        state = open_state(expr, request.depart_at, calendar)
        if state.warning and state.warning not in outcome.warnings:
            outcome.warnings.append(state.warning)
        candidate.open_now = state.is_open
        candidate.closes_at = state.closes_at if state.is_open else None
        candidate.opens_at = None if state.is_open else next_open(expr, request.depart_at, calendar)
        candidate.hours_today = today_hours(expr, request.depart_at.date(), calendar)
        outcome.results.append(candidate)
    outcome.left_out = _not_handled(session, request.origin, links, city_clause, in_range)
    return outcome

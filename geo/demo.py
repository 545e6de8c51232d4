"""Demo service sites (示例数据) where no public file gives the halls themselves.

Generated deterministically (seeded), every row flagged ``demo`` so the UI marks
it 示例数据. Jinan gets a city centre, a centre (with sub-centres and a 24-hour
zone) per district, a 便民服务中心 per street/town, a sample of community
stations and some terminals and bank/post outlets, placed inside the real
district boundaries. Nanjing gets a set inside its shipped OSM road extract,
placed beside real named roads so that routes to them exist.
"""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from geo.models import Region, RegionLevel, SiteKind, SiteLevel, SiteStatus

DEMO_SOURCE = "daofu 示例数据生成器 (demo generator)"
VERSION = 2
SEED = 20261123
COMMUNITY_SAMPLE = 0.1

HOURS_CITY = "Mo-Fr 09:00-17:00; Sa 09:00-12:00; PH off"
HOURS_DISTRICT = (
    "Mo-Fr 09:00-12:00,13:00-17:00; PH off",
    "Mo-Fr 08:30-17:30; Sa 09:00-12:00; PH off",
    "Mo-Fr 09:00-17:00; Sa,Su 09:00-12:00; PH off",
)
HOURS_STREET = (
    "Mo-Fr 09:00-12:00,13:30-17:00; PH off",
    "Mo-Fr 08:30-12:00,13:00-17:30; PH off",
    "Mo-Fr 09:00-17:00; Sa 09:00-12:00; PH off",
)
HOURS_COMMUNITY = ("Mo-Fr 09:00-11:30,14:00-17:00; PH off", "Mo-Fr 08:30-11:30,13:30-17:00; PH off")
HOURS_BANK = "Mo-Fr 09:00-17:00; Sa,Su 09:00-16:00"
HOURS_POST = "Mo-Su 08:30-17:00"
HOURS_ALWAYS = "24/7"

SUB_CENTRES = (
    ("不动产登记", "自然资源局"),
    ("公安", "公安分局"),
    ("社会保险", "人力资源社会保障局"),
    ("医疗保障", "医疗保障局"),
    ("税务", "税务局"),
    ("市场监管", "市场监督管理局"),
)
BANKS = ("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "交通银行", "齐鲁银行")
JINAN_ROADS = (
    "经十路",
    "经七路",
    "历山路",
    "文化东路",
    "解放路",
    "和平路",
    "泉城路",
    "工业南路",
    "二环东路",
    "北园大街",
    "舜耕路",
    "英雄山路",
    "旅游路",
    "花园路",
    "山大路",
    "顺河街",
)
NANJING_ROADS_USED = (
    "primary",
    "secondary",
    "tertiary",
    "residential",
    "unclassified",
    "living_street",
)


@dataclass
class Place:
    code: str
    name: str
    level: RegionLevel
    boundary: BaseGeometry | None = None
    centre: Point | None = None
    children: list[Place] = field(default_factory=list)


def _regions(session: Session, city_prefixes: tuple[str, ...]) -> dict[str, Place]:
    rows = session.execute(
        select(Region.code, Region.name, Region.level, Region.boundary, Region.centre).where(
            or_(*(Region.code.startswith(p) for p in city_prefixes))
        )
    )
    places = {
        code: Place(
            code,
            name,
            level,
            to_shape(boundary) if boundary is not None else None,
            to_shape(centre) if centre is not None else None,
        )
        for code, name, level, boundary, centre in rows
    }
    for place in places.values():
        parent = _parent(place.code, places)
        if parent is not None:
            parent.children.append(place)
    for place in places.values():
        place.children.sort(key=lambda p: p.code)
        if place.boundary is not None:
            shapely.prepare(place.boundary)
    return places


def _parent(code: str, places: dict[str, Place]) -> Place | None:
    from geo.divisions import parent_code

    parent = parent_code(code)
    return places.get(parent) if parent else None


def _offset(point: Point, rng: random.Random, sigma_m: float) -> Point:
    dx, dy = rng.gauss(0, sigma_m), rng.gauss(0, sigma_m)
    return Point(
        point.x + dx / (111_320 * math.cos(math.radians(point.y))),
        point.y + dy / 110_540,
    )


def _point_in(area: BaseGeometry, rng: random.Random) -> Point:
    shapely.prepare(area)
    minx, miny, maxx, maxy = area.bounds
    for _ in range(1000):
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if area.contains(p):
            return p
    return area.representative_point()


def _near_inside(
    centre: Point, area: BaseGeometry | None, rng: random.Random, sigma_m: float
) -> Point:
    for _ in range(50):
        p = _offset(centre, rng, sigma_m)
        if area is None or area.contains(p):
            return p
    return centre


def _phone(rng: random.Random, area_code: str) -> str:
    return f"{area_code}-{rng.randint(81000000, 89999999)}"


COMMITTEE_SUFFIXES = (
    ("社区居民委员会", "社区"),
    ("社区居委会", "社区"),
    ("居民委员会", "社区"),
    ("居委会", "社区"),
    ("村民委员会", "村"),
    ("村委会", "村"),
)


def _short_community(name: str) -> str:
    """解放桥社区居民委员会 → 解放桥社区, 王家村村民委员会 → 王家村."""
    for suffix, kind in COMMITTEE_SUFFIXES:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            return stem if stem.endswith(kind) else stem + kind
    return name


def _attributes(rng: random.Random, level: SiteLevel) -> dict[str, Any]:
    windows = {
        SiteLevel.city: 80,
        SiteLevel.district: 40,
        SiteLevel.street: 8,
        SiteLevel.community: 2,
    }[level]
    big = level in (SiteLevel.city, SiteLevel.district)
    return {
        "windows": {
            "comprehensive": max(1, int(windows * rng.uniform(0.6, 1.2))),
            "assisted": big or rng.random() < 0.6,  # 帮办代办
            "cross_region": big or rng.random() < 0.4,  # 跨域通办
            "complaints": big or rng.random() < 0.5,  # 办不成事反映窗口
        },
        "accessible": big or rng.random() < 0.7,  # 无障碍
        "green_channel": big or rng.random() < 0.5,  # 老年人、残疾人绿色通道
        "mother_baby_room": big or rng.random() < 0.2,  # 母婴室
        "parking_spaces": rng.randint(100, 400) if big else rng.randint(0, 30),
        "self_service_terminals": rng.randint(6, 20) if big else rng.randint(0, 3),
    }


def _site(
    rng: random.Random,
    *,
    name: str,
    level: SiteLevel,
    kind: SiteKind,
    region: str,
    point: Point,
    address: str,
    phone: str,
    hours: str,
    department: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "level": level,
        "kind": kind,
        "region_code": region,
        "department": department,
        "address": address,
        "phone": phone,
        "geom": from_shape(point, srid=4326),
        "opening_hours": hours,
        "attributes": attributes if attributes is not None else _attributes(rng, level),
        "status": SiteStatus.published,
        "version": 1,
        "source": DEMO_SOURCE,
        "demo": True,
    }


def _jinan(places: dict[str, Place], rng: random.Random) -> list[dict[str, Any]]:
    city = places["370100000000"]
    assert city.boundary is not None and city.centre is not None
    rows = []
    road = lambda: f"{rng.choice(JINAN_ROADS)}{rng.randint(1, 399)}号"  # noqa: E731
    rows.append(
        _site(
            rng,
            name="济南市政务服务中心",
            level=SiteLevel.city,
            kind=SiteKind.hall,
            region=city.code,
            point=_near_inside(city.centre, city.boundary, rng, 300),
            address=f"济南市{road()}",
            phone=_phone(rng, "0531"),
            hours=HOURS_CITY,
        )
    )
    for district in city.children:
        area = district.boundary
        centre = district.centre or _near_inside(city.centre, city.boundary, rng, 8000)
        centre = _near_inside(centre, area, rng, 200)
        prefix = f"济南市{district.name}"
        rows.append(
            _site(
                rng,
                name=f"{district.name}政务服务中心",
                level=SiteLevel.district,
                kind=SiteKind.hall,
                region=district.code,
                point=centre,
                address=f"{prefix}{road()}",
                phone=_phone(rng, "0531"),
                hours=rng.choice(HOURS_DISTRICT),
            )
        )
        rows.append(
            _site(
                rng,
                name=f"{district.name}政务服务中心24小时自助服务区",
                level=SiteLevel.district,
                kind=SiteKind.self_service_zone_24h,
                region=district.code,
                point=_near_inside(centre, area, rng, 25),
                address=f"{prefix}{road()}（政务服务中心一楼）",
                phone=_phone(rng, "0531"),
                hours=HOURS_ALWAYS,
            )
        )
        for topic, department in rng.sample(SUB_CENTRES, 2):
            rows.append(
                _site(
                    rng,
                    name=f"{district.name}政务服务中心{topic}分中心",
                    level=SiteLevel.district,
                    kind=SiteKind.sub_centre,
                    region=district.code,
                    point=_near_inside(centre, area, rng, 2500),
                    address=f"{prefix}{road()}",
                    phone=_phone(rng, "0531"),
                    hours=rng.choice(HOURS_DISTRICT),
                    department=f"{district.name}{department}",
                )
            )
        rows += _jinan_streets(district, centre, rng, road)
    return rows


def _jinan_streets(
    district: Place, centre: Point, rng: random.Random, road: Any
) -> list[dict[str, Any]]:
    rows = []
    area = district.boundary
    for street in district.children:
        point = _point_in(area, rng) if area is not None else _offset(centre, rng, 3000)
        prefix = f"济南市{district.name}{street.name}"
        rows.append(
            _site(
                rng,
                name=f"{street.name}便民服务中心",
                level=SiteLevel.street,
                kind=SiteKind.hall,
                region=street.code,
                point=point,
                address=f"{prefix}{road()}",
                phone=_phone(rng, "0531"),
                hours=rng.choice(HOURS_STREET),
            )
        )
        if rng.random() < 0.25:
            rows.append(
                _site(
                    rng,
                    name=f"{street.name}便民服务中心自助终端",
                    level=SiteLevel.street,
                    kind=SiteKind.self_service_terminal,
                    region=street.code,
                    point=_near_inside(point, area, rng, 10),
                    address=f"{prefix}{road()}（大厅）",
                    phone=_phone(rng, "0531"),
                    hours=HOURS_ALWAYS,
                    attributes={},
                )
            )
        if rng.random() < 0.12:
            bank = rng.choice(BANKS)
            rows.append(
                _site(
                    rng,
                    name=f"{bank}{street.name.removesuffix('街道')}支行（政银合作网点）",
                    level=SiteLevel.street,
                    kind=SiteKind.bank_outlet,
                    region=street.code,
                    point=_near_inside(point, area, rng, 700),
                    address=f"{prefix}{road()}",
                    phone=_phone(rng, "0531"),
                    hours=HOURS_BANK,
                    department=bank,
                    attributes={"self_service_terminals": 1},
                )
            )
        if rng.random() < 0.08:
            rows.append(
                _site(
                    rng,
                    name=f"中国邮政{street.name.removesuffix('街道')}营业所（政邮合作网点）",
                    level=SiteLevel.street,
                    kind=SiteKind.post_outlet,
                    region=street.code,
                    point=_near_inside(point, area, rng, 700),
                    address=f"{prefix}{road()}",
                    phone=_phone(rng, "0531"),
                    hours=HOURS_POST,
                    department="中国邮政",
                    attributes={"self_service_terminals": 1},
                )
            )
        if "开发区" in street.name or "园区" in street.name:
            rows.append(
                _site(
                    rng,
                    name=f"{street.name}园区服务站",
                    level=SiteLevel.street,
                    kind=SiteKind.park_station,
                    region=street.code,
                    point=_near_inside(point, area, rng, 500),
                    address=f"{prefix}{road()}",
                    phone=_phone(rng, "0531"),
                    hours=rng.choice(HOURS_STREET),
                )
            )
        communities = street.children
        for community in rng.sample(communities, math.ceil(len(communities) * COMMUNITY_SAMPLE)):
            short = _short_community(community.name)
            brand = "（玫红驿站）" if district.code.startswith("370124") else ""
            rows.append(
                _site(
                    rng,
                    name=f"{short}便民服务站{brand}",
                    level=SiteLevel.community,
                    kind=SiteKind.hall,
                    region=community.code,
                    point=_near_inside(point, area, rng, 1200),
                    address=f"{prefix}{short}{road()}",
                    phone=_phone(rng, "0531"),
                    hours=rng.choice(HOURS_COMMUNITY),
                )
            )
    return rows


def road_points(osm_file: Path) -> list[tuple[str, Point]]:
    """Points on named roads of the shipped OSM extract, each with its road's name."""
    root = ET.parse(osm_file).getroot()  # noqa: S314 - the project's own shipped file
    nodes = {
        n.get("id"): (float(n.get("lon", 0)), float(n.get("lat", 0))) for n in root.iter("node")
    }
    points = []
    for way in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in way.iter("tag")}
        if tags.get("highway") in NANJING_ROADS_USED and tags.get("name"):
            points += [(str(tags["name"]), Point(nodes[nd.get("ref")])) for nd in way.iter("nd")]
    return points


def _nanjing(places: dict[str, Place], osm_file: Path, rng: random.Random) -> list[dict[str, Any]]:
    points = road_points(osm_file)
    by_district: dict[str, list[tuple[str, Point]]] = defaultdict(list)
    districts = [p for p in places["320100000000"].children if p.boundary is not None]
    for name, point in points:
        for d in districts:
            if d.boundary is not None and d.boundary.contains(point):
                by_district[d.code].append((name, point))
    rows = []
    every = [p for ps in by_district.values() for p in ps]
    road, point = rng.choice(every)
    rows.append(
        _site(
            rng,
            name="南京市政务服务中心",
            level=SiteLevel.city,
            kind=SiteKind.hall,
            region="320100000000",
            point=_near_inside(point, places["320100000000"].boundary, rng, 15),
            address=f"南京市{road}{rng.randint(1, 300)}号",
            phone=_phone(rng, "025"),
            hours=HOURS_CITY,
        )
    )
    for code in sorted(by_district):
        district, candidates = places[code], by_district[code]
        if len(candidates) < 20:
            continue
        rows += _nanjing_district(district, candidates, rng)
    return rows


def _nanjing_district(
    district: Place, candidates: list[tuple[str, Point]], rng: random.Random
) -> list[dict[str, Any]]:
    prefix = f"南京市{district.name}"
    rows = []
    road, point = rng.choice(candidates)
    rows.append(
        _site(
            rng,
            name=f"{district.name}政务服务中心",
            level=SiteLevel.district,
            kind=SiteKind.hall,
            region=district.code,
            point=_near_inside(point, district.boundary, rng, 15),
            address=f"{prefix}{road}{rng.randint(1, 300)}号",
            phone=_phone(rng, "025"),
            hours=rng.choice(HOURS_DISTRICT),
        )
    )
    rows.append(
        _site(
            rng,
            name=f"{district.name}政务服务中心24小时自助服务区",
            level=SiteLevel.district,
            kind=SiteKind.self_service_zone_24h,
            region=district.code,
            point=_near_inside(point, district.boundary, rng, 20),
            address=f"{prefix}{road}（政务服务中心一楼）",
            phone=_phone(rng, "025"),
            hours=HOURS_ALWAYS,
        )
    )
    streets = [s for s in district.children if s.code[6] != "4"]
    for street in rng.sample(streets, min(5, len(streets))):
        road, point = rng.choice(candidates)
        rows.append(
            _site(
                rng,
                name=f"{street.name}便民服务中心",
                level=SiteLevel.street,
                kind=SiteKind.hall,
                region=street.code,
                point=_near_inside(point, district.boundary, rng, 15),
                address=f"{prefix}{street.name}{road}{rng.randint(1, 300)}号",
                phone=_phone(rng, "025"),
                hours=rng.choice(HOURS_STREET),
            )
        )
        real = [c for c in street.children if "虚拟" not in c.name]
        for community in rng.sample(real, min(2, len(real))):
            road, point = rng.choice(candidates)
            short = _short_community(community.name)
            rows.append(
                _site(
                    rng,
                    name=f"{short}便民服务站",
                    level=SiteLevel.community,
                    kind=SiteKind.hall,
                    region=community.code,
                    point=_near_inside(point, district.boundary, rng, 10),
                    address=f"{prefix}{street.name}{road}{rng.randint(1, 300)}号",
                    phone=_phone(rng, "025"),
                    hours=rng.choice(HOURS_COMMUNITY),
                )
            )
    bank = rng.choice(BANKS)
    road, point = rng.choice(candidates)
    rows.append(
        _site(
            rng,
            name=f"{bank}南京{district.name}支行（政银合作网点）",
            level=SiteLevel.district,
            kind=SiteKind.bank_outlet,
            region=district.code,
            point=_near_inside(point, district.boundary, rng, 15),
            address=f"{prefix}{road}{rng.randint(1, 300)}号",
            phone=_phone(rng, "025"),
            hours=HOURS_BANK,
            department=bank,
            attributes={"self_service_terminals": 1},
        )
    )
    return rows


def generate_sites(session: Session, nanjing_osm: Path) -> list[dict[str, Any]]:
    """All demo sites, as rows for ``insert(Site)``; the same rows on every run."""
    rng = random.Random(SEED)
    places = _regions(session, ("3701", "3201"))
    return _jinan(places, rng) + _nanjing(places, nanjing_osm, rng)


BULK_MIX = (
    (SiteLevel.community, SiteKind.hall, 0.70),
    (SiteLevel.street, SiteKind.hall, 0.20),
    (SiteLevel.street, SiteKind.self_service_terminal, 0.05),
    (SiteLevel.street, SiteKind.bank_outlet, 0.03),
    (SiteLevel.street, SiteKind.post_outlet, 0.02),
)


BULK_HOURS: dict[SiteLevel | SiteKind, tuple[str, ...]] = {
    SiteLevel.community: HOURS_COMMUNITY,
    SiteLevel.street: HOURS_STREET,
    SiteKind.self_service_terminal: (HOURS_ALWAYS,),
    SiteKind.bank_outlet: (HOURS_BANK,),
    SiteKind.post_outlet: (HOURS_POST,),
}


def bulk_sites(
    session: Session, osm_file: Path, count: int, seed: int = SEED
) -> list[dict[str, Any]]:
    """``count`` extra demo sites beside the named roads of ``osm_file`` (for load benchmarks).

    Mostly community and street halls, as in a real city; each in the district that
    contains it, with the demo hours strings.
    """
    rng = random.Random(seed)
    places = _regions(session, ("3201",))
    districts = [p for p in places["320100000000"].children if p.boundary is not None]
    points = road_points(osm_file)
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        road, point = rng.choice(points)
        point = _offset(point, rng, 15)
        district = next(
            (d for d in districts if d.boundary is not None and d.boundary.contains(point)), None
        )
        if district is None:
            continue
        level, kind, _ = rng.choices(BULK_MIX, weights=[w for *_, w in BULK_MIX])[0]
        hours = rng.choice(BULK_HOURS[kind] if kind != SiteKind.hall else BULK_HOURS[level])
        number = len(rows) + 1
        rows.append(
            _site(
                rng,
                name=f"{road}示例服务点{number:05d}",
                level=level,
                kind=kind,
                region=district.code,
                point=point,
                address=f"南京市{district.name}{road}{rng.randint(1, 400)}号",
                phone=_phone(rng, "025"),
                hours=hours,
            )
        )
    return rows

"""Typed errors of routing; the web layer turns them into problem+json answers."""

from __future__ import annotations

from geo.errors import DaofuError, InvalidInput, NotFound

IMPORT_HINT = "daofu roads import FILE.osm.pbf --city CODE"


class NoNetwork(DaofuError):
    """No active road network covers the place asked about: import one first."""

    code = "no_road_network"
    status = 409
    title = "无路网 No road network"

    def __init__(self, message: str, city_code: str | None = None) -> None:
        command = IMPORT_HINT.replace("CODE", city_code[:6] if city_code else "CODE")
        super().__init__(
            f"{message} 请先导入路网 / import a road network first: `{command}`",
            city_code=city_code,
            command=command,
        )


class OutsideNetwork(InvalidInput):
    """A point lies farther from any usable road than the snapping radius."""

    code = "outside_network"

    def __init__(self, field: str, distance_m: float | None, radius_m: float) -> None:
        where = (
            f"最近的道路在 {distance_m:.0f} 米外 / "
            f"the nearest usable road is {distance_m:.0f} m away"
            if distance_m is not None
            else f"{radius_m:.0f} 米内没有可用道路 / no usable road within {radius_m:.0f} m"
        )
        super().__init__(
            field,
            f"该点不在路网上 / the point is off the road network: {where} (limit {radius_m:.0f} m)",
            distance_m=None if distance_m is None else round(distance_m, 1),
            radius_m=radius_m,
        )


class Unreachable(NotFound):
    """No path joins the two points in this mode (one-way streets, islands of the network)."""

    code = "unreachable"
    title = "不可达 Unreachable"


class NetworkVersionNotFound(NotFound):
    code = "network_version_not_found"


class NothingToRollBack(DaofuError):
    code = "nothing_to_roll_back"
    status = 409
    title = "无可回滚版本 Nothing to roll back"


class OsmFileError(DaofuError):
    """An OSM file that cannot be read, or holds no usable road."""

    code = "osm_file_error"
    status = 422
    title = "OSM 文件错误 OSM file error"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}", file=path)

"""Coordinate systems of Chinese web maps, converted at the edge where data enters.

- WGS-84 (EPSG:4326): OSM, GPS; also CGCS2000 / Tianditu, which differs by
  centimetres and is treated as identical.
- GCJ-02 ("Mars"): AMap (高德), Tencent, DataV. The forward formula is the
  public ``coordtransform`` one (Krasovsky ellipsoid); it has no closed-form
  inverse, so GCJ-02 → WGS-84 is solved by fixed-point iteration to < 1 mm.
- BD-09: Baidu, a further rotation of GCJ-02.

Outside China's rough bounding box GCJ-02 equals WGS-84 (as the providers do).
Functions take and return numpy arrays or floats, ``(lon, lat)`` order.
"""

from __future__ import annotations

import enum
from typing import TypeVar

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid, as GCJ-02 uses
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

Coord = TypeVar("Coord", float, NDArray[np.float64])
Array = NDArray[np.float64]


class CRS(enum.StrEnum):
    """The coordinate systems that data may arrive in, by the names users know."""

    wgs84 = "wgs84"
    cgcs2000 = "cgcs2000"
    gcj02 = "gcj02"
    bd09 = "bd09"


def in_china(lon: Array, lat: Array) -> NDArray[np.bool_]:
    """The rough box within which providers apply the GCJ-02 shift."""
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _shift(lon: Array, lat: Array) -> tuple[Array, Array]:
    """GCJ-02 offset (dlon, dlat) in degrees at a WGS-84 position."""
    x = lon - 105.0
    y = lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _shift(lon_a, lat_a)
    return _like(lon, lon_a + dlon), _like(lat, lat_a + dlat)


def gcj02_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Exact inverse by fixed-point iteration: finds w with wgs84_to_gcj02(w) == g."""
    g_lon, g_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(30):
        dlon, dlat = _shift(w_lon, w_lat)
        err_lon = w_lon + dlon - g_lon
        err_lat = w_lat + dlat - g_lat
        w_lon, w_lat = w_lon - err_lon, w_lat - err_lat
        if max(np.max(np.abs(err_lon), initial=0.0), np.max(np.abs(err_lat), initial=0.0)) < 1e-11:
            break
    return _like(lon, w_lon), _like(lat, w_lat)


def gcj02_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _like(lon, z * np.cos(theta) + 0.0065), _like(lat, z * np.sin(theta) + 0.006)


def bd09_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Baidu's published inverse; its error (< 0.1 m) is below any map's precision."""
    x = np.asarray(lon, dtype=float) - 0.0065
    y = np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return _like(lon, z * np.cos(theta)), _like(lat, z * np.sin(theta))


def wgs84_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: Coord, lat: Coord, crs: CRS) -> tuple[Coord, Coord]:
    """Convert from ``crs`` to WGS-84 (the store's system)."""
    if crs is CRS.gcj02:
        return gcj02_to_wgs84(lon, lat)
    if crs is CRS.bd09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat


def from_wgs84(lon: Coord, lat: Coord, crs: CRS) -> tuple[Coord, Coord]:
    """Convert from WGS-84 to ``crs`` (for AMap or Baidu users)."""
    if crs is CRS.gcj02:
        return wgs84_to_gcj02(lon, lat)
    if crs is CRS.bd09:
        return wgs84_to_bd09(lon, lat)
    return lon, lat


G = TypeVar("G", bound=BaseGeometry)


def geometry_to_wgs84(geom: G, crs: CRS) -> G:
    """Convert every vertex of a shapely geometry from ``crs`` to WGS-84."""
    return shapely.transform(geom, lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], crs)))


def geometry_from_wgs84(geom: G, crs: CRS) -> G:
    return shapely.transform(geom, lambda xy: np.column_stack(from_wgs84(xy[:, 0], xy[:, 1], crs)))


def _like(template: Coord, value: Array) -> Coord:
    """Return a float for float input and an array for array input."""
    if np.ndim(template) == 0:
        return float(value)  # type: ignore[return-value]
    return value  # type: ignore[return-value]

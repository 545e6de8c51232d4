"""GCJ-02 / BD-09 conversion against published reference pairs, and round trips."""

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Polygon

from geo.coords import (
    CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    geometry_from_wgs84,
    geometry_to_wgs84,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")

# Published outputs of the reference implementation (wandergis/coordtransform, test/app.js)
# for the input (116.404, 39.915) in each direction.
REFERENCE = {
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),
    # The reference's gcj02towgs84 is a one-step approximation; ours is the exact inverse,
    # so this pair is only expected within a metre.
    "gcj02_to_wgs84_approx": (116.39775550083061, 39.91359571849836),
}


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (wgs84_to_gcj02, REFERENCE["wgs84_to_gcj02"]),
        (gcj02_to_bd09, REFERENCE["gcj02_to_bd09"]),
        (bd09_to_gcj02, REFERENCE["bd09_to_gcj02"]),
    ],
)
def test_forward_formulas_match_published_pairs(function, expected) -> None:
    lon, lat = function(116.404, 39.915)
    assert lon == pytest.approx(expected[0], abs=1e-9)
    assert lat == pytest.approx(expected[1], abs=1e-9)


def test_gcj02_inverse_is_within_a_metre_of_the_published_approximation() -> None:
    assert metres(gcj02_to_wgs84(116.404, 39.915), REFERENCE["gcj02_to_wgs84_approx"]) < 1.0


def _grid_over_china() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.uniform(74.0, 134.0, 5000), rng.uniform(18.0, 53.0, 5000)


def test_gcj02_round_trip_error_below_half_a_metre_everywhere_in_china() -> None:
    lon, lat = _grid_over_china()
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    error = GEOD.inv(lon, lat, back_lon, back_lat)[2]
    assert error.max() < 0.5
    assert error.max() < 0.01  # in fact the iteration converges to millimetres


def test_bd09_round_trip_error_below_half_a_metre() -> None:
    lon, lat = _grid_over_china()
    back_lon, back_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert GEOD.inv(lon, lat, back_lon, back_lat)[2].max() < 0.5


def test_offsets_are_hundreds_of_metres_in_jinan_and_nanjing() -> None:
    quancheng_square = (117.0185, 36.6628)
    xinjiekou = (118.7840, 32.0418)
    for point, low, high in ((quancheng_square, 300, 700), (xinjiekou, 450, 650)):
        assert low < metres(point, wgs84_to_gcj02(*point)) < high
    # Baidu's system is further off, about a kilometre or more
    assert 900 < metres(quancheng_square, wgs84_to_bd09(*quancheng_square)) < 1600


def test_no_shift_outside_china() -> None:
    paris = (2.3522, 48.8566)
    assert wgs84_to_gcj02(*paris) == paris
    assert gcj02_to_wgs84(*paris) == paris


def test_crs_dispatch_and_cgcs2000_identity() -> None:
    point = (117.0, 36.65)
    assert to_wgs84(*point, CRS.cgcs2000) == point
    assert to_wgs84(*point, CRS.wgs84) == point
    assert metres(to_wgs84(*from_wgs84(*point, CRS.bd09), CRS.bd09), point) < 0.5
    assert metres(to_wgs84(*from_wgs84(*point, CRS.gcj02), CRS.gcj02), point) < 0.5


def test_geometry_conversion_moves_every_vertex() -> None:
    square = Polygon([(117.0, 36.6), (117.1, 36.6), (117.1, 36.7), (117.0, 36.7)])
    moved = geometry_to_wgs84(square, CRS.gcj02)
    for (x, y), (mx, my) in zip(square.exterior.coords, moved.exterior.coords, strict=True):
        assert metres((mx, my), gcj02_to_wgs84(x, y)) < 1e-6
    back = geometry_from_wgs84(moved, CRS.gcj02)
    assert back.equals_exact(square, 1e-8)

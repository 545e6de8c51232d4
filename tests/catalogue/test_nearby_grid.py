"""The left-out sites shown beside a match are the nearest ones, whether or not the index
measures every site: its grid must pick exactly what a measure of all would."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from catalogue.matching import GRID_WORTH_IT, SiteIndex, _nearest_rough, _smallest


def _measured_all(
    lon: NDArray[np.float64], lat: NDArray[np.float64], origin: tuple[float, float], count: int
) -> NDArray[np.int64]:
    dx = (lon - origin[0]) * np.cos(np.radians(origin[1]))
    dy = lat - origin[1]
    return _smallest(np.hypot(dx, dy), count)


@pytest.mark.parametrize("sites", [GRID_WORTH_IT // 2, 25_000])
def test_the_grid_finds_the_same_nearest_sites_as_measuring_all(sites: int) -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(116.9, 117.2, sites)  # Jinan's centre
    lat = rng.uniform(36.6, 36.75, sites)
    lon[:200], lat[:200] = lon[200:400], lat[200:400]  # sites sharing a building: ties
    index = SiteIndex(
        1, "", np.arange(sites, dtype=np.int64), lon, lat, [], np.zeros(sites, np.int32), {}
    )
    for i in range(400):
        inside = i % 4 != 0
        origin = (
            float(rng.uniform(116.9, 117.2) if inside else rng.uniform(116.0, 118.0)),
            float(rng.uniform(36.6, 36.75) if inside else rng.uniform(36.0, 37.5)),
        )
        count = int(rng.integers(1, 60))
        expected = _measured_all(lon, lat, origin, count)
        assert np.array_equal(_nearest_rough(index, origin, count), expected), (origin, count)

"""The left-out sites shown beside a match are the nearest ones, whether or not the index
measures every site: its grid must pick exactly what a measure of all would."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from catalogue.site_grid import GRID_WORTH_IT, SiteGrid, smallest


def _measured_all(
    lon: NDArray[np.float64], lat: NDArray[np.float64], origin: tuple[float, float], count: int
) -> NDArray[np.int64]:
    dx = (lon - origin[0]) * np.cos(np.radians(origin[1]))
    dy = lat - origin[1]
    return smallest(np.hypot(dx, dy), count)


@pytest.mark.parametrize(
    ("sites", "clustered"), [(GRID_WORTH_IT // 2, False), (25_000, False), (25_000, True)]
)
def test_the_grid_finds_the_same_nearest_sites_as_measuring_all(
    sites: int, clustered: bool
) -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(116.9, 117.2, sites)  # Jinan's centre
    lat = rng.uniform(36.6, 36.75, sites)
    if clustered:  # most sites in the old town, cells sized for the whole extent
        dense = rng.random(sites) < 0.9
        lon[dense] = rng.normal(117.0, 0.004, int(dense.sum()))
        lat[dense] = rng.normal(36.66, 0.003, int(dense.sum()))
    lon[:200], lat[:200] = lon[200:400], lat[200:400]  # sites sharing a building: ties
    grid = SiteGrid.of(lon, lat)
    for i in range(400):
        inside = i % 4 != 0
        origin = (
            float(rng.uniform(116.9, 117.2) if inside else rng.uniform(116.0, 118.0)),
            float(rng.uniform(36.6, 36.75) if inside else rng.uniform(36.0, 37.5)),
        )
        if clustered and i % 2:
            origin = (float(rng.normal(117.0, 0.005)), float(rng.normal(36.66, 0.004)))
        count = int(rng.integers(1, 60))
        expected = _measured_all(lon, lat, origin, count)
        assert np.array_equal(grid.nearest(*origin, count), expected), (origin, count)

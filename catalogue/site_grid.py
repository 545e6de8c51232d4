"""The sites nearest a point without measuring them all: square cells walked in rings.

A match lists the nearest sites that were left out (closed, not handling the item, out of
range); with 20,000 sites, measuring every one for each request cost more than the rest of
the answer around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

from routing.kernels import ring_cells

SITES_PER_CELL = 8
"""Cells of :class:`SiteGrid` are sized for this many sites each, were they spread evenly
over their extent: the nearest few dozen then lie in a few rings of cells."""
GRID_WORTH_IT = 2000
"""Below this many sites, measuring them all is quicker than visiting cells."""


@dataclass(frozen=True)
class SiteGrid:
    """Site positions bucketed in square cells of a flat plane (longitude × cos(latitude of
    the sites' middle), latitude)."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    x0: float
    y0: float
    cell: float
    cos_ref: float
    nx: int
    ny: int
    start: NDArray[np.int64]
    positions: NDArray[np.int64]

    @classmethod
    def of(cls, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> SiteGrid:
        if not len(lon):
            none = np.zeros(0, np.int64)
            return cls(lon, lat, 0.0, 0.0, 1.0, 1.0, 1, 1, np.zeros(2, np.int64), none)
        cos_ref = math.cos(math.radians(float(np.median(lat))))
        x, y = lon * cos_ref, lat
        x0, y0 = float(x.min()), float(y.min())
        width, height = float(x.max()) - x0, float(y.max()) - y0
        area = max(width, 1e-6) * max(height, 1e-6)
        cell = max(1e-5, math.sqrt(area * SITES_PER_CELL / len(lon)))
        nx, ny = int(width // cell) + 1, int(height // cell) + 1
        gx = np.minimum(((x - x0) // cell).astype(np.int64), nx - 1)
        gy = np.minimum(((y - y0) // cell).astype(np.int64), ny - 1)
        cells = gy * nx + gx
        start = np.zeros(nx * ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cells, minlength=nx * ny), out=start[1:])
        positions = np.argsort(cells, kind="stable").astype(np.int64)
        return cls(lon, lat, x0, y0, cell, cos_ref, nx, ny, start, positions)

    def nearest(self, lon: float, lat: float, count: int) -> NDArray[np.int64]:
        """The ``count`` sites nearest by a flat approximation (``hypot`` of degrees,
        longitude scaled), ties in position order: ``smallest(hypot(dx, dy), count)`` over
        every site, but measured only for the sites of the cells around the point, and
        ``hypot`` (slow) only for those whose squared distance could place them there."""
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        candidates = self.near(lon, lat, count)
        dx = (self.lon[candidates] - lon) * np.cos(np.radians(lat))
        dy = self.lat[candidates] - lat
        squared = dx * dx + dy * dy
        if count < len(squared):
            # squared sums order as hypot does up to rounding (relative 1e-15): a wide margin
            # keeps every site that hypot could rank among the first ``count``
            kth = np.partition(squared, count - 1)[count - 1]
            near = np.flatnonzero(squared <= kth * (1 + 1e-9))
        else:
            near = np.arange(len(squared))
        return candidates[near[smallest(np.hypot(dx[near], dy[near]), count)]]

    def near(self, lon: float, lat: float, count: int) -> NDArray[np.int64]:
        """Positions (ascending) of the sites within the flat distance of the ``count``-th
        nearest (longitude × cos(latitude of the point), latitude), and maybe a few more."""
        if len(self.lon) <= GRID_WORTH_IT:
            return np.arange(len(self.lon), dtype=np.int64)
        # a point outside the sites' extent starts from the nearest cell: a site beyond ring
        # r of it is still at least r cells away from the point on one axis
        cx = min(max(int((lon * self.cos_ref - self.x0) // self.cell), 0), self.nx - 1)
        cy = min(max(int((lat - self.y0) // self.cell), 0), self.ny - 1)
        cos_origin = math.cos(math.radians(lat))
        per_ring = self.cell * min(1.0, cos_origin / self.cos_ref)  # flat metric
        return _rings_until(self.start, self.positions, self.nx, self.ny, cx, cy, per_ring,
                            self.lon, self.lat, lon, lat, cos_origin, count)  # fmt: skip


def smallest(values: NDArray[Any], count: int) -> NDArray[np.int64]:
    """Positions of the ``count`` smallest values, as ``argsort(values, kind="stable")[:count]``
    gives them (ties in position order), without sorting them all."""
    if count >= len(values):
        return np.argsort(values, kind="stable")
    kth = np.partition(values, count - 1)[count - 1]
    within = np.flatnonzero(values <= kth)
    return within[np.argsort(values[within], kind="stable")][:count]


@numba.njit(cache=True)
def _rings_until(
    start: NDArray[np.int64],
    positions: NDArray[np.int64],
    nx: int,
    ny: int,
    cx: int,
    cy: int,
    per_ring: float,
    site_lon: NDArray[np.float64],
    site_lat: NDArray[np.float64],
    lon: float,
    lat: float,
    cos_origin: float,
    count: int,
) -> NDArray[np.int64]:
    """The sites of rings of cells around (cx, cy), gathered until no site outside them
    can be as near as the ``count``-th gathered; sorted."""
    last = max(abs(cx), abs(nx - 1 - cx), abs(cy), abs(ny - 1 - cy))
    gathered = np.empty(len(positions), dtype=np.int64)
    cells = np.empty(8 * last + 1, dtype=np.int64)
    n = 0
    for r in range(last + 1):
        for k in range(ring_cells(cx, cy, r, nx, ny, cells)):
            for i in range(start[cells[k]], start[cells[k] + 1]):
                gathered[n] = positions[i]
                n += 1
        if n < count or r == last:
            continue
        squared = np.empty(n, dtype=np.float64)
        for i in range(n):
            dx = (site_lon[gathered[i]] - lon) * cos_origin
            dy = site_lat[gathered[i]] - lat
            squared[i] = dx * dx + dy * dy
        kth = np.partition(squared, count - 1)[count - 1]
        if math.sqrt(kth * (1 + 1e-9)) < r * per_ring:
            break
    return np.sort(gathered[:n])

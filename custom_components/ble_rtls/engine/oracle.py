"""Oracles: the engine with its fixes made from the simulated site's true radio.

The benchmark's simulated radio is known exactly (`simulate.TrueRadio`), which no real
site is. An oracle reads it to show what any fix from signal strength could reach there:
told everything but the shadowing (the per-place deviation only a survey of the site would
map), or everything. It keeps the engine's windows, tracker and zones, so the gap between
the engine and an oracle is the fix alone, and an oracle's own error is what the radio
leaves to every method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .engine import MIN_READING_SIGMA_DB, Engine, EngineConfig, _Reading, _TagState
from .simulate import TrueRadio
from .site import Site
from .solver import HUBER_K, Fix

type Array = NDArray[np.float64]

GRID_STEP_M = 0.5


@dataclass(frozen=True, slots=True)
class RadioGrid:
    """The true mean RSSI of every receiver at the points of a floor's grid (1 m power 0)."""

    xs: Array
    ys: Array
    means: Array  # points x receivers, in the site's receiver order


def radio_grids(site: Site, radio: TrueRadio, shadowing: bool) -> dict[int, RadioGrid]:
    """Each floor's grid, from the simulator's own radio function (made once per site)."""
    order = [r[0] for r in radio.scenario.receivers]
    indices = [order.index(r.id) for r in site.receivers]
    grids = {}
    for floor in site.floors:
        (low_x, low_y), (high_x, high_y) = site.bounds(floor)
        xs, ys = np.meshgrid(
            np.arange(low_x, high_x + 1e-9, GRID_STEP_M),
            np.arange(low_y, high_y + 1e-9, GRID_STEP_M),
        )
        points = list(zip(xs.ravel().tolist(), ys.ravel().tolist(), strict=True))
        means = np.array(
            [[radio.mean_rssi(0.0, x, y, floor, i, shadowing) for i in indices] for x, y in points]
        )
        grids[floor] = RadioGrid(xs.ravel(), ys.ravel(), means)
    return grids


class RadioOracle(Engine):
    """The engine, each fix the posterior mean over a grid under the true radio model."""

    def __init__(
        self, site: Site, radio: TrueRadio, grids: dict[int, RadioGrid], shadowing: bool
    ) -> None:
        super().__init__(site, EngineConfig(self_calibrate=False))
        self._powers = radio.powers
        self._grids = grids
        # What the model leaves out, per reading: the shadowing when it is not told.
        self._model_noise_db = 0.0 if shadowing else radio.scenario.shadowing_db

    def _multilaterate(
        self, tag_id: str, state: _TagState, readings: list[_Reading], floor: int
    ) -> Fix:
        grid = self._grids[floor]
        rssi = np.array([r.rssi for r in readings]) - self._powers[tag_id]
        noise_2 = self._model_noise_db**2
        spreads = [max(r.spread, MIN_READING_SIGMA_DB) ** 2 / r.count for r in readings]
        sigma = np.sqrt(noise_2 + np.array(spreads))
        z = np.abs(rssi - grid.means[:, [r.index for r in readings]]) / sigma
        cost = np.where(z <= HUBER_K, z * z, 2.0 * HUBER_K * z - HUBER_K * HUBER_K).sum(axis=1)
        weights = np.exp(-0.5 * (cost - cost.min()))
        weights /= weights.sum()
        x, y = float(weights @ grid.xs), float(weights @ grid.ys)
        dx, dy = grid.xs - x, grid.ys - y
        cell = GRID_STEP_M**2 / 12.0
        xy = float(weights @ (dx * dy))
        covariance = np.array(
            [[float(weights @ (dx * dx)) + cell, xy], [xy, float(weights @ (dy * dy)) + cell]]
        )
        return Fix(x, y, covariance, float(cost.min()), [], [])

"""Oracles: the engine with its fixes made from the simulated site's true radio.

The benchmark's simulated radio is known exactly (`simulate.TrueRadio`), which no real
site is. An oracle reads it to show what any fix from signal strength could reach there:
told everything but the shadowing (the per-place deviation only a survey of the site would
map), or everything. It keeps the engine's windows, tracker and zones, so the gap between
the engine and an oracle is the fix alone, and an oracle's own error is what the radio
leaves to every method.
"""

from __future__ import annotations

import numpy as np

from .engine import Engine, EngineConfig, _Reading, _TagState, reading_sigmas
from .grid import FixRequest, Table, padded, posterior
from .simulate import TrueRadio
from .site import Site
from .solver import Fix, floats


def radio_grids(engine: Engine, radio: TrueRadio, shadowing: bool) -> dict[int, Table]:
    """Per floor, the true mean RSSI (1 m power 0) of every receiver at the engine's grid points.

    A row per receiver in the site's order, a column per point; made once per oracle.
    """
    order = [r[0] for r in radio.scenario.receivers]
    indices = [order.index(r.id) for r in engine.site.receivers]
    means = {}
    for floor, grid in engine.grids.items():
        points = zip(floats(grid.xs), floats(grid.ys), strict=True)
        means[floor] = np.array(
            [[radio.mean_rssi(0.0, x, y, floor, i, shadowing) for i in indices] for x, y in points],
            dtype=np.float32,
        ).T
    return means


class RadioOracle(Engine):
    """The engine, each fix the posterior mean over its grid under the true radio model."""

    def __init__(self, site: Site, radio: TrueRadio, shadowing: bool) -> None:
        super().__init__(site, EngineConfig(self_calibrate=False))
        self._powers = radio.powers
        self._means = radio_grids(self, radio, shadowing)
        # What the model leaves out, per reading: the shadowing when it is not told.
        self._model_noise_db = 0.0 if shadowing else radio.scenario.shadowing_db

    def _request(self, tag_id: str, state: _TagState, readings: list[_Reading]) -> FixRequest:
        return FixRequest(
            [r.index for r in readings],
            [r.rssi - self._powers[tag_id] for r in readings],
            reading_sigmas(readings, self._model_noise_db),
            state.tag.height,
        )

    def _fixes(self, floor: int, requests: list[FixRequest]) -> list[Fix]:
        rows = padded(requests)
        residuals = rows.excess[:, :, None] - self._means[floor][rows.index]
        found = posterior(self.grids[floor], residuals, rows.inverse_sigma, rows.pulls)
        return [
            Fix(x, y, covariance, cost, [], [])
            for x, y, covariance, cost in zip(
                floats(found.x), floats(found.y), found.covariance, floats(found.cost), strict=True
            )
        ]

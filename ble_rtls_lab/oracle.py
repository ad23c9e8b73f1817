"""Oracles: the engine with its fixes made from the simulated site's true radio.

The benchmark's simulated radio is known exactly (`simulate.TrueRadio`), which no real
site is. An oracle reads it to show what any fix from signal strength could reach there:
told everything but the shadowing (the per-place deviation only a survey of the site would
map), or everything. It keeps the engine's windows, tracker and zones, so the gap between
the engine and an oracle is the fix alone, and an oracle's own error is what the radio
leaves to every method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from custom_components.ble_rtls.engine import (
    Engine,
    EngineConfig,
    Fix,
    FixRequest,
    FloorGrid,
    Reading,
    Site,
    Tag,
    reading_sigmas,
)
from custom_components.ble_rtls.engine.grid import Table, padded, posterior
from custom_components.ble_rtls.engine.solver import floats

from .simulate import TrueRadio


def radio_grids(
    site: Site, grids: Mapping[int, FloorGrid], radio: TrueRadio, shadowing: bool
) -> dict[int, Table]:
    """Per floor, the true mean RSSI (1 m power 0) of every receiver at the grid's points.

    A row per receiver in the site's order, a column per point; made once per oracle.
    """
    order = [r[0] for r in radio.scenario.receivers]
    indices = [order.index(r.id) for r in site.receivers]
    means = {}
    for floor, grid in grids.items():
        points = zip(floats(grid.xs), floats(grid.ys), strict=True)
        means[floor] = np.array(
            [[radio.mean_rssi(0.0, x, y, floor, i, shadowing) for i in indices] for x, y in points],
            dtype=np.float32,
        ).T
    return means


class TrueRadioFixes:
    """Each fix the posterior mean over the engine's grid under the true radio model."""

    def __init__(
        self, site: Site, grids: Mapping[int, FloorGrid], radio: TrueRadio, shadowing: bool
    ) -> None:
        self._grids = grids
        self._powers = radio.powers
        self._means = radio_grids(site, grids, radio, shadowing)
        # What the model leaves out, per reading: the shadowing when it is not told.
        self._model_noise_db = 0.0 if shadowing else radio.scenario.shadowing_db

    def request(self, tag: Tag, readings: Sequence[Reading]) -> FixRequest:
        """The readings less the tag's true power; noise is what the model leaves out."""
        return FixRequest(
            [r.index for r in readings],
            [r.rssi - self._powers[tag.id] for r in readings],
            reading_sigmas(readings, self._model_noise_db),
            tag.height,
        )

    def fixes(self, floor: int, requests: list[FixRequest]) -> list[Fix]:
        """The posterior means under the true mean RSSI of every grid point."""
        rows = padded(requests)
        residuals = rows.excess[:, :, None] - self._means[floor][rows.index]
        found = posterior(self._grids[floor], residuals, rows.inverse_sigma, rows.pulls)
        return [
            Fix(x, y, covariance, cost, [], [])
            for x, y, covariance, cost in zip(
                floats(found.x), floats(found.y), found.covariance, floats(found.cost), strict=True
            )
        ]


def radio_oracle(site: Site, radio: TrueRadio, shadowing: bool) -> Engine:
    """The engine with its fixes from the true radio: told the shadowing, or not."""
    return Engine(
        site,
        EngineConfig(self_calibrate=False),
        lambda grids: TrueRadioFixes(site, grids, radio, shadowing),
    )

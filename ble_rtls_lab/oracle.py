"""Oracles: the engine with its fixes made from a radio model it could not know.

On a simulated site, the true radio (`radio_oracle`); on a recording, each receiver's path
loss fitted to the recording's own truth (`truth_fitted_oracle`): in-sample, the best any
log-distance model could do there.

The benchmark's simulated radio is known exactly (`simulate.TrueRadio`), which no real
site is. An oracle reads it to show what any fix from signal strength could reach there:
told everything but the shadowing (the per-place deviation only a survey of the site would
map), or everything. It keeps the engine's windows, tracker and zones, so the gap between
the engine and an oracle is the fix alone, and an oracle's own error is what the radio
leaves to every method.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from custom_components.ble_rtls.engine import (
    Advert,
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
from custom_components.ble_rtls.engine.grid import MIN_SQUARED_RANGE, Table, padded, posterior
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
        return _fixes_under(self._grids[floor], self._means[floor], requests)


def _fixes_under(grid: FloorGrid, means: Table, requests: list[FixRequest]) -> list[Fix]:
    """The requests' posterior means when each receiver's mean RSSI per point is `means`."""
    rows = padded(requests)
    residuals = rows.excess[:, :, None] - means[rows.index]
    found = posterior(grid, residuals, rows.inverse_sigma, rows.pulls)
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


class FittedPathLossFixes:
    """Each fix the posterior mean under per-receiver path loss fitted to the truth."""

    def __init__(
        self,
        grids: Mapping[int, FloorGrid],
        fitted: Sequence[tuple[float, float]],
        noise_db: float,
    ) -> None:
        self._grids = grids
        self._powers = np.array([[power] for power, _ in fitted], dtype=np.float32)
        self._exponents = np.array([[exponent] for _, exponent in fitted], dtype=np.float32)
        self._noise_db = noise_db

    def request(self, tag: Tag, readings: Sequence[Reading]) -> FixRequest:
        """The readings as they are: the fitted model holds the power."""
        return FixRequest(
            [r.index for r in readings],
            [r.rssi for r in readings],
            reading_sigmas(readings, self._noise_db),
            tag.height,
        )

    def fixes(self, floor: int, requests: list[FixRequest]) -> list[Fix]:
        """The posterior means under the fitted model, at each tag's height."""
        grid = self._grids[floor]
        return [
            fix
            for request in requests
            for fix in _fixes_under(
                grid, self._powers + self._exponents * grid.log_ranges(request.height), [request]
            )
        ]


def fit_path_loss_to_truth(
    site: Site, adverts: Sequence[Advert], position: Callable[[str, float], tuple[float, float]]
) -> tuple[list[tuple[float, float]], float]:
    """Per receiver, its RSSI at 1 m and exponent fitted to every advert at its true place.

    Also the fit's residual standard deviation (dB). `position` gives a tag's true x, y at a
    time.
    """
    index = {r.id: i for i, r in enumerate(site.receivers)}
    tags = {t.id for t in site.tags}
    rows: dict[int, list[tuple[float, float]]] = {i: [] for i in index.values()}
    for advert in adverts:
        i = index.get(advert.receiver)
        if i is None or advert.tag not in tags:
            continue
        receiver, tag = site.receivers[i], site.tag(advert.tag)
        x, y = position(advert.tag, advert.time)
        squared = (x - receiver.x) ** 2 + (y - receiver.y) ** 2 + (receiver.z - tag.height) ** 2
        log_range = -5.0 * math.log10(max(squared, MIN_SQUARED_RANGE))
        rows[i].append((log_range, advert.rssi + receiver.rssi_offset))
    fitted, residuals = [], []
    for i in range(len(site.receivers)):
        if len(rows[i]) < 2:
            fitted.append((site.path_loss.ref_rssi_1m, site.path_loss.exponent))
            continue
        values = np.array(rows[i])
        design = np.column_stack([np.ones(len(values)), values[:, 0]])
        (power, exponent), *_ = np.linalg.lstsq(design, values[:, 1], rcond=None)
        fitted.append((float(power), float(exponent)))
        residuals.append(values[:, 1] - design @ np.array([power, exponent]))
    return fitted, float(np.std(np.concatenate(residuals))) if residuals else 4.0


def truth_fitted_oracle(
    site: Site, fitted: Sequence[tuple[float, float]], noise_db: float
) -> Engine:
    """The engine with its fixes from path loss fitted to the recording's own truth."""
    return Engine(
        site,
        EngineConfig(self_calibrate=False),
        lambda grids: FittedPathLossFixes(grids, fitted, noise_db),
    )

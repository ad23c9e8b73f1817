"""The engine's fix: the posterior mean of a tag's position over a grid of its floor.

Every point of the floor, every GRID_STEP_M, is scored by how well the log-distance model
(with walls) explains the tag's readings there, Huber-robust in dB, plus a Gaussian pull
toward the receivers' RSSI-weighted centroid; the fix is the likelihood-weighted mean of the
points and its covariance their spread. Shadowing and walls make the likelihood lumpy, with
several hills: the mean weighs them all, where a best-fit point (a local optimiser's, or
the grid's best point) jumps from one hill to another.

What a point's model needs per receiver (the log of its 3-D range for the tag's height, and
how many walls lie between) is computed once per floor and kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from .site import Receiver
from .solver import Array, Fix, Floats, floats
from .walls import Segment, crossings

type Table = NDArray[np.float32]

# Points every GRID_STEP_M, or further apart on a floor that would need more than
# MAX_GRID_POINTS, so a fix costs about the same on every site; the posterior is metres
# wide, so denser points add little.
GRID_STEP_M = 0.5
MAX_GRID_POINTS = 400
HUBER_K = 1.5
# A fix's covariance is scaled by the square root of its fit's cost per degree of freedom:
# the spread alone overstates the error where readings agree, the full ratio understates it
# where walls and shadowing fit the readings at a wrong place.
FIT_RANGE = (0.25, 4.0)
FIT_POWER = 0.5
MIN_SQUARED_RANGE = 0.25
# At most this many values (tags x readings x points) in one grid pass, so its arrays stay in
# the processor's cache: the load benchmark's warehouse (300 tags, 6 readings, 400 points)
# was located in half the time in passes of 27 tags as in one pass of all.
PASS_VALUES = 65_536


@dataclass(frozen=True, slots=True)
class Pull:
    """A Gaussian pull toward a point: its centre and information (1 / sigma^2 per axis)."""

    x: float
    y: float
    information: float


NO_PULL = Pull(0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class FixRequest:
    """One tag's readings for a fix.

    Its receivers, each reading minus its expected RSSI at 1 m (dB), each reading's standard
    deviation (dB), the tag's height and its pull.
    """

    indices: list[int]
    excess: list[float]
    sigma: list[float]
    height: float
    pull: Pull = NO_PULL


@dataclass(frozen=True, slots=True)
class Padded:
    """Requests side by side, a row each, padded to the longest.

    Padding reads nothing (inverse sigma 0), so it adds no cost.
    """

    index: NDArray[np.intp]
    excess: Table
    inverse_sigma: Table
    pulls: Table  # per row: centre x, centre y, information


def padded(requests: Sequence[FixRequest]) -> Padded:
    """The requests as arrays, one row per request."""
    width = max(len(r.indices) for r in requests)
    index: list[int] = []
    excess: list[float] = []
    inverse: list[float] = []
    pulls: list[float] = []
    for r in requests:
        padding = width - len(r.indices)
        index += r.indices
        index += [0] * padding
        excess += r.excess
        excess += [0.0] * padding
        inverse += [1.0 / s for s in r.sigma]
        inverse += [0.0] * padding
        pulls += (r.pull.x, r.pull.y, r.pull.information)
    shape = (len(requests), width)
    return Padded(
        np.array(index, dtype=np.intp).reshape(shape),
        np.array(excess, dtype=np.float32).reshape(shape),
        np.array(inverse, dtype=np.float32).reshape(shape),
        np.array(pulls, dtype=np.float32).reshape((len(requests), 3)),
    )


@dataclass(frozen=True, slots=True)
class Posterior:
    """Per request, a row each: the points' normalised likelihoods, mean, covariance, cost."""

    weights: Table
    x: Array
    y: Array
    covariance: Array
    cost: Table


def posterior(grid: FloorGrid, residuals: Table, inverse_sigma: Table, pulls: Table) -> Posterior:
    """The posteriors over the grid's points of several tags' readings at once.

    `residuals` holds per tag (first axis) a row per reading, a column per point (dB);
    `inverse_sigma` each reading's 1 / standard deviation; `pulls` per tag the pull's centre
    and information. Side by side, numpy's per-call overhead, most of a lone tag's fix, is
    paid once per pass.
    """
    z = np.abs(residuals)
    z *= inverse_sigma[:, :, None]
    capped = np.minimum(z, np.float32(HUBER_K))
    z += z
    z -= capped
    # Huber per reading, capped * (2 z - capped): z^2 up to K, then 2 K z - K^2.
    cost = np.einsum("tkp,tkp->tp", z, capped)
    centre_x, centre_y, information = pulls[:, 0:1], pulls[:, 1:2], pulls[:, 2:3]
    cost += information * ((grid.xs - centre_x) ** 2 + (grid.ys - centre_y) ** 2)
    least = cost.min(axis=1)
    weights = cost
    weights -= least[:, None]
    weights *= np.float32(-0.5)
    np.exp(weights, out=weights)
    weights /= weights.sum(axis=1, keepdims=True)
    # Mean and spread from the points' moments, in double precision.
    x, y, xx, xy, yy = (weights.astype(np.float64) @ grid.moments).T
    covariance = np.empty((len(x), 2, 2))
    covariance[:, 0, 0] = xx - x * x + grid.cell_variance
    covariance[:, 0, 1] = covariance[:, 1, 0] = xy - x * y
    covariance[:, 1, 1] = yy - y * y + grid.cell_variance
    return Posterior(weights, x, y, covariance, least)


class FloorGrid:
    """The points of one floor, and per receiver the walls between it and each point.

    Tables hold a row per receiver, a column per point, so a fix's receivers are whole rows.
    """

    def __init__(
        self,
        bounds: tuple[tuple[float, float], tuple[float, float]],
        floor: int,
        receivers: Sequence[Receiver],
        walls: Sequence[Segment],
    ) -> None:
        self.floor = floor
        (low_x, low_y), (high_x, high_y) = bounds
        width, depth = high_x - low_x, high_y - low_y
        # Never more than MAX_GRID_POINTS along a side either: a floor as long as the
        # coordinates' whole range (20,000 km) and 2 m deep would get 63,000 in a row.
        self.step = max(
            GRID_STEP_M,
            math.sqrt(width * depth / MAX_GRID_POINTS),
            max(width, depth) / MAX_GRID_POINTS,
        )
        xs, ys = np.meshgrid(
            np.arange(low_x, high_x + 1e-9, self.step),
            np.arange(low_y, high_y + 1e-9, self.step),
        )
        # Single precision: the arrays are read once per fix, and half their size is about
        # a third less time per fix; millimetres of rounding are far below a cell.
        self.xs: Table = xs.ravel().astype(np.float32)
        self.ys: Table = ys.ravel().astype(np.float32)
        # Per point x, y, x^2, xy, y^2: a posterior's mean and spread in one product.
        x, y = xs.ravel(), ys.ravel()
        self.moments: Array = np.column_stack((x, y, x * x, x * y, y * y))
        # A point stands for a square cell: its own spread along each axis.
        self.cell_variance = self.step * self.step / 12.0
        self._receivers = receivers
        self.wall_segments = tuple(walls)
        self.walls: Table = np.vstack(
            [
                crossings(self.xs, self.ys, (r.x, r.y), walls)
                if r.floor == floor
                else np.zeros(self.xs.shape)
                for r in receivers
            ]
        ).astype(np.float32)
        self._log_ranges: dict[float, Table] = {}
        # What a survey measured the model to miss, per receiver and point (survey.py).
        self.correction: Table | None = None

    def log_ranges(self, height: float) -> Table:
        """Per point and receiver, -10 log10 of the 3-D range to a tag at `height`."""
        table = self._log_ranges.get(height)
        if table is None:
            table = np.vstack(
                [
                    -5.0
                    * np.log10(
                        np.maximum(
                            (self.xs - r.x) ** 2 + (self.ys - r.y) ** 2 + (r.z - height) ** 2,
                            MIN_SQUARED_RANGE,
                        )
                    )
                    for r in self._receivers
                ]
            ).astype(np.float32)
            self._log_ranges[height] = table
        return table

    def fixes(self, requests: Sequence[FixRequest], exponent: float, wall_loss: float) -> list[Fix]:
        """The requests' posterior fixes; those of tags at one height are made together.

        Readings are modelled as exponent * log_range - wall_loss * walls, plus the survey's
        correction if there is one.

        Each fix carries, per reading, the residual and log-range expected under the
        posterior and the residual's Huber weight, which the self-calibration learns from.
        """
        heights: dict[float, list[int]] = {}
        for position, request in enumerate(requests):
            heights.setdefault(request.height, []).append(position)
        fixes: dict[int, Fix] = {}
        for height, positions in heights.items():
            log_ranges = self.log_ranges(height)
            # Each receiver's reading less its 1 m power, as the model expects it at each point.
            expected = log_ranges * np.float32(exponent)
            if wall_loss and self.wall_segments:
                expected -= np.float32(wall_loss) * self.walls
            if self.correction is not None:
                expected += self.correction
            width = max(len(requests[p].indices) for p in positions)
            size = max(1, PASS_VALUES // (width * len(self.xs)))
            for start in range(0, len(positions), size):
                part = positions[start : start + size]
                batch = [requests[p] for p in part]
                fixes.update(zip(part, self._pass(batch, log_ranges, expected), strict=True))
        return [fixes[position] for position in range(len(requests))]

    def _pass(self, requests: list[FixRequest], log_ranges: Table, expected: Table) -> list[Fix]:
        """One pass: requests of tags at the height of `log_ranges`, `expected` the model."""
        rows = padded(requests)
        residuals = rows.excess[:, :, None] - expected[rows.index]
        found = posterior(self, residuals, rows.inverse_sigma, rows.pulls)
        # Residuals expected over the posterior, not at its mean: where the posterior is wide
        # its mean sits nearer the middle of the site than the tag, which biased the offsets.
        tags = np.arange(len(requests))[:, None]
        mean_residuals = rows.excess - (found.weights @ expected.T)[tags, rows.index]
        mean_log_ranges = (found.weights @ log_ranges.T)[tags, rows.index]
        robust = np.float32(HUBER_K) / np.maximum(
            np.abs(mean_residuals) * rows.inverse_sigma, np.float32(HUBER_K)
        )
        counts = [len(request.indices) for request in requests]
        degrees = np.maximum(np.array(counts, dtype=np.float64) - 2.0, 1.0)
        fit = np.clip(found.cost / degrees, *FIT_RANGE) ** FIT_POWER
        covariances = found.covariance * fit[:, None, None]
        return [
            Fix(x, y, covariance, cost, residual[:count], weight[:count], log_range[:count])
            for count, x, y, covariance, cost, residual, weight, log_range in zip(
                counts,
                floats(found.x),
                floats(found.y),
                covariances,
                floats(found.cost),
                _rows(mean_residuals),
                _rows(robust),
                _rows(mean_log_ranges),
                strict=True,
            )
        ]


def _rows(table: Floats) -> list[list[float]]:
    """A 2-D array as lists of Python floats, a list per row."""
    return cast(list[list[float]], table.tolist())

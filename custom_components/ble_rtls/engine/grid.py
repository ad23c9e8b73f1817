"""The engine's fix: the posterior mean of a tag's position over a grid of its floor.

Every point of the floor, every GRID_STEP_M, is scored by how well the log-distance model
(with walls) explains the tag's readings there, Huber-robust in dB, plus a Gaussian pull
toward the receivers' RSSI-weighted centroid; the fix is the likelihood-weighted mean of the
points and its covariance their spread. Shadowing and walls make the likelihood lumpy, with
several hills: the mean weighs them all, where a best-fit point (a local optimiser's, or
the grid's best point) jumps from one hill to another. Seeds 1-4 of the simulated sites,
against Levenberg-Marquardt from three starts (`ble-rtls bench`): zone accuracy house 89.3
-> 91.8 %, office 85.0 -> 92.2 %, warehouse 81.8 -> 81.0 %; the grid's best point instead
of its mean made 82.9 % and 80.6 % in the house and office (seeds 1 and 4).

What a point's model needs per receiver (the log of its 3-D range for the tag's height, and
how many walls lie between) is computed once per floor and kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .site import Receiver
from .solver import Array, Fix, Floats, floats
from .walls import Segment, crossings

type Table = NDArray[np.float32]

# Points every GRID_STEP_M, or further apart on a floor so large that it would need more
# than MAX_GRID_POINTS: a fix costs about the same on every site. The posterior is metres
# wide, so points closer than about a metre add little: seeds 1-4, zone accuracy (house /
# warehouse / office) with at most 1500 points 91.4 / 80.2 / 91.3 %, 800 91.6 / 80.5 / 91.7,
# 400 91.5 / 80.4 / 91.6, 200 90.7 / 80.4 / 91.9 % (house median 0.96, 0.97, 0.94, 1.03 m).
# With 400 the simulated house gets 0.71 m, the office 0.79 m, the warehouse 1.75 m.
GRID_STEP_M = 0.5
MAX_GRID_POINTS = 400
HUBER_K = 1.5
# A fix's covariance is scaled by the square root of its fit's cost per degree of freedom
# (within 1/4 and 4): readings that agree better than their noise says tighten it. The
# posterior alone overstated the house's error (reported / actual up to 1.46, seeds 1-4);
# the full ratio understated the office's (0.67), whose error is mostly walls and
# shadowing, which the cost cannot see. With the root: house 0.93-1.33, warehouse
# 0.71-1.13, office 0.71-0.85, zone accuracy 0.1-0.5 points higher.
FIT_RANGE = (0.25, 4.0)
FIT_POWER = 0.5
MIN_SQUARED_RANGE = 0.25


@dataclass(frozen=True, slots=True)
class Pull:
    """A Gaussian pull toward a point: its centre and information (1 / sigma^2 per axis)."""

    x: float
    y: float
    information: float


@dataclass(frozen=True, slots=True)
class Posterior:
    """The points' normalised likelihoods, their mean and covariance, and the least cost."""

    weights: Floats
    x: float
    y: float
    covariance: Array
    cost: float


def posterior(
    xs: Floats,
    ys: Floats,
    step: float,
    residuals: Floats,
    inverse_sigma: Floats,
    pull: Pull | None = None,
) -> Posterior:
    """The posterior over points `xs`, `ys`, `step` apart, of readings with these `residuals`.

    `residuals` holds one row per reading, one column per point (dB); `inverse_sigma` each
    reading's 1 / standard deviation.
    """
    z = np.abs(residuals)
    z *= inverse_sigma[:, None]
    capped = np.minimum(z, HUBER_K)
    z += z
    z -= capped
    # Huber per reading, capped * (2 z - capped): z^2 up to K, then 2 K z - K^2.
    cost = np.einsum("ij,ij->j", z, capped)
    if pull is not None:
        cost += pull.information * ((xs - pull.x) ** 2 + (ys - pull.y) ** 2)
    least = float(cost.min())
    weights = cost
    weights -= least
    weights *= -0.5
    np.exp(weights, out=weights)
    weights /= weights.sum()
    x = float(weights @ xs)
    y = float(weights @ ys)
    dx = xs - x
    dy = ys - y
    weighted_dx = weights * dx
    xy = float(weighted_dx @ dy)
    cell = step * step / 12.0  # a point stands for a square cell: its own spread per axis
    covariance = np.array(
        [[float(weighted_dx @ dx) + cell, xy], [xy, float((weights * dy) @ dy) + cell]]
    )
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
        (low_x, low_y), (high_x, high_y) = bounds
        area = (high_x - low_x) * (high_y - low_y)
        self.step = max(GRID_STEP_M, math.sqrt(area / MAX_GRID_POINTS))
        xs, ys = np.meshgrid(
            np.arange(low_x, high_x + 1e-9, self.step),
            np.arange(low_y, high_y + 1e-9, self.step),
        )
        # Single precision: the arrays are read once per fix, and half their size is about
        # a third less time per fix; millimetres of rounding are far below a cell.
        self.xs: Table = xs.ravel().astype(np.float32)
        self.ys: Table = ys.ravel().astype(np.float32)
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

    def fix(
        self,
        indices: list[int],
        excess: list[float],
        sigma: list[float],
        exponent: float,
        wall_loss: float,
        height: float,
        pull: Pull | None = None,
    ) -> Fix:
        """The posterior fix of readings modelled as exponent * log_range - wall_loss * walls.

        `excess` holds each reading minus its receiver's expected RSSI at 1 m. The fix
        carries, per reading, the residual and log-range expected under the posterior and the
        residual's Huber weight, which the self-calibration learns from.
        """
        log_ranges = self.log_ranges(height)[indices]
        inverse_sigma = 1.0 / np.array(sigma, dtype=np.float32)
        residuals = log_ranges * np.float32(-exponent)
        residuals += np.array(excess, dtype=np.float32)[:, None]
        if wall_loss and self.wall_segments:
            residuals += np.float32(wall_loss) * self.walls[indices]
        found = posterior(self.xs, self.ys, self.step, residuals, inverse_sigma, pull)
        # Learning from the residuals at the mean alone biased the receivers' offsets on the
        # real recording (median 1.50 -> 1.73 m): where the posterior is wide its mean sits
        # nearer the middle of the site than the tag.
        expected = floats(residuals @ found.weights)
        robust = []
        for residual, inverse in zip(expected, floats(inverse_sigma), strict=True):
            z = abs(residual) * inverse
            robust.append(1.0 if z <= HUBER_K else HUBER_K / z)
        low, high = FIT_RANGE
        fit = min(max(found.cost / max(len(indices) - 2, 1), low), high)
        return Fix(
            found.x,
            found.y,
            found.covariance * fit**FIT_POWER,
            found.cost,
            expected,
            robust,
            floats(log_ranges @ found.weights),
        )

"""The engine's fix: the posterior mean of a tag's position over a grid of its floor.

Every point of the floor, every GRID_STEP_M, is scored by how well the log-distance model
(with walls) explains the tag's readings there, Huber-robust in dB, plus a Gaussian pull
toward the receivers' RSSI-weighted centroid; the fix is the likelihood-weighted mean of the
points and its covariance their spread. Shadowing and walls make the likelihood lumpy, with
several hills: the mean weighs them all, where a best-fit point (a local optimiser's, or
the grid's best point) jumps from one hill to another. Seeds 1-4 of the simulated sites,
against Levenberg-Marquardt from three starts: zone accuracy house 89.3 -> 91.4 %, office
85.0 -> 91.0 %; the grid's best point instead of its mean made 82.9 % and 80.6 %.

What a point's model needs per receiver (the log of its 3-D range for the tag's height, and
how many walls lie between) is computed once per floor and kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .site import Receiver
from .solver import Fix, floats
from .walls import Segment, crossings

type Array = NDArray[np.float64]

GRID_STEP_M = 0.5

HUBER_K = 1.5
MIN_SQUARED_RANGE = 0.25
# A grid point stands for a cell of GRID_STEP_M x GRID_STEP_M: its own spread per axis.
CELL_VARIANCE = GRID_STEP_M**2 / 12.0


@dataclass(frozen=True, slots=True)
class Pull:
    """A Gaussian pull toward a point: its centre and information (1 / sigma^2 per axis)."""

    x: float
    y: float
    information: float


@dataclass(frozen=True, slots=True)
class Posterior:
    """The points' normalised likelihoods, their mean and covariance, and the least cost."""

    weights: Array
    x: float
    y: float
    covariance: Array
    cost: float


def posterior(
    xs: Array, ys: Array, residuals: Array, inverse_sigma: Array, pull: Pull | None = None
) -> Posterior:
    """The posterior over points `xs`, `ys` of readings with these `residuals` there.

    `residuals` holds one row per point, one column per reading (dB); `inverse_sigma` each
    reading's 1 / standard deviation.
    """
    z = np.abs(residuals) * inverse_sigma
    beyond = np.maximum(z - HUBER_K, 0.0)
    cost = np.sum(z * z - beyond * beyond, axis=1)  # Huber: quadratic, then linear past K
    if pull is not None:
        cost += pull.information * ((xs - pull.x) ** 2 + (ys - pull.y) ** 2)
    least = float(cost.min())
    weights = np.exp(-0.5 * (cost - least))
    weights /= weights.sum()
    x = float(weights @ xs)
    y = float(weights @ ys)
    dx = xs - x
    dy = ys - y
    weighted_dx = weights * dx
    xy = float(weighted_dx @ dy)
    covariance = np.array(
        [
            [float(weighted_dx @ dx) + CELL_VARIANCE, xy],
            [xy, float(weights @ (dy * dy)) + CELL_VARIANCE],
        ]
    )
    return Posterior(weights, x, y, covariance, least)


class FloorGrid:
    """The points of one floor, and per receiver the walls between it and each point."""

    def __init__(
        self,
        bounds: tuple[tuple[float, float], tuple[float, float]],
        floor: int,
        receivers: Sequence[Receiver],
        walls: Sequence[Segment],
    ) -> None:
        (low_x, low_y), (high_x, high_y) = bounds
        xs, ys = np.meshgrid(
            np.arange(low_x, high_x + 1e-9, GRID_STEP_M),
            np.arange(low_y, high_y + 1e-9, GRID_STEP_M),
        )
        self.xs: Array = xs.ravel()
        self.ys: Array = ys.ravel()
        self._receivers = receivers
        self.walls: Array = np.column_stack(
            [
                crossings(self.xs, self.ys, (r.x, r.y), walls)
                if r.floor == floor
                else np.zeros(self.xs.shape)
                for r in receivers
            ]
        )
        self._log_ranges: dict[float, Array] = {}

    def log_ranges(self, height: float) -> Array:
        """Per point and receiver, -10 log10 of the 3-D range to a tag at `height`."""
        table = self._log_ranges.get(height)
        if table is None:
            table = np.column_stack(
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
            )
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
        log_ranges = self.log_ranges(height)[:, indices]
        inverse_sigma = 1.0 / np.array(sigma)
        residuals = np.array(excess) - exponent * log_ranges
        if wall_loss:
            residuals += wall_loss * self.walls[:, indices]
        found = posterior(self.xs, self.ys, residuals, inverse_sigma, pull)
        # Learning from the residuals at the mean alone biased the receivers' offsets on the
        # real recording (median 1.50 -> 1.73 m): where the posterior is wide its mean sits
        # nearer the middle of the site than the tag.
        expected = floats(found.weights @ residuals)
        robust = []
        for residual, inverse in zip(expected, floats(inverse_sigma), strict=True):
            z = abs(residual) * inverse
            robust.append(1.0 if z <= HUBER_K else HUBER_K / z)
        return Fix(
            found.x,
            found.y,
            found.covariance,
            found.cost,
            expected,
            robust,
            floats(found.weights @ log_ranges),
        )

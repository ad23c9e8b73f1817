"""Survey points: where a tag stood at a known place, what each receiver's model misses there.

The model (log-distance, walls, the biases learnt so far) leaves each receiver a deviation
that varies over the floor (shadowing: metres wide, several dB) and a part that does not
(what its learnt bias still lacks). Neither can be learnt from the tags' own fixes, which
absorb it: only readings at known places see it. At a survey point each receiver's reading
less the model measures the deviation there; the point's mean over its receivers is taken
off, so the surveying tag's own power does not matter. Around and between the points it is
interpolated per receiver as a Gaussian process: a constant (what its learnt bias still
lacks) plus a smooth field (shadowing), each point measured with some noise; far from every
point the correction falls back to the constant. How large each part is, and how far the
field reaches, differ between sites and surveys (an old survey, or one taken another way,
is mostly noise), so they are the ones under which the survey's own deviations are most
likely (each receiver's marginal likelihood). The grid's model takes the
correction (grid.py), so the fixes and the self-calibration both see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .grid import MIN_SQUARED_RANGE, FloorGrid, Table
from .site import MIN_SURVEY_RECEIVERS, Receiver, SurveyPoint
from .walls import crossings

type Matrix = NDArray[np.float64]

# The Gaussian process's sizes to choose from: constant (dB), field (dB), its reach (m) and
# each point's noise (dB). A field of 0 is no field: the survey then corrects biases alone.
BIAS_DB = (1.0, 3.0, 6.0)
FIELD_DB = (0.0, 2.0, 4.0, 6.0)
LENGTH_M = (3.0, 6.0)
NOISE_DB = (1.5, 3.0, 6.0)


@dataclass(frozen=True, slots=True)
class Prior:
    """The Gaussian process's sizes: constant, field, reach and noise."""

    bias_db: float
    field_db: float
    length_m: float
    noise_db: float


# The corrections are worked out again only when the deviations moved this much (dB) since,
# and the priors chosen again when they moved PRIORS_AGAIN_DB: with the path loss the survey
# measured held, neither moves, and a site does not pay for them every half minute.
CORRECTIONS_AGAIN_DB = 0.05
PRIORS_AGAIN_DB = 0.5
# A survey's exponent (and with it its biases) is held only when known to this standard error.
MAX_EXPONENT_ERROR = 0.1

PRIORS = tuple(
    Prior(bias, field, length, noise)
    for bias in BIAS_DB
    for noise in NOISE_DB
    for field in FIELD_DB
    for length in (LENGTH_M if field > 0 else LENGTH_M[:1])
)


class SurveyMap:
    """One floor's survey points, their geometry to each receiver worked out once."""

    def __init__(
        self,
        points: Sequence[SurveyPoint],
        grid: FloorGrid,
        receivers: Sequence[Receiver],
        index: Mapping[str, int],
    ) -> None:
        self._grid = grid
        self._receivers = len(receivers)
        # Per reading (one receiver at one point): the point, the receiver, the reading with
        # the receiver's offset, the log-range term and the walls between them.
        point_of, receiver_of, rssi, log_range, walls = [], [], [], [], []
        for number, point in enumerate(points):
            for receiver_id, value in point.rssi:
                i = index[receiver_id]
                receiver = receivers[i]
                if receiver.floor != grid.floor:
                    continue
                squared = (
                    (point.x - receiver.x) ** 2
                    + (point.y - receiver.y) ** 2
                    + (receiver.z - point.height) ** 2
                )
                point_of.append(number)
                receiver_of.append(i)
                rssi.append(value + receiver.rssi_offset)
                log_range.append(-5.0 * np.log10(max(squared, MIN_SQUARED_RANGE)))
                walls.append(
                    float(
                        crossings(
                            np.array([point.x]),
                            np.array([point.y]),
                            (receiver.x, receiver.y),
                            grid.wall_segments,
                        )[0]
                    )
                )
        self._point_of = np.array(point_of, dtype=np.intp)
        self._receiver_of = np.array(receiver_of, dtype=np.intp)
        self._rssi = np.array(rssi)
        self._log_range = np.array(log_range)
        self._walls = np.array(walls)
        self._xs = np.array([p.x for p in points])
        self._ys = np.array([p.y for p in points])
        self._count = np.bincount(self._point_of, minlength=len(points))
        self.priors: dict[int, Prior] = {}  # per receiver, chosen with the corrections
        self._priors_for: Matrix | None = None  # the deviations the priors were chosen for
        self._table_for: Matrix | None = None
        self._table: Table | None = None

    def path_loss(self, wall_loss: float) -> tuple[dict[int, float], float, int] | None:
        """Each surveyed receiver's bias and the exponent, measured from the survey alone.

        Least squares over every reading: each point's power, plus the receiver's bias
        (averaging zero on the floor), less the exponent's share of the range. Measured at
        known places, so tag fixes, which absorb a bias and trade it against the survey's
        correction without end, need not learn them. Also the readings it rests on. None
        unless the survey pins the exponent to MAX_EXPONENT_ERROR (one standard error): a
        few points tell it too loosely to be held.
        """
        receivers = np.unique(self._receiver_of)
        if len(receivers) < MIN_SURVEY_RECEIVERS:
            return None
        rows = len(self._rssi)
        unknowns = len(receivers) + len(self._count) + 1
        if rows <= unknowns:
            return None
        column = np.searchsorted(receivers, self._receiver_of)
        design = np.zeros((rows + 1, unknowns))
        design[np.arange(rows), column] = 1.0
        design[np.arange(rows), len(receivers) + self._point_of] = 1.0
        design[:rows, -1] = self._log_range
        design[rows, : len(receivers)] = 1.0  # the gauge: biases average zero
        target = np.append(self._rssi + wall_loss * self._walls, 0.0)
        solution = np.linalg.lstsq(design, target, rcond=None)[0]
        residual = target - design @ solution
        variance = float(residual @ residual) / (rows + 1 - unknowns)
        spread = np.linalg.pinv(design.T @ design)[-1, -1] * variance
        if not spread <= MAX_EXPONENT_ERROR**2:
            return None
        biases = {int(r): float(solution[k]) for k, r in enumerate(receivers)}
        return biases, float(solution[-1]), rows

    def corrections(self, biases: Sequence[float], exponent: float, wall_loss: float) -> Table:
        """Per receiver (row) and grid point (column), the dB the model misses there."""
        deviation = self._rssi - (
            np.asarray(biases)[self._receiver_of]
            + exponent * self._log_range
            - wall_loss * self._walls
        )
        point_mean = np.bincount(self._point_of, deviation) / np.maximum(self._count, 1)
        deviation -= point_mean[self._point_of]
        if self._table is not None and _moved(deviation, self._table_for) < CORRECTIONS_AGAIN_DB:
            return self._table
        choose = _moved(deviation, self._priors_for) >= PRIORS_AGAIN_DB
        if choose:
            self._priors_for = deviation.copy()
        grid = self._grid
        table = np.zeros((self._receivers, len(grid.xs)), dtype=np.float32)
        grid_xs, grid_ys = grid.xs.astype(np.float64), grid.ys.astype(np.float64)
        for receiver in np.unique(self._receiver_of):
            mine = self._receiver_of == receiver
            xs, ys = self._xs[self._point_of[mine]], self._ys[self._point_of[mine]]
            if choose:
                self.priors[int(receiver)] = _likeliest(xs, ys, deviation[mine])
            prior = self.priors[int(receiver)]
            weights = np.linalg.solve(_measured(xs, ys, prior), deviation[mine])
            table[receiver] = _kernel(grid_xs, grid_ys, xs, ys, prior) @ weights
        self._table, self._table_for = table, deviation.copy()
        return table


def _moved(deviation: Matrix, before: Matrix | None) -> float:
    """The largest change (dB) of any reading's deviation since `before` (inf: never)."""
    return np.inf if before is None else float(np.max(np.abs(deviation - before), initial=0.0))


def _likeliest(xs: Matrix, ys: Matrix, deviation: Matrix) -> Prior:
    """The prior under which one receiver's deviations at the survey points are most likely."""
    best, best_score = PRIORS[0], -np.inf
    for prior in PRIORS:
        factor = np.linalg.cholesky(_measured(xs, ys, prior))
        solved = np.linalg.solve(factor, deviation)
        score = -float(solved @ solved) / 2.0 - float(np.log(np.diag(factor)).sum())
        if score > best_score:
            best, best_score = prior, score
    return best


def _measured(xs: Matrix, ys: Matrix, prior: Prior) -> Matrix:
    """The covariance (dB^2) of one receiver's deviations as measured at the survey points."""
    covariance = _kernel(xs, ys, xs, ys, prior)
    covariance[np.diag_indices_from(covariance)] += prior.noise_db**2
    return covariance


def _kernel(ax: Matrix, ay: Matrix, bx: Matrix, by: Matrix, prior: Prior) -> Matrix:
    """The prior covariance (dB^2) of a receiver's deviation at points a and points b."""
    squared: Matrix = (ax[:, None] - bx[None, :]) ** 2 + (ay[:, None] - by[None, :]) ** 2
    shadowing: Matrix = np.exp(squared / (-2.0 * prior.length_m**2))
    return prior.bias_db**2 + prior.field_db**2 * shadowing

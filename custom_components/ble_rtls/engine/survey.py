"""Survey points: where a tag stood at a known place, what each receiver's model misses there.

The model (log-distance, walls, the biases learnt so far) leaves each receiver a deviation
that varies over the floor (shadowing: metres wide, several dB) and a part that does not
(what its learnt bias still lacks). Neither can be learnt from the tags' own fixes, which
absorb it: only readings at known places see it. At a survey point each receiver's reading
less the model measures the deviation there; the point's mean over its receivers is taken
off, so the surveying tag's own power does not matter. Around and between the points it is
interpolated per receiver as a Gaussian process, a constant (SURVEY_BIAS_DB) plus a smooth
field (SURVEY_SHADOWING_DB over SURVEY_LENGTH_M, indoor shadowing's usual size), each point
measured to SURVEY_NOISE_DB; far from every point the correction falls back to the
constant. The grid's model takes the correction (grid.py), so the fixes and the
self-calibration both see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from .grid import MIN_SQUARED_RANGE, FloorGrid, Table
from .site import Receiver, SurveyPoint
from .walls import crossings

type Matrix = NDArray[np.float64]

SURVEY_BIAS_DB = 3.0
SURVEY_SHADOWING_DB = 4.0
SURVEY_LENGTH_M = 3.0
SURVEY_NOISE_DB = 1.5


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

    def corrections(self, biases: Sequence[float], exponent: float, wall_loss: float) -> Table:
        """Per receiver (row) and grid point (column), the dB the model misses there."""
        deviation = self._rssi - (
            np.asarray(biases)[self._receiver_of]
            + exponent * self._log_range
            - wall_loss * self._walls
        )
        point_mean = np.bincount(self._point_of, deviation) / np.maximum(self._count, 1)
        deviation -= point_mean[self._point_of]
        grid = self._grid
        table = np.zeros((self._receivers, len(grid.xs)), dtype=np.float32)
        grid_xs, grid_ys = grid.xs.astype(np.float64), grid.ys.astype(np.float64)
        for receiver in np.unique(self._receiver_of):
            mine = self._receiver_of == receiver
            xs, ys = self._xs[self._point_of[mine]], self._ys[self._point_of[mine]]
            covariance = _kernel(xs, ys, xs, ys)
            covariance[np.diag_indices_from(covariance)] += SURVEY_NOISE_DB**2
            weights = np.linalg.solve(covariance, deviation[mine])
            table[receiver] = _kernel(grid_xs, grid_ys, xs, ys) @ weights
        return table


def _kernel(ax: Matrix, ay: Matrix, bx: Matrix, by: Matrix) -> Matrix:
    """The prior covariance (dB^2) of a receiver's deviation at points a and points b."""
    squared: Matrix = (ax[:, None] - bx[None, :]) ** 2 + (ay[:, None] - by[None, :]) ** 2
    shadowing: Matrix = np.exp(squared / (-2.0 * SURVEY_LENGTH_M**2))
    return SURVEY_BIAS_DB**2 + SURVEY_SHADOWING_DB**2 * shadowing

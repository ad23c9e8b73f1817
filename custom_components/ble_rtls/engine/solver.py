"""A position fix and its uncertainty, as the grid (`grid.py`) makes it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

type Array = NDArray[np.float64]
type Floats = NDArray[np.floating[Any]]  # single or double precision


@dataclass(frozen=True, slots=True)
class Fix:
    """One solution: position, its 2x2 covariance and the robust cost it reached.

    The engine's fixes also carry, per reading, the residual, robust weight and -10 log10 of
    the range at the solution, which its self-calibration learns from.
    """

    x: float
    y: float
    covariance: Array
    cost: float
    residuals: list[float]
    weights: list[float]
    log_ranges: list[float] = field(default_factory=list)  # -10 log10(range) each

    @property
    def radius(self) -> float:
        """1-sigma horizontal radius: sqrt of the covariance trace."""
        return math.sqrt(max(float(self.covariance[0, 0] + self.covariance[1, 1]), 0.0))


def floats(values: Floats) -> list[float]:
    """A 1-D array as Python floats (fast `tolist`, typed)."""
    return cast(list[float], values.tolist())

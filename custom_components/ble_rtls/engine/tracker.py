"""Position tracking: a constant-velocity Kalman filter with speed gating per motion class.

Fixes from RSSI jump by metres from second to second; people walk at about 1.5 m/s and
forklifts drive at up to 11 m/s (40 km/h). The filter's process noise and speed limit come
from the tag's motion class, so a pallet stays put while a forklift is followed. Fixes far
outside the prediction (Mahalanobis) are down-weighted rather than dropped, so a tag that
really moved is re-acquired within a few fixes. filterpy is the test reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from .site import MotionClass

type Array = NDArray[np.float64]

GATE_CHI2 = 9.21  # 99 % for 2 degrees of freedom


@dataclass(frozen=True, slots=True)
class MotionModel:
    """Acceleration noise (m^2/s^3) and top speed (m/s) of a motion class."""

    acceleration_psd: float
    max_speed: float


MOTION_MODELS: dict[MotionClass, MotionModel] = {
    # An asset's fixes err by metres for tens of seconds at a time (whichever receivers heard
    # it lately): at 0.001 its track followed them across zone walls (simulated warehouse and
    # office, seeds 1-4: up to 12 stationary zone changes per hour, 8.3 at 0.0001). Moved
    # 12 m, it changes zone 14 s later instead of 8 s.
    "asset": MotionModel(acceleration_psd=0.0001, max_speed=1.5),
    "person": MotionModel(acceleration_psd=0.5, max_speed=2.0),
    "vehicle": MotionModel(acceleration_psd=6.0, max_speed=11.0),
}


class PositionTracker:
    """State (x, y, vx, vy) and its symmetric covariance, kept as its 10 distinct entries.

    Scalar arithmetic written out for the constant-velocity structure: numpy's per-call
    overhead on 4x4 matrices cost 5x more (72 us a fix), and list-of-lists rows another 2x.
    """

    __slots__ = ("_p", "_s", "motion", "time")

    def __init__(self, motion: MotionModel) -> None:
        self.motion = motion
        self._s = [0.0, 0.0, 0.0, 0.0]
        # p00, p01, p02, p03, p11, p12, p13, p22, p23, p33
        self._p = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0)
        self.time: float | None = None

    @property
    def state(self) -> Array:
        """A copy of (x, y, vx, vy)."""
        return np.array(self._s)

    @property
    def covariance(self) -> Array:
        """A copy of the 4x4 covariance."""
        p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = self._p
        return np.array(
            [
                [p00, p01, p02, p03],
                [p01, p11, p12, p13],
                [p02, p12, p22, p23],
                [p03, p13, p23, p33],
            ]
        )

    def predict(self, time: float) -> None:
        """Advance the state to `time`."""
        if self.time is None:
            return
        dt = max(time - self.time, 0.0)
        self.time = time
        if dt == 0.0:
            return
        s = self._s
        s[0] += dt * s[2]
        s[1] += dt * s[3]
        p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = self._p
        psd = self.motion.acceleration_psd
        q11, q12, q22 = psd * dt**3 / 3.0, psd * dt**2 / 2.0, psd * dt
        dt2 = dt * dt
        self._p = (
            p00 + 2.0 * dt * p02 + dt2 * p22 + q11,
            p01 + dt * (p03 + p12) + dt2 * p23,
            p02 + dt * p22 + q12,
            p03 + dt * p23,
            p11 + 2.0 * dt * p13 + dt2 * p33 + q11,
            p12 + dt * p23,
            p13 + dt * p33 + q12,
            p22 + q22,
            p23,
            p33 + q22,
        )

    def update(self, time: float, position: tuple[float, float], measurement_cov: Array) -> None:
        """Fold in one fix with its 2x2 covariance."""
        (r00, r01), (r10, r11) = cast(list[list[float]], measurement_cov.tolist())
        if self.time is None:
            self.time = time
            self._s = [float(position[0]), float(position[1]), 0.0, 0.0]
            spread = self.motion.max_speed**2 / 4
            self._p = (r00, r01, 0.0, 0.0, r11, 0.0, 0.0, spread, 0.0, spread)
            return
        self.predict(time)
        s = self._s
        p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = self._p
        y0, y1 = position[0] - s[0], position[1] - s[1]
        s00, s01, s10, s11 = p00 + r00, p01 + r01, p01 + r10, p11 + r11
        det = s00 * s11 - s01 * s10
        distance2 = (y0 * (s11 * y0 - s01 * y1) + y1 * (s00 * y1 - s10 * y0)) / det
        if distance2 > GATE_CHI2:
            scale = distance2 / GATE_CHI2
            s00, s01 = p00 + r00 * scale, p01 + r01 * scale
            s10, s11 = p01 + r10 * scale, p11 + r11 * scale
            det = s00 * s11 - s01 * s10
        i00, i01, i10, i11 = s11 / det, -s01 / det, -s10 / det, s00 / det
        # Gain rows (k_i0, k_i1) = (P_i0, P_i1) S^-1
        k00, k01 = p00 * i00 + p01 * i10, p00 * i01 + p01 * i11
        k10, k11 = p01 * i00 + p11 * i10, p01 * i01 + p11 * i11
        k20, k21 = p02 * i00 + p12 * i10, p02 * i01 + p12 * i11
        k30, k31 = p03 * i00 + p13 * i10, p03 * i01 + p13 * i11
        s[0] += k00 * y0 + k01 * y1
        s[1] += k10 * y0 + k11 * y1
        s[2] += k20 * y0 + k21 * y1
        s[3] += k30 * y0 + k31 * y1
        # P - K (P_0j, P_1j)
        self._p = (
            p00 - k00 * p00 - k01 * p01,
            p01 - k00 * p01 - k01 * p11,
            p02 - k00 * p02 - k01 * p12,
            p03 - k00 * p03 - k01 * p13,
            p11 - k10 * p01 - k11 * p11,
            p12 - k10 * p02 - k11 * p12,
            p13 - k10 * p03 - k11 * p13,
            p22 - k20 * p02 - k21 * p12,
            p23 - k20 * p03 - k21 * p13,
            p33 - k30 * p03 - k31 * p13,
        )
        speed = math.hypot(s[2], s[3])
        if speed > self.motion.max_speed:
            s[2] *= self.motion.max_speed / speed
            s[3] *= self.motion.max_speed / speed

    def clamp(self, low: tuple[float, float], high: tuple[float, float]) -> tuple[float, float]:
        """Keep the position inside a box (the site); returns it."""
        s = self._s
        s[0] = min(max(s[0], low[0]), high[0])
        s[1] = min(max(s[1], low[1]), high[1])
        return s[0], s[1]

    @property
    def position(self) -> tuple[float, float]:
        """Current (x, y)."""
        return self._s[0], self._s[1]

    @property
    def speed(self) -> float:
        """Current speed (m/s)."""
        return math.hypot(self._s[2], self._s[3])

    @property
    def radius(self) -> float:
        """1-sigma horizontal radius of the position."""
        return math.sqrt(max(self._p[0] + self._p[4], 0.0))


def transition_matrix(dt: float) -> Array:
    """Constant-velocity transition for (x, y, vx, vy)."""
    return np.array(
        [[1.0, 0.0, dt, 0.0], [0.0, 1.0, 0.0, dt], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    )


def process_noise(dt: float, psd: float) -> Array:
    """Discrete white-acceleration noise for (x, y, vx, vy)."""
    q11, q12, q22 = dt**3 / 3.0, dt**2 / 2.0, dt
    return psd * np.array(
        [[q11, 0.0, q12, 0.0], [0.0, q11, 0.0, q12], [q12, 0.0, q22, 0.0], [0.0, q12, 0.0, q22]]
    )

"""Position tracking: constant-velocity Kalman filters with speed gating per motion class.

Fixes from RSSI jump by metres from second to second; people walk at about 1.5 m/s and
forklifts drive at up to 11 m/s (40 km/h). The filter's process noise and speed limit come
from the tag's motion class, so a pallet stays put while a forklift is followed. Fixes far
outside the prediction (Mahalanobis) are down-weighted rather than dropped, so a tag that
really moved is re-acquired within a few fixes. filterpy is the test reference. People and
vehicles, who may also stand still for hours, are tracked by two such filters at once
(`StillOrMovingTracker`).
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

# The distinct entries of a symmetric 4x4 covariance: p00, p01, p02, p03, p11, p12, p13,
# p22, p23, p33.
type Entries = tuple[float, float, float, float, float, float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class MotionModel:
    """Acceleration noise (m^2/s^3), top speed and 1-sigma start speed (m/s) of a motion class.

    The start speed is the spread of each velocity component at a tag's first fix.
    """

    acceleration_psd: float
    max_speed: float
    start_speed: float


MOTION_MODELS: dict[MotionClass, MotionModel] = {
    # An asset's fixes err by metres for tens of seconds at a time: a stiffer track keeps it
    # from following them across walls. A first heard asset is most likely still, so its
    # start speed is low: the drift of its first fixes is not taken for a walk.
    "asset": MotionModel(acceleration_psd=0.0001, max_speed=1.5, start_speed=0.5),
    "person": MotionModel(acceleration_psd=0.5, max_speed=2.0, start_speed=1.0),
    "vehicle": MotionModel(acceleration_psd=6.0, max_speed=11.0, start_speed=5.5),
}
# The still model's noise is an asset's (its velocity is zeroed every step); a switch between
# models is allowed 5 % a second.
STILL_PSD = MOTION_MODELS["asset"].acceleration_psd
SWITCH_PER_S = 0.05
MIN_SWITCH = 1e-6


class PositionTracker:
    """State (x, y, vx, vy) and its symmetric covariance, kept as its 10 distinct entries.

    Scalar arithmetic written out for the constant-velocity structure: numpy's per-call
    overhead on 4x4 matrices cost 5x more (72 us a fix), and list-of-lists rows another 2x.
    """

    __slots__ = ("_p", "_s", "motion", "time")

    def __init__(self, motion: MotionModel) -> None:
        self.motion = motion
        self._s = [0.0, 0.0, 0.0, 0.0]
        self._p: Entries = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0)
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

    def update(self, time: float, position: tuple[float, float], measurement_cov: Array) -> float:
        """Fold in one fix with its 2x2 covariance; returns how likely the fix was.

        The likelihood is the innovation's Gaussian density (without its 2 pi), its
        exponent capped at the gate, as the fix's weight is beyond it; 1.0 for a first fix.
        """
        (r00, r01), (r10, r11) = cast(list[list[float]], measurement_cov.tolist())
        if self.time is None:
            self.time = time
            self._s = [float(position[0]), float(position[1]), 0.0, 0.0]
            spread = self.motion.start_speed**2
            self._p = (r00, r01, 0.0, 0.0, r11, 0.0, 0.0, spread, 0.0, spread)
            return 1.0
        self.predict(time)
        s = self._s
        p00, p01, p02, p03, p11, p12, p13, p22, p23, p33 = self._p
        y0, y1 = position[0] - s[0], position[1] - s[1]
        s00, s01, s10, s11 = p00 + r00, p01 + r01, p01 + r10, p11 + r11
        det = s00 * s11 - s01 * s10
        distance2 = (y0 * (s11 * y0 - s01 * y1) + y1 * (s00 * y1 - s10 * y0)) / det
        likelihood = math.exp(-0.5 * min(distance2, GATE_CHI2)) / math.sqrt(det)
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
        return likelihood

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


class StillOrMovingTracker:
    """Two hypotheses, still and moving, mixed by how well each predicts the fixes (IMM).

    A person sitting or a parked forklift, tracked with its motion class's model alone,
    wanders with the noise of its fixes and, near a wall, changes zone over and over. Here a
    still model (velocity zero) and the class's own run side by side, each starting a step
    from their mixture (interacting multiple models); the track is the mixture, weighted by
    the probability of each, which may switch with SWITCH_PER_S per second. Walkers pay: a
    start is taken for a move only once the fixes show it. An asset keeps its own filter
    alone: its noise is the still model's.
    """

    __slots__ = ("_moving", "_moving_share", "_still", "time")

    def __init__(self, motion: MotionModel) -> None:
        self._still = PositionTracker(MotionModel(STILL_PSD, 0.0, 0.0))
        self._moving = PositionTracker(motion)
        self._moving_share = 0.5
        self.time: float | None = None

    def update(self, time: float, position: tuple[float, float], measurement_cov: Array) -> None:
        """Fold in one fix with its 2x2 covariance."""
        still, moving = self._still, self._moving
        if self.time is not None:
            # Never quite zero, so neither model's share can vanish (a repeated time).
            switch = min(max(SWITCH_PER_S * (time - self.time), MIN_SWITCH), 0.5)
            share = self._moving_share
            into_still = (1.0 - switch) * (1.0 - share) + switch * share
            into_moving = (1.0 - switch) * share + switch * (1.0 - share)
            # Each model starts from the mixture of both, weighted by where it came from.
            still_s, still_p = _blend((1.0 - switch) * (1.0 - share) / into_still, still, moving)
            moving_s, moving_p = _blend(switch * (1.0 - share) / into_moving, still, moving)
            still._s = [still_s[0], still_s[1], 0.0, 0.0]
            p00, p01, _, _, p11, *_ = still_p
            still._p = (p00, p01, 0.0, 0.0, p11, 0.0, 0.0, 0.0, 0.0, 0.0)
            moving._s, moving._p = moving_s, moving_p
            still_likelihood = still.update(time, position, measurement_cov) * into_still
            moving_likelihood = moving.update(time, position, measurement_cov) * into_moving
            total = still_likelihood + moving_likelihood
            if total > 0.0:
                self._moving_share = moving_likelihood / total
        else:
            still.update(time, position, measurement_cov)
            moving.update(time, position, measurement_cov)
        self.time = time

    def clamp(self, low: tuple[float, float], high: tuple[float, float]) -> tuple[float, float]:
        """Keep both hypotheses inside a box (the site); returns the position."""
        self._still.clamp(low, high)
        self._moving.clamp(low, high)
        return self.position

    @property
    def moving_share(self) -> float:
        """The probability that the tag is moving."""
        return self._moving_share

    @property
    def position(self) -> tuple[float, float]:
        """Current (x, y): the mixture of both hypotheses."""
        share = self._moving_share
        (sx, sy), (mx, my) = self._still.position, self._moving.position
        return sx + share * (mx - sx), sy + share * (my - sy)

    @property
    def speed(self) -> float:
        """The moving hypothesis's speed (m/s).

        Not the mixture's: the engine shortens the readings' window and the zone its margin
        for a tag that may be moving, and the mixture's speed tells that too late.
        """
        return self._moving.speed

    @property
    def radius(self) -> float:
        """1-sigma horizontal radius of the mixture, the spread between both included."""
        share = self._moving_share
        (sx, sy), (mx, my) = self._still.position, self._moving.position
        p, q = self._still._p, self._moving._p
        variance = (1.0 - share) * (p[0] + p[4]) + share * (q[0] + q[4])
        variance += share * (1.0 - share) * ((sx - mx) ** 2 + (sy - my) ** 2)
        return math.sqrt(max(variance, 0.0))


def _blend(
    weight: float, first: PositionTracker, second: PositionTracker
) -> tuple[list[float], Entries]:
    """The mixture of two trackers' Gaussians, `weight` of the first.

    Its mean, and its covariance, which includes the spread between their means.
    """
    other = 1.0 - weight
    (a0, a1, a2, a3), (b0, b1, b2, b3) = first._s, second._s
    d0, d1, d2, d3 = a0 - b0, a1 - b1, a2 - b2, a3 - b3
    spread = weight * other
    f, g = first._p, second._p
    return [
        weight * a0 + other * b0,
        weight * a1 + other * b1,
        weight * a2 + other * b2,
        weight * a3 + other * b3,
    ], (
        weight * f[0] + other * g[0] + spread * d0 * d0,
        weight * f[1] + other * g[1] + spread * d0 * d1,
        weight * f[2] + other * g[2] + spread * d0 * d2,
        weight * f[3] + other * g[3] + spread * d0 * d3,
        weight * f[4] + other * g[4] + spread * d1 * d1,
        weight * f[5] + other * g[5] + spread * d1 * d2,
        weight * f[6] + other * g[6] + spread * d1 * d3,
        weight * f[7] + other * g[7] + spread * d2 * d2,
        weight * f[8] + other * g[8] + spread * d2 * d3,
        weight * f[9] + other * g[9] + spread * d3 * d3,
    )


type Tracker = PositionTracker | StillOrMovingTracker


def new_tracker(motion: MotionClass) -> Tracker:
    """An asset's own filter (nearly still already); people and vehicles get both models."""
    model = MOTION_MODELS[motion]
    return PositionTracker(model) if motion == "asset" else StillOrMovingTracker(model)


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

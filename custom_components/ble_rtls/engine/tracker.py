"""Position tracking: a constant-velocity Kalman filter with speed gating per motion class.

Fixes from RSSI jump by metres from second to second; people walk at about 1.5 m/s and
forklifts drive at up to 11 m/s (40 km/h). The filter's process noise and speed limit come
from the tag's motion class, so a pallet stays put while a forklift is followed. Fixes far
outside the prediction (Mahalanobis) are down-weighted rather than dropped, so a tag that
really moved is re-acquired within a few fixes. numpy only: filterpy is the test reference.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    "asset": MotionModel(acceleration_psd=0.001, max_speed=1.5),
    "person": MotionModel(acceleration_psd=0.5, max_speed=2.0),
    "vehicle": MotionModel(acceleration_psd=6.0, max_speed=11.0),
}


class PositionTracker:
    """State (x, y, vx, vy) and its covariance."""

    __slots__ = ("covariance", "motion", "state", "time")

    def __init__(self, motion: MotionModel) -> None:
        self.motion = motion
        self.state: Array = np.zeros(4)
        self.covariance: Array = np.eye(4)
        self.time: float | None = None

    def predict(self, time: float) -> None:
        """Advance the state to `time`."""
        if self.time is None:
            return
        dt = max(time - self.time, 0.0)
        self.time = time
        if dt == 0.0:
            return
        transition = transition_matrix(dt)
        self.state = transition @ self.state
        self.covariance = transition @ self.covariance @ transition.T + process_noise(
            dt, self.motion.acceleration_psd
        )

    def update(self, time: float, position: tuple[float, float], measurement_cov: Array) -> None:
        """Fold in one fix with its 2x2 covariance."""
        z = np.array(position)
        if self.time is None:
            self.time = time
            self.state = np.array([z[0], z[1], 0.0, 0.0])
            self.covariance = np.zeros((4, 4))
            self.covariance[:2, :2] = measurement_cov
            self.covariance[2:, 2:] = np.eye(2) * self.motion.max_speed**2 / 4
            return
        self.predict(time)
        innovation = z - self.state[:2]
        innovation_cov = self.covariance[:2, :2] + measurement_cov
        distance2 = float(innovation @ np.linalg.solve(innovation_cov, innovation))
        if distance2 > GATE_CHI2:
            measurement_cov = measurement_cov * (distance2 / GATE_CHI2)
            innovation_cov = self.covariance[:2, :2] + measurement_cov
        gain = self.covariance[:, :2] @ np.linalg.inv(innovation_cov)
        self.state = self.state + gain @ innovation
        self.covariance = (np.eye(4) - gain @ OBSERVE) @ self.covariance
        speed = float(np.hypot(self.state[2], self.state[3]))
        if speed > self.motion.max_speed:
            self.state[2:] *= self.motion.max_speed / speed

    @property
    def position(self) -> tuple[float, float]:
        """Current (x, y)."""
        return float(self.state[0]), float(self.state[1])

    @property
    def radius(self) -> float:
        """1-sigma horizontal radius of the position."""
        return float(np.sqrt(max(self.covariance[0, 0] + self.covariance[1, 1], 0.0)))


OBSERVE: Array = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])


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

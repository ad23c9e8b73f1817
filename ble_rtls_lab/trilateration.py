"""Position from ranges: the baselines' solvers.

`solve_ranges` (plain least squares on distances) and `trilaterate_paper` (the study's
closed form for three receivers), kept as named baselines for the benchmark.
"""

from __future__ import annotations

import math

import numpy as np

from custom_components.ble_rtls.engine.solver import Array, Fix, floats


def solve_ranges(
    receivers: Array,
    ranges: Array,
    start: tuple[float, float],
    weights: Array | None = None,
) -> Fix:
    """Plain nonlinear least squares on horizontal distances (Levenberg-Marquardt), a baseline."""
    w = np.ones(len(ranges)) if weights is None else weights

    def residual_and_jacobian(p: Array) -> tuple[Array, Array]:
        diff = p - receivers[:, :2]
        dist = np.maximum(np.hypot(diff[:, 0], diff[:, 1]), 1e-9)
        return ranges - dist, diff / dist[:, None]

    p = np.array(start, dtype=np.float64)
    residual, jacobian = residual_and_jacobian(p)
    cost = float(np.sum(w * residual * residual))
    damping = 1e-3
    for _ in range(100):
        information = jacobian.T @ (jacobian * w[:, None])
        step = np.linalg.solve(
            information + damping * np.diag(np.diag(information) + 1e-9),
            jacobian.T @ (w * residual),
        )
        trial = p + step
        trial_residual, trial_jacobian = residual_and_jacobian(trial)
        trial_cost = float(np.sum(w * trial_residual * trial_residual))
        if trial_cost < cost:
            p, residual, jacobian, cost = trial, trial_residual, trial_jacobian, trial_cost
            damping = max(damping / 3.0, 1e-9)
            if float(np.hypot(step[0], step[1])) < 1e-9:
                break
        else:
            damping *= 4.0
            if damping > 1e9:
                break
    variance = cost / max(len(ranges) - 2, 1)
    information = jacobian.T @ (jacobian * w[:, None]) + np.eye(2) * 1e-9
    covariance = np.linalg.inv(information) * max(variance, 1e-6)
    return Fix(float(p[0]), float(p[1]), covariance, variance, floats(residual), floats(w))


def trilaterate_paper(
    a: tuple[float, float],
    b: tuple[float, float],
    c: tuple[float, float],
    r_a: float,
    r_b: float,
    r_c: float,
) -> tuple[float, float] | None:
    """The study's closed form (section 3.2.1) for three receivers A, B, C.

    The paper puts A at the origin and B on the x axis:
    x = (x_B^2 + r_A^2 - r_B^2) / (2 x_B),
    y = (y_C^2 + x_C^2 - 2 x_C x + r_A^2 - r_C^2) / (2 y_C).
    Here any three receivers are rotated into that frame and the result rotated back.
    Returns None when the three receivers are collinear.
    """
    ex = (b[0] - a[0], b[1] - a[1])
    x_b = math.hypot(*ex)
    if x_b < 1e-9:
        return None
    ex = (ex[0] / x_b, ex[1] / x_b)
    ey = (-ex[1], ex[0])
    x_c = (c[0] - a[0]) * ex[0] + (c[1] - a[1]) * ex[1]
    y_c = (c[0] - a[0]) * ey[0] + (c[1] - a[1]) * ey[1]
    if abs(y_c) < 1e-9:
        return None
    x = (x_b**2 + r_a**2 - r_b**2) / (2.0 * x_b)
    y = (y_c**2 + x_c**2 - 2.0 * x_c * x + r_a**2 - r_c**2) / (2.0 * y_c)
    return a[0] + x * ex[0] + y * ey[0], a[1] + x * ex[1] + y * ey[1]

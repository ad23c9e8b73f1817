"""Solvers and path loss: exact inputs give exact answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from custom_components.ble_rtls.engine.pathloss import (
    distance,
    expected_rssi,
    fit_path_loss,
    paper_exponent,
)
from custom_components.ble_rtls.engine.solver import (
    Prior,
    solve_ranges,
    solve_rssi,
    trilaterate_paper,
)

coordinate = st.floats(min_value=-20, max_value=20, allow_nan=False)
point = st.tuples(coordinate, coordinate)


def _spread(points: list[tuple[float, float]]) -> float:
    """Smallest triangle area among the first three: keeps geometry well conditioned."""
    (ax, ay), (bx, by), (cx, cy) = points[:3]
    return abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2


@settings(max_examples=200, deadline=None)
@given(st.lists(point, min_size=3, max_size=8), point)
def test_exact_ranges_recover_exact_position(
    receivers: list[tuple[float, float]], target: tuple[float, float]
) -> None:
    assume(_spread(receivers) > 4.0)
    positions = np.array([(x, y, 0.0) for x, y in receivers])
    ranges = np.hypot(positions[:, 0] - target[0], positions[:, 1] - target[1])
    # Range least squares has local minima; a coarse grid of starts finds the global one.
    starts = [(float(x), float(y)) for x in range(-25, 26, 10) for y in range(-25, 26, 10)]
    fix = min((solve_ranges(positions, ranges, s) for s in starts), key=lambda f: f.cost)
    assert math.hypot(fix.x - target[0], fix.y - target[1]) < 1e-4


@settings(max_examples=200, deadline=None)
@given(point, point, point, point)
def test_paper_closed_form_equals_solver_on_three_exact_circles(
    a: tuple[float, float],
    b: tuple[float, float],
    c: tuple[float, float],
    target: tuple[float, float],
) -> None:
    assume(_spread([a, b, c]) > 4.0)
    ranges = [math.hypot(p[0] - target[0], p[1] - target[1]) for p in (a, b, c)]
    closed = trilaterate_paper(a, b, c, *ranges)
    assert closed is not None
    positions = np.array([(*a, 0.0), (*b, 0.0), (*c, 0.0)])
    fix = solve_ranges(positions, np.array(ranges), closed)
    assert math.hypot(closed[0] - target[0], closed[1] - target[1]) < 1e-6
    assert math.hypot(fix.x - closed[0], fix.y - closed[1]) < 1e-6


def test_paper_closed_form_rejects_collinear_receivers() -> None:
    assert trilaterate_paper((0, 0), (1, 0), (2, 0), 1, 1, 1) is None


@settings(max_examples=100, deadline=None)
@given(
    st.floats(min_value=1, max_value=9),
    st.floats(min_value=1, max_value=7),
    st.floats(min_value=1.6, max_value=4.0),
    st.floats(min_value=-75, max_value=-45),
)
@example(1.0, 1.0, 2.25, -45.0)  # near a receiver: a looser stop ended 1.6 cm short
def test_exact_rssi_recovers_exact_position(
    x: float, y: float, exponent: float, ref: float
) -> None:
    receivers = [
        (0.0, 0.0, 2.5),
        (10.0, 0.0, 2.0),
        (10.0, 8.0, 2.2),
        (0.0, 8.0, 1.5),
        (5.0, 4.0, 3.0),
    ]
    height = 1.0
    rssi = [
        expected_rssi(math.sqrt((rx - x) ** 2 + (ry - y) ** 2 + (rz - height) ** 2), ref, exponent)
        for rx, ry, rz in receivers
    ]
    starts = [(5.0, 4.0), (0.5, 0.5), (9.5, 7.5)]
    fixes = [
        solve_rssi(
            receivers,
            rssi,
            [3.0] * 5,
            [ref] * 5,
            exponent,
            height,
            s,
            ((-1, -1), (11, 9)),
        )
        for s in starts
    ]
    best = min(fixes, key=lambda f: f.cost)
    assert math.hypot(best.x - x, best.y - y) < 1e-2


def test_prior_pulls_the_fit_toward_its_centre() -> None:
    """No information: the exact fit; overwhelming information: the centre; in between,
    between them. The covariance counts only the stated share of the prior's information."""
    receivers = [(0.0, 0.0, 2.5), (10.0, 0.0, 2.0), (10.0, 8.0, 2.2), (0.0, 8.0, 1.5)]
    x, y, height = 3.0, 4.0, 1.0
    rssi = [
        expected_rssi(math.sqrt((rx - x) ** 2 + (ry - y) ** 2 + (rz - height) ** 2), -59.0, 2.5)
        for rx, ry, rz in receivers
    ]
    bounds = ((-1.0, -1.0), (11.0, 9.0))

    def fit(prior: Prior | None) -> tuple[float, float, float]:
        fix = solve_rssi(
            receivers, rssi, [3.0] * 4, [-59.0] * 4, 2.5, height, (5.0, 4.0), bounds, prior
        )
        return fix.x, fix.y, fix.radius

    exact = fit(None)
    assert fit(Prior(7.0, 4.0, 0.0, 1.0)) == pytest.approx(exact)
    assert fit(Prior(7.0, 4.0, 1e6, 1.0))[:2] == pytest.approx((7.0, 4.0), abs=1e-3)
    pulled_x, pulled_y, counted = fit(Prior(7.0, 4.0, 0.04, 1.0))
    assert x + 0.1 < pulled_x < 7.0 and abs(pulled_y - y) < 0.5
    *_, uncounted = fit(Prior(7.0, 4.0, 0.04, 0.0))
    assert counted < uncounted


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-80, max_value=-40), st.floats(min_value=1.5, max_value=4.5))
def test_path_loss_fit_recovers_parameters(ref: float, exponent: float) -> None:
    distances = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0]
    rssis = [expected_rssi(d, ref, exponent) for d in distances]
    fit = fit_path_loss(distances, rssis)
    assert fit.ref_rssi_1m == pytest.approx(ref, abs=1e-9)
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.rms_db == pytest.approx(0.0, abs=1e-9)
    for d in distances[1:]:
        assert paper_exponent(expected_rssi(d, ref, exponent), ref, d) == pytest.approx(exponent)
        assert distance(expected_rssi(d, ref, exponent), ref, exponent) == pytest.approx(d)


def test_path_loss_fit_needs_two_distances() -> None:
    with pytest.raises(ValueError, match="same distance"):
        fit_path_loss([3.0, 3.0], [-70.0, -71.0])

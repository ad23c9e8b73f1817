"""Solvers and path loss: exact inputs give exact answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ble_rtls_lab.trilateration import solve_ranges, trilaterate_paper
from custom_components.ble_rtls.engine import grid as grid_module
from custom_components.ble_rtls.engine.grid import NO_PULL, FixRequest, FloorGrid, Pull
from custom_components.ble_rtls.engine.pathloss import (
    distance,
    expected_rssi,
    fit_path_loss,
    paper_exponent,
)
from custom_components.ble_rtls.engine.site import Receiver, Zone
from custom_components.ble_rtls.engine.solver import Fix
from custom_components.ble_rtls.engine.walls import crossings, room_walls

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


RECEIVERS = (
    Receiver("a", 0.0, 0.0, 2.5),
    Receiver("b", 10.0, 0.0, 2.0),
    Receiver("c", 10.0, 8.0, 2.2),
    Receiver("d", 0.0, 8.0, 1.5),
    Receiver("e", 5.0, 4.0, 3.0),
)
BOUNDS = ((-1.0, -1.0), (11.0, 9.0))
HEIGHT = 1.0


def _exact(x: float, y: float, exponent: float, walls: list[float] | None = None) -> list[float]:
    """Each receiver's reading minus its 1 m power, for a tag at (x, y), less the walls' loss."""
    return [
        expected_rssi(math.dist((r.x, r.y, r.z), (x, y, HEIGHT)), 0.0, exponent)
        - (walls[i] if walls else 0.0)
        for i, r in enumerate(RECEIVERS)
    ]


def _fix(
    grid: FloorGrid,
    excess: list[float],
    sigma: float,
    exponent: float,
    wall_loss: float = 0.0,
    pull: Pull = NO_PULL,
) -> Fix:
    indices = list(range(len(RECEIVERS)))
    request = FixRequest(indices, excess, [sigma] * len(indices), HEIGHT, pull)
    return grid.fixes([request], exponent, wall_loss)[0]


@settings(max_examples=100, deadline=None)
@given(
    st.floats(min_value=0, max_value=10),
    st.floats(min_value=0, max_value=8),
    st.floats(min_value=1.6, max_value=4.0),
)
def test_exact_rssi_locates_within_a_grid_cell(x: float, y: float, exponent: float) -> None:
    """Sharp readings: the posterior sits on a grid point of the tag's cell (the best point in
    dB may be a diagonal neighbour, not the nearest).

    Within about a metre of a receiver its reading changes by several dB between grid points,
    so sharp readings favour a point on the tag's ring around it, up to two cells away
    (a tag at 1, 8 beside the receiver at 0, 8): the cell holds from 1.5 m.
    """
    assume(min(math.hypot(x - r.x, y - r.y) for r in RECEIVERS) >= 1.5)
    grid = FloorGrid(BOUNDS, 0, RECEIVERS, [])
    fix = _fix(grid, _exact(x, y, exponent), 0.05, exponent)
    assert math.hypot(fix.x - x, fix.y - y) < grid.step * math.sqrt(2.0)
    # Between points no point fits sharp readings, so the fit's cost widens the radius, at
    # most twofold.
    assert fix.radius < 2.0 * grid.step


def test_vague_readings_give_a_wide_posterior() -> None:
    grid = FloorGrid(BOUNDS, 0, RECEIVERS, [])
    excess = _exact(3.0, 4.0, 2.5)
    sharp, vague = _fix(grid, excess, 0.5, 2.5), _fix(grid, excess, 8.0, 2.5)
    assert sharp.radius < 0.5
    assert vague.radius > 2.0


def test_pull_draws_the_fix_toward_its_centre() -> None:
    """No information: the readings' fix; overwhelming information: the centre."""
    grid = FloorGrid(BOUNDS, 0, RECEIVERS, [])
    excess = _exact(3.0, 4.0, 2.5)
    free = _fix(grid, excess, 2.0, 2.5)
    assert _fix(grid, excess, 2.0, 2.5, pull=Pull(7.0, 4.0, 0.0)).x == pytest.approx(free.x)
    held = _fix(grid, excess, 2.0, 2.5, pull=Pull(7.0, 4.0, 1e4))
    assert (held.x, held.y) == pytest.approx((7.0, 4.0), abs=grid.step / 2)
    pulled = _fix(grid, excess, 2.0, 2.5, pull=Pull(7.0, 4.0, 0.2))
    assert free.x + 0.1 < pulled.x < 7.0


def test_fixes_made_together_equal_fixes_made_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tags heard by different receivers (padded rows), at two heights (two groups), over
    several passes (a small pass size): each fix is the one its request gets alone."""
    monkeypatch.setattr(grid_module, "PASS_VALUES", 2 * 5 * 400)
    grid = FloorGrid(BOUNDS, 0, RECEIVERS, [])
    requests = []
    for number, (x, y) in enumerate([(2.0, 3.0), (8.0, 1.0), (5.0, 7.0), (9.0, 6.0), (1.0, 1.0)]):
        indices = [(number + i) % len(RECEIVERS) for i in range(3 + number % 3)]
        excess = [_exact(x, y, 2.5)[i] + (-1.5) ** number for i in indices]
        sigma = [1.0 + 0.5 * i for i in indices]
        requests.append(FixRequest(indices, excess, sigma, 1.0 + number % 2, Pull(x, y, 0.01)))
    together = grid.fixes(requests, 2.5, 0.0)
    for request, fix in zip(requests, together, strict=True):
        alone = grid.fixes([request], 2.5, 0.0)[0]
        assert (fix.x, fix.y, fix.cost) == pytest.approx((alone.x, alone.y, alone.cost), abs=1e-4)
        assert fix.covariance == pytest.approx(alone.covariance, abs=1e-4)
        assert len(fix.residuals) == len(fix.weights) == len(request.indices)
        assert fix.residuals == pytest.approx(alone.residuals, abs=1e-4)
        assert fix.log_ranges == pytest.approx(alone.log_ranges, abs=1e-4)
    assert len({len(r.indices) for r in requests}) == 3


def test_declared_walls_explain_a_room_behind_them() -> None:
    """A wall at x = 4 between the tag and three receivers takes 8 dB off them: told of
    it, the fix is where the tag is; not told, it is pulled toward the receivers that
    are heard loudest, and the residuals the calibration learns from are larger."""
    room = Zone("west", "West", 0, ((-1.0, -1.0), (4.0, -1.0), (4.0, 9.0), (-1.0, 9.0)), walls=True)
    walls = room_walls([room])[0]
    grid = FloorGrid(BOUNDS, 0, RECEIVERS, walls)
    behind = [
        float(crossings(np.array([2.0]), np.array([4.0]), (r.x, r.y), walls)[0]) for r in RECEIVERS
    ]
    assert behind == [0.0, 1.0, 1.0, 0.0, 1.0]
    excess = _exact(2.0, 4.0, 2.5, [8.0 * n for n in behind])
    told = _fix(grid, excess, 0.3, 2.5, wall_loss=8.0)
    blind = _fix(grid, excess, 0.3, 2.5, wall_loss=0.0)
    assert math.hypot(told.x - 2.0, told.y - 4.0) < grid.step
    assert math.hypot(blind.x - 2.0, blind.y - 4.0) > 1.0
    assert max(map(abs, told.residuals)) < 0.5 < max(map(abs, blind.residuals))


def test_shared_walls_are_one_wall() -> None:
    """Two rooms side by side, corners not lined up: their common edge is one wall; an open
    zone adds none."""
    west = Zone("w", "W", 0, ((0.0, 0.0), (5.0, 0.0), (5.0, 4.0), (0.0, 4.0)), walls=True)
    east = Zone("e", "E", 0, ((5.0, -2.0), (9.0, -2.0), (9.0, 6.0), (5.0, 6.0)), walls=True)
    yard = Zone("y", "Y", 0, ((0.0, 4.0), (5.0, 4.0), (5.0, 9.0), (0.0, 9.0)))
    walls = room_walls([west, east, yard])[0]
    shared = [w for w in walls if w[0][0] == pytest.approx(5.0) and w[1][0] == pytest.approx(5.0)]
    assert len(shared) == 1
    assert sorted((shared[0][0][1], shared[0][1][1])) == pytest.approx([-2.0, 6.0])
    assert crossings(np.array([2.0]), np.array([2.0]), (7.0, 2.0), walls).tolist() == [1.0]
    assert crossings(np.array([2.0]), np.array([6.0]), (2.0, 8.0), walls).tolist() == [0.0]
    assert room_walls([yard]) == {}


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

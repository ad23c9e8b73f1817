"""Filters and tracker against filterpy as the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ble_rtls.engine.calibration import SelfCalibration
from custom_components.ble_rtls.engine.filters import PaperKalman, RssiWindow, trimmed_mean
from custom_components.ble_rtls.engine.tracker import (
    MOTION_MODELS,
    MotionModel,
    PositionTracker,
    StillOrMovingTracker,
    new_tracker,
    process_noise,
    transition_matrix,
)
from custom_components.ble_rtls.engine.zones import MOVING_SPEED

rssi_values = st.lists(st.floats(min_value=-100, max_value=-30), min_size=11, max_size=80)


@settings(max_examples=100, deadline=None)
@given(rssi_values)
def test_paper_kalman_matches_filterpy(values: list[float]) -> None:
    ours = PaperKalman()
    outputs = [ours.update(v) for v in values]
    start = ours.start_after
    assert outputs[start - 1] == pytest.approx(float(np.mean(values[:start])))
    reference = KalmanFilter(dim_x=1, dim_z=1)
    reference.x = np.array([[float(np.mean(values[:start]))]])
    reference.P = np.array([[ours.measurement_noise]])
    reference.F = np.array([[1.0]])
    reference.H = np.array([[1.0]])
    reference.Q = np.array([[30.0 * 10.0 * 0.1]])
    reference.R = np.array([[10.0**2]])
    for value, output in zip(values[start:], outputs[start:], strict=True):
        reference.predict()
        reference.update(np.array([[value]]))
        assert output == pytest.approx(float(reference.x[0, 0]), abs=1e-9)


def test_paper_kalman_uses_paper_parameters() -> None:
    kalman = PaperKalman()
    assert kalman.process_noise == pytest.approx(30.0)
    assert kalman.measurement_noise == pytest.approx(100.0)
    assert kalman.start_after == 10


def test_trimmed_mean_drops_quartiles() -> None:
    assert trimmed_mean([-60, -61, -59, -60, -100, -20, -60, -60]) == pytest.approx(-60.0)
    assert trimmed_mean([-70.0]) == -70.0


def test_window_forgets_old_readings() -> None:
    window = RssiWindow(span=3.0)
    for t, rssi in [(0.0, -80.0), (1.0, -70.0), (3.5, -60.0)]:
        window.add(t, rssi)
    assert window.values(4.0) == [-70.0, -60.0]
    assert window.values(10.0) == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=2, max_size=30))
def test_tracker_matches_filterpy_without_gating(fixes: list[tuple[float, float]]) -> None:
    motion = MotionModel(acceleration_psd=0.5, max_speed=100.0, start_speed=50.0)
    tracker = PositionTracker(motion)
    covariance = np.eye(2) * 100.0  # wide enough that no fix within 10 m is gated
    tracker.update(0.0, fixes[0], covariance)
    reference = KalmanFilter(dim_x=4, dim_z=2)
    reference.x = tracker.state.reshape(4, 1).copy()
    reference.P = tracker.covariance.copy()
    reference.H = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    reference.R = covariance
    for step, fix in enumerate(fixes[1:], start=1):
        tracker.update(step * 0.5, fix, covariance)
        reference.F = transition_matrix(0.5)
        reference.Q = process_noise(0.5, motion.acceleration_psd)
        reference.predict()
        reference.update(np.array(fix).reshape(2, 1))
        np.testing.assert_allclose(tracker.state, reference.x.ravel(), rtol=1e-9, atol=1e-9)


def test_tracker_speed_gate_limits_jumps() -> None:
    tracker = PositionTracker(MotionModel(acceleration_psd=0.5, max_speed=1.5, start_speed=0.75))
    tracker.update(0.0, (0.0, 0.0), np.eye(2) * 0.5)
    for t in range(1, 4):
        tracker.update(float(t), (0.0, 0.0), np.eye(2) * 0.5)
    tracker.update(4.0, (30.0, 0.0), np.eye(2) * 0.5)
    assert tracker.position[0] < 5.0
    assert float(np.hypot(tracker.state[2], tracker.state[3])) <= 1.5 + 1e-9


def test_a_first_heard_asset_is_still_while_its_first_fixes_drift() -> None:
    """A warehouse pallet's first fixes drifted 0.45 m/s while its readings filled: over its
    first 5 s its tracker does not take it for moving (zones.py would ask half the margin)."""
    tracker = new_tracker("asset")
    for second in range(6):
        tracker.update(float(second), (28.0 - 0.05 * second, 10.0 + 0.45 * second), np.eye(2) * 4)
        assert tracker.speed < MOVING_SPEED


def test_a_person_standing_stays_put_and_walking_is_followed() -> None:
    """Fixes scattered 1 m about a standing person: the still hypothesis wins and the track
    wanders far less than the person model's alone; walking off, the moving one takes over."""
    rng = np.random.default_rng(2)
    mixed = new_tracker("person")
    alone = PositionTracker(MOTION_MODELS["person"])
    assert isinstance(mixed, StillOrMovingTracker)
    assert isinstance(new_tracker("asset"), PositionTracker)  # an asset is still already
    fix_covariance = np.eye(2) * 0.5
    wander: dict[str, list[float]] = {"mixed": [], "alone": []}
    for t in range(120):
        fix = (5.0 + float(rng.normal(0.0, 0.7)), 5.0 + float(rng.normal(0.0, 0.7)))
        for name, tracker in (("mixed", mixed), ("alone", alone)):
            tracker.update(float(t), fix, fix_covariance)
            if t >= 20:
                wander[name].append(float(np.hypot(*np.subtract(tracker.position, (5.0, 5.0)))))
    assert mixed.moving_share < 0.2
    assert np.mean(wander["mixed"]) < 0.5 * np.mean(wander["alone"])
    for t in range(120, 136):  # 16 m east at 1 m/s
        fix = (5.0 + (t - 119) + float(rng.normal(0.0, 0.7)), 5.0 + float(rng.normal(0.0, 0.7)))
        mixed.update(float(t), fix, fix_covariance)
    assert mixed.moving_share > 0.8
    assert abs(mixed.position[0] - 21.0) < 2.0
    assert 0.5 < mixed.speed < 2.0
    mixed.update(135.0, (21.0, 5.0), fix_covariance)  # the same time again
    assert 0.0 < mixed.moving_share < 1.0 and np.isfinite(mixed.position).all()


def test_the_exponent_step_shrinks_as_fixes_accumulate() -> None:
    """One fix's evidence moves a fresh site's exponent 5x as far as a settled one's."""
    steps = []
    for updates in (0, 100_000):
        calibration = SelfCalibration(
            exponent=2.5, default_ref_rssi=-59.0, receiver_count=4, exponent_updates=updates
        )
        # Residuals that grow with range: the true exponent is higher than 2.5.
        log_ranges = [0.0, -5.0, -10.0, -15.0]
        calibration.learn("t", None, [0, 1, 2, 3], [2.0, 1.0, -1.0, -2.0], [1.0] * 4, log_ranges)
        steps.append(calibration.exponent - 2.5)
        assert calibration.exponent_updates == updates + 1
    assert steps[0] == pytest.approx(5 * steps[1]) and steps[1] > 0


def test_a_new_tags_power_is_averaged_from_its_first_fixes_a_declared_one_is_trusted() -> None:
    """Each fix says the tag is 10 dB louder than the site's default: a tag with no power of
    its own takes it from its first fix; a declared or restored power moves by tag_rate."""
    calibration = SelfCalibration(exponent=2.5, default_ref_rssi=-59.0, receiver_count=4)
    log_ranges = [0.0, -5.0, -10.0, -15.0]

    def fix(tag: str, declared: float | None) -> None:
        calibration.learn(tag, declared, [0, 1, 2, 3], [10.0] * 4, [1.0] * 4, log_ranges)

    fix("new", None)
    assert calibration.ref_rssi("new", None) == pytest.approx(-49.0)
    fix("declared", -59.0)
    assert calibration.ref_rssi("declared", -59.0) == pytest.approx(-59.0 + 10.0 * 0.1)
    saved = calibration.saved(["a", "b", "c", "d"], {"new": None, "declared": -59.0})
    restored = SelfCalibration(exponent=2.5, default_ref_rssi=-59.0, receiver_count=4)
    assert restored.restore(saved, ["a", "b", "c", "d"], {"new": None, "declared": -59.0})
    restored.learn("new", None, [0, 1, 2, 3], [10.0] * 4, [1.0] * 4, log_ranges)
    assert restored.ref_rssi("new", None) == pytest.approx(-49.0 + 10.0 * 0.1)


def test_window_can_read_only_its_most_recent_seconds() -> None:
    window = RssiWindow(span=3.0)
    for time, rssi in ((1.0, -70.0), (2.0, -71.0), (3.5, -60.0)):
        window.add(time, rssi)
    assert window.values(4.0, recent=1.0) == [-60.0]
    assert window.values(4.0, recent=10.0) == [-70.0, -71.0, -60.0]  # never beyond the span
    assert window.values(4.0) == [-70.0, -71.0, -60.0]  # reading recent ones drops none

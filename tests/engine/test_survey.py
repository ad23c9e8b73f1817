"""Survey points: the corrections they give the grid, and what they do for the fixes."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ble_rtls_lab.bench import (
    Dataset,
    Truth,
    default_datasets,
    score,
    simulated_dataset,
    surveyed_at_stops,
)
from ble_rtls_lab.replay import replay
from ble_rtls_lab.simulate import SCENARIOS, write_simulation
from custom_components.ble_rtls.engine.adverts import Advert
from custom_components.ble_rtls.engine.engine import Engine
from custom_components.ble_rtls.engine.grid import FloorGrid
from custom_components.ble_rtls.engine.site import Receiver, Site, SurveyPoint
from custom_components.ble_rtls.engine.survey import SurveyMap

RECEIVERS = [
    Receiver("a", 0.0, 0.0, 2.0),
    Receiver("b", 20.0, 0.0, 2.0, rssi_offset=3.0),
    Receiver("c", 20.0, 20.0, 2.0),
    Receiver("d", 0.0, 20.0, 2.0),
    Receiver("up", 10.0, 10.0, 5.0, floor=1),
]
EXPONENT = 2.5
OFFSET_OF_A = 4.0  # what the model misses for receiver a, everywhere (dB)
# And a shadow on receiver c around a surveyed place, wide enough for its neighbours to see
# it: the survey's own deviations then show a field, not one point's noise.
SPOT, SPOT_DB, SPOT_WIDTH_M = (12.5, 12.5), -10.0, 5.0


def _deviation(index: int, x: float, y: float) -> float:
    if index == 0:
        return OFFSET_OF_A
    if index == 2:
        return SPOT_DB * math.exp(-(math.dist((x, y), SPOT) ** 2) / (2 * SPOT_WIDTH_M**2))
    return 0.0


def _survey(
    power: float,
    exponent: float = EXPONENT,
    deviation: Callable[[int, float, float], float] = _deviation,
) -> list[SurveyPoint]:
    """Exact readings (as received, before each receiver's offset) every 5 m."""
    points = []
    for x in np.arange(2.5, 20.0, 5.0):
        for y in np.arange(2.5, 20.0, 5.0):
            rssi = []
            for i, r in enumerate(RECEIVERS[:4]):
                squared = (x - r.x) ** 2 + (y - r.y) ** 2 + (r.z - 1.0) ** 2
                model = -5.0 * exponent * math.log10(squared)
                value = power + model + deviation(i, float(x), float(y)) - r.rssi_offset
                rssi.append((r.id, value))
            points.append(SurveyPoint(float(x), float(y), 0, tuple(rssi)))
    return points


def test_corrections_recover_what_the_model_misses_but_not_the_tags_power() -> None:
    grid = FloorGrid(((0.0, 0.0), (20.0, 20.0)), 0, RECEIVERS, [])
    index = {r.id: i for i, r in enumerate(RECEIVERS)}
    quiet, loud = (
        SurveyMap(_survey(power), grid, RECEIVERS, index).corrections(
            [0.0] * len(RECEIVERS), EXPONENT, 4.0
        )
        for power in (-65.0, -50.0)
    )
    assert quiet == pytest.approx(loud, abs=1e-3)  # the surveying tag's power is taken off
    at_spot = int(np.argmin(np.hypot(grid.xs - SPOT[0], grid.ys - SPOT[1])))
    far = int(np.argmin(np.hypot(grid.xs - 2.5, grid.ys - 2.5)))
    # Each point's mean over its receivers is taken off, so a's offset shows as 3/4 of it
    # against the others: what positions depend on is the difference between receivers.
    relative = quiet[:, at_spot] - quiet[1, at_spot]
    assert relative[0] == pytest.approx(OFFSET_OF_A, abs=0.8)
    # The field's size is the one the survey's own deviations make likeliest, with points
    # measured to 1.5 dB at best: the shadow comes out shrunk, but more than half of it, and
    # little of it far away.
    assert SPOT_DB < relative[2] < SPOT_DB / 2
    assert abs(quiet[2, far] - quiet[1, far]) < abs(SPOT_DB) / 4
    assert not quiet[4].any()  # the receiver upstairs heard nothing of this floor's survey


def test_a_survey_makes_the_simulated_sites_fixes_better() -> None:
    """The same adverts of the simulated office, with and without survey points 6 m apart."""
    plain = simulated_dataset("office", 240.0, 2)
    surveyed = simulated_dataset("office", 240.0, 2, survey_spacing=6.0)
    assert plain.adverts == surveyed.adverts and not plain.site.survey
    assert len(surveyed.site.survey) >= 6
    assert all(
        sum(1 for rid, _ in p.rssi if rid in {r.id for r in surveyed.site.receivers}) >= 3
        for p in surveyed.site.survey
    )
    before, after = (
        score(dataset, "engine", list(replay(Engine(dataset.site), dataset.adverts)), 1.0)
        for dataset in (plain, surveyed)
    )
    assert after.median < 0.9 * before.median
    assert after.zone_accuracy > before.zone_accuracy


def test_a_recordings_first_half_stops_become_its_survey_and_only_the_rest_is_scored() -> None:
    """A tag stands 10 s at (5, 5), walks, stands 3 s: one survey point, the first stop."""
    site = Site(tuple(RECEIVERS[:4]))
    times = np.arange(0.0, 40.0, 0.5, dtype=np.float64)
    xs = np.where(times < 10.0, 5.0, np.minimum(5.0 + (times - 9.5) * 0.5, 12.0))
    truth = {"t": Truth(times, xs, np.full(times.shape, 5.0), [""] * len(times))}
    adverts = [
        Advert(float(t), r.id, "t", -60.0 - i - (3.0 if t < 10.0 else 0.0) * (k % 2))
        for k, (t, _) in enumerate(zip(times, xs, strict=True))
        for i, r in enumerate(RECEIVERS[:4])
    ]
    later, surveyed = surveyed_at_stops(Dataset("walk", site, adverts, truth))
    assert later.scored_from == surveyed.scored_from == adverts[len(adverts) // 2 - 1].time
    (point,) = surveyed.site.survey
    assert (point.x, point.y, point.floor) == (5.0, 5.0, 0)
    # Trimmed means of alternating -60-i and -63-i: the middle half, half of each.
    assert dict(point.rssi) == pytest.approx({r.id: -61.5 - i for i, r in enumerate(RECEIVERS[:4])})
    assert surveyed.name == "walk, second half, surveyed at 1 stops of the first"
    estimates = list(replay(Engine(later.site), later.adverts))
    scored = score(later, "engine", estimates, 1.0)
    assert 0 < scored.rows == sum(e.time >= later.scored_from for e in estimates) < len(estimates)


def test_a_recording_over_several_floors_is_benched_as_it_is(tmp_path: Path) -> None:
    """Its truth has no floors to place stops on, so it gets no survey of stops."""
    folder = write_simulation(tmp_path / "two-floors", "office", 5.0, seed=1)
    names = [d.name for d in default_datasets([folder], 5.0, 1, survey_spacing=6.0)]
    assert names[0] == "two-floors"  # recordings first
    assert names[1:] == [f"simulated {s}, surveyed every 6 m" for s in SCENARIOS]


def test_the_survey_measures_the_exponent_and_biases_and_the_engine_holds_them() -> None:
    """Exact readings under exponent 1.8 and biases +3 / -3 dB: the survey alone tells them."""
    biases = [3.0, -3.0, 1.0, -1.0]
    points = _survey(-60.0, 1.8, lambda i, _x, _y: biases[i])
    site = Site(tuple(RECEIVERS), survey=tuple(points))
    grid = FloorGrid(((0.0, 0.0), (20.0, 20.0)), 0, RECEIVERS, [])
    index = {r.id: i for i, r in enumerate(RECEIVERS)}
    measured = SurveyMap(points, grid, RECEIVERS, index).path_loss(4.0)
    assert measured is not None
    found, exponent, readings = measured
    assert exponent == pytest.approx(1.8, abs=1e-6) and readings == 64
    assert [found[i] for i in range(4)] == pytest.approx(biases, abs=1e-6)
    engine = Engine(site)
    engine.update(0.0)
    assert engine.calibration.exponent == pytest.approx(1.8, abs=1e-6)
    assert engine.calibration.exponent_measured
    assert engine.calibration.biases[:4] == pytest.approx(biases, abs=1e-6)


def _squared(receiver: Receiver, x: float, y: float) -> float:
    return (x - receiver.x) ** 2 + (y - receiver.y) ** 2 + (receiver.z - 1.0) ** 2


def test_a_survey_of_noise_corrects_next_to_nothing() -> None:
    """Deviations that no field explains (a stale survey): the likeliest prior has no field."""
    rng = np.random.default_rng(3)
    points = [
        SurveyPoint(
            float(x),
            float(y),
            0,
            tuple(
                (r.id, -60.0 - 12.5 * math.log10(_squared(r, x, y)) + noise - r.rssi_offset)
                for r, noise in zip(RECEIVERS[:4], rng.normal(0.0, 4.0, 4), strict=True)
            ),
        )
        for x in range(1, 20, 3)
        for y in range(1, 20, 3)
    ]
    grid = FloorGrid(((0.0, 0.0), (20.0, 20.0)), 0, RECEIVERS, [])
    index = {r.id: i for i, r in enumerate(RECEIVERS)}
    survey = SurveyMap(points, grid, RECEIVERS, index)
    table = survey.corrections([0.0] * len(RECEIVERS), 2.5, 4.0)
    assert all(prior.field_db <= 2.0 for prior in survey.priors.values())
    spread = table[:4] - table[:4].mean(axis=1, keepdims=True)
    assert float(np.sqrt(np.mean(spread**2))) < 1.5  # against 4 dB of noise per reading

"""The benchmark's own parts: where it finds recordings, the fingerprint baseline, targets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ble_rtls_lab.baselines import FingerprintMatch
from ble_rtls_lab.bench import Score, family_table, recordings, run_families, targets
from ble_rtls_lab.families import FAMILIES, family_scenario
from ble_rtls_lab.oracle import fit_path_loss_to_truth, truth_fitted_oracle
from custom_components.ble_rtls.engine import Advert, Receiver, Site, SurveyPoint, Tag

RECEIVERS = tuple(
    Receiver(name, x, y, 2.0) for name, x, y in (("a", 0, 0), ("b", 10, 0), ("c", 0, 10))
)


def test_recordings_are_found_at_any_depth(tmp_path: Path) -> None:
    for folder in ("flat", "office/walks", "office/spots", "office/notes"):
        (tmp_path / folder).mkdir(parents=True)
    for folder in ("flat", "office/walks", "office/spots"):
        (tmp_path / folder / "TRUTH.csv").write_text("time,tag,x,y,floor,zone\n")
    assert recordings(tmp_path) == [tmp_path / f for f in ("flat", "office/spots", "office/walks")]
    assert recordings(tmp_path / "missing") == []


def test_the_fingerprint_match_averages_the_nearest_points_in_db() -> None:
    survey = (
        SurveyPoint(1.0, 1.0, 0, (("a", -50.0), ("b", -70.0), ("c", -70.0))),
        SurveyPoint(9.0, 1.0, 0, (("a", -70.0), ("b", -50.0), ("c", -70.0))),
        SurveyPoint(1.0, 9.0, 0, (("a", -70.0), ("b", -70.0), ("c", -50.0))),
        SurveyPoint(5.0, 5.0, 0, (("a", -60.0), ("b", -60.0), ("c", -60.0))),
    )
    locator = FingerprintMatch(Site(RECEIVERS, survey=survey))
    for receiver, rssi in (("a", -50.0), ("b", -70.0), ("c", -70.0)):
        locator.observe(Advert(0.0, receiver, "tag", rssi))
    (estimate,) = locator.update(0.5)
    # Exactly the first point's readings: its weight dwarfs the others'.
    assert (estimate.x, estimate.y) == pytest.approx((1.0, 1.0), abs=1e-3)


def _score(dataset: str, method: str, median: float, zone: float) -> Score:
    return Score(dataset, method, 10, median, 2 * median, zone, 0.5, 1.0, 1000.0)


def test_targets_say_what_is_met_and_what_is_not() -> None:
    text = targets(
        [
            _score("static_set1_odd", "engine", 2.0, 0.75),
            _score("static_set1_odd_survey_even", "engine", 1.1, 0.85),
            _score("static_set1_odd_survey_even", "fingerprint match", 2.5, 0.9),
        ]
    )
    rows = dict(line.split(" | ", 1) for line in text.splitlines()[2:])
    assert rows["| static_set1_odd: median <= 1.8 m"] == "2.00 | **no** |"
    assert rows["| static_set1_odd: zone >= 70 %"] == "75.00 | yes |"
    assert rows["| static_set1_odd_survey_even: median no worse than without the survey"] == (
        "1.10 | yes |"
    )
    assert rows["| static_set1_odd_survey_even: zone above the fingerprint match's"] == (
        "85.00 | **no** |"
    )


def test_the_truth_fitted_oracle_recovers_each_receivers_path_loss() -> None:
    """Adverts exactly on each receiver's own line: the fit gives the lines back."""
    site = Site(RECEIVERS, tags=(Tag("t"),))
    lines = {"a": (-50.0, 1.5), "b": (-60.0, 2.0), "c": (-55.0, 3.0)}
    places = [(2.0, 3.0), (7.0, 1.0), (4.0, 8.0), (9.0, 9.0)]
    adverts = []
    for k, (x, y) in enumerate(places):
        for r in RECEIVERS:
            squared = (x - r.x) ** 2 + (y - r.y) ** 2 + (r.z - 1.0) ** 2
            power, exponent = lines[r.id]
            adverts.append(
                Advert(float(k), r.id, "t", power - 5.0 * exponent * math.log10(squared))
            )
    fitted, noise = fit_path_loss_to_truth(site, adverts, lambda _tag, time: places[int(time)])
    for (power, exponent), line in zip(fitted, lines.values(), strict=True):
        assert (power, exponent) == pytest.approx(line, abs=1e-6)
    assert noise == pytest.approx(0.0, abs=1e-6)
    engine = truth_fitted_oracle(site, fitted, 2.0)
    for advert in adverts[:3]:
        engine.observe(advert)
    (estimate,) = engine.update(0.5)
    assert math.hypot(estimate.x - 2.0, estimate.y - 3.0) < 1.0


def test_every_family_draws_a_site_of_its_own_for_each_seed() -> None:
    for family in FAMILIES:
        first, again, other = (family_scenario(family, seed) for seed in (1, 1, 2))
        assert first == again  # a seed is one site, always
        assert (first.rooms, first.receivers) != (other.rooms, other.receivers)
        assert len(first.receivers) >= 3
        rooms_with_a_receiver = {
            room.id
            for room in first.rooms
            for _, x, y, _, floor in first.receivers
            if room.floor == floor and room.x0 <= x <= room.x1 and room.y0 <= y <= room.y1
        }
        assert len(rooms_with_a_receiver) < len(first.rooms), family  # zones without one
    assert not family_scenario("hall", 1).walls  # areas marked on an open floor
    assert family_scenario("aisles", 1).wall_loss_db >= 8.0  # steel racks


def test_families_are_benched_and_tabled_with_their_worst_seed() -> None:
    results = run_families(1, 30.0)
    assert list(results) == list(FAMILIES)
    text = family_table(results)
    assert text.count("\n") == len(FAMILIES) + 1
    run = results["house"][0]
    methods = (run.engine.method, run.strongest.method, run.oracle.method)
    assert methods == ("engine", "strongest receiver", "oracle: true radio")
    assert run.engine.rows > 0 and run.strongest.rows > 0 and run.oracle.rows > 0
    assert run.margin(run.strongest) == 0.0

"""Accuracy and speed benchmark: the engine and three baselines on the same adverts.

Every figure comes from one run in one process: positions are scored against TRUTH.csv
(position interpolated at the estimate's time), CPU time is `time.process_time` around the
replay of adverts already in memory, so file parsing is left out for all alike.
"""

from __future__ import annotations

import csv
import itertools
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from custom_components.ble_rtls.engine import (
    MIN_SURVEY_RECEIVERS,
    Advert,
    Engine,
    Estimate,
    Site,
    SurveyPoint,
    load_site,
    parse_site,
    read_adverts,
)
from custom_components.ble_rtls.engine.filters import trimmed_mean

from .baselines import (
    FingerprintMatch,
    PaperTrilateration,
    RangeLeastSquares,
    StrongestReceiver,
)
from .families import FAMILIES, family_scenario
from .oracle import fit_path_loss_to_truth, radio_oracle, truth_fitted_oracle
from .replay import Locator, replay
from .simulate import SCENARIOS, Scenario, TrueRadio, simulate

type FloatArray = NDArray[np.float64]

STATIONARY_SPAN_M = 0.1
# A recording stands in for a survey with its tags' stops: at least SURVEY_STOP_S within
# STATIONARY_SPAN_M, in its first SURVEY_SHARE of adverts; it is scored on the rest.
SURVEY_STOP_S = 8.0
SURVEY_SHARE = 0.5
# A tag moves when its true speed is at least MOVING_SPEED; its lag is the delay, among
# LAG_STEPS, that brings the estimates closest to the truth.
MOVING_SPEED = 0.3
LAG_STEPS = np.arange(0.0, 4.01, 0.25)

METHODS: dict[str, Callable[[Site], Locator]] = {
    "engine": Engine,
    "strongest receiver": StrongestReceiver,
    "paper Kalman + trilateration": PaperTrilateration,
    "least squares on distances": RangeLeastSquares,
}
BASELINES = (
    "strongest receiver",
    "paper Kalman + trilateration",
    "least squares on distances",
    "fingerprint match",
)
# On simulated sites: the engine with its fixes made from the true radio (oracle.py), told
# everything but the shadowing, or everything. Not methods a site could run: bounds.
TRUE_RADIO = "oracle: true radio"
ORACLES = {"oracle: true radio but shadowing": False, TRUE_RADIO: True}
# On a recording: each receiver's path loss fitted to the recording's own truth (in-sample),
# what any log-distance model could do there at best.
TRUTH_ORACLE = "oracle: path loss fitted to the truth"


@dataclass(frozen=True, slots=True)
class Truth:
    """One tag's true track."""

    times: FloatArray
    xs: FloatArray
    ys: FloatArray
    zones: list[str]


@dataclass(frozen=True, slots=True)
class Dataset:
    """A site, its adverts and the truth to score against."""

    name: str
    site: Site
    adverts: list[Advert]
    truth: dict[str, Truth]
    radio: TrueRadio | None = None  # simulated sites only: what the oracles are told
    scored_from: float = -math.inf  # estimates before it are not scored (a survey's part)


@dataclass(frozen=True, slots=True)
class Score:
    """One method's figures on one dataset."""

    dataset: str
    method: str
    rows: int
    median: float
    p90: float
    zone_accuracy: float
    stationary_zone_changes_per_hour: float | None
    accuracy_ratio: float
    adverts_per_cpu_second: float
    moving_lag: float | None = None
    standing_people_zone_changes_per_hour: float | None = None


@dataclass(frozen=True, slots=True)
class FamilyRun:
    """One seed of a family: the engine, the strongest receiver and the true-radio oracle."""

    engine: Score
    strongest: Score
    oracle: Score

    def margin(self, method: Score) -> float:
        """A method's zone accuracy over the strongest receiver's, in points."""
        return (method.zone_accuracy - self.strongest.zone_accuracy) * 100


def read_truth(path: Path) -> dict[str, Truth]:
    """TRUTH.csv grouped by tag."""
    rows: dict[str, list[tuple[float, float, float, str]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["tag"], []).append(
                (float(row["time"]), float(row["x"]), float(row["y"]), row.get("zone") or "")
            )
    return _truths(rows)


def _truths(rows: dict[str, list[tuple[float, float, float, str]]]) -> dict[str, Truth]:
    """Per-tag (time, x, y, zone) rows as arrays."""
    return {
        tag: Truth(
            np.array([r[0] for r in values]),
            np.array([r[1] for r in values]),
            np.array([r[2] for r in values]),
            [r[3] for r in values],
        )
        for tag, values in rows.items()
    }


def load_dataset(folder: Path) -> Dataset:
    """A folder in the replay format with a TRUTH.csv."""
    return Dataset(
        folder.name,
        load_site(folder / "SITE.json"),
        list(read_adverts(folder / "ADVERTS.csv")),
        read_truth(folder / "TRUTH.csv"),
    )


def simulated_dataset(
    scenario: str,
    duration: float,
    seed: int,
    receivers_advertise: bool = False,
    survey_spacing: float = 0.0,
) -> Dataset:
    """A built-in scenario, simulated in memory.

    Its receivers may advertise too, and its rooms be surveyed.
    """
    described = replace(
        SCENARIOS[scenario](),
        receivers_advertise=receivers_advertise,
        survey_spacing=survey_spacing,
    )
    name = f"simulated {scenario}" + (", receivers advertise" if receivers_advertise else "")
    if survey_spacing > 0:
        name += f", surveyed every {survey_spacing:g} m"
    return _simulated(name, described, duration, seed)


def family_dataset(family: str, seed: int, duration: float) -> Dataset:
    """One seed of a family of simulated sites (families.py), simulated in memory."""
    scenario = family_scenario(family, seed)
    return _simulated(f"family {family}, seed {seed}", scenario, duration, seed)


def _simulated(name: str, scenario: Scenario, duration: float, seed: int) -> Dataset:
    """The scenario simulated in memory, its truth by tag."""
    document, adverts, rows, radio = simulate(scenario, duration, seed)
    grouped: dict[str, list[tuple[float, float, float, str]]] = {}
    for t, tag, x, y, _, zone in rows:
        grouped.setdefault(tag, []).append((t, x, y, zone))
    return Dataset(name, parse_site(document, name), adverts, _truths(grouped), radio)


def run_families(
    seeds: int, duration: float, progress: Callable[[str], None] | None = None
) -> dict[str, list[FamilyRun]]:
    """Per family, per seed: the engine's, the strongest receiver's and the oracle's scores."""
    results: dict[str, list[FamilyRun]] = {}
    for family in FAMILIES:
        for seed in range(1, seeds + 1):
            dataset = family_dataset(family, seed, duration)
            radio = dataset.radio
            assert radio is not None  # simulated
            locators: dict[str, Callable[[Site], Locator]] = {
                "engine": METHODS["engine"],
                "strongest receiver": METHODS["strongest receiver"],
                TRUE_RADIO: partial(radio_oracle, radio=radio, shadowing=True),
            }
            scores = []
            for method, factory in locators.items():
                started = time.process_time()
                estimates = list(replay(factory(dataset.site), dataset.adverts))
                scores.append(score(dataset, method, estimates, time.process_time() - started))
            results.setdefault(family, []).append(FamilyRun(*scores))
            if progress:
                progress(f"{dataset.name}: engine, strongest receiver and oracle")
    return results


def family_table(results: dict[str, list[FamilyRun]]) -> str:
    """Each family's median and worst seed, and whether it meets its targets.

    Zone accuracy at least the strongest receiver's + 10 points in the worst seed, and at most
    3 zone changes an hour for standing tags. The oracle, told the true radio, shows what the
    windows, tracker and zone rules leave of the target.
    """
    lines = [
        "| family | seeds | engine median m (median, worst) | zone acc. (median, worst) "
        "| zone acc. over the strongest receiver's, worst | zone changes/h standing, worst "
        "| targets met | oracle told the true radio: zone acc. over the strongest's, worst |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, runs in results.items():
        medians = [run.engine.median for run in runs]
        zones = [run.engine.zone_accuracy * 100 for run in runs]
        margins = [run.margin(run.engine) for run in runs]
        changes = [run.engine.stationary_zone_changes_per_hour or 0.0 for run in runs]
        met = min(margins) >= 10.0 and max(changes) <= 3.0
        ceiling = min(run.margin(run.oracle) for run in runs)
        lines.append(
            f"| {family} | {len(runs)} | {np.median(medians):.2f}, {max(medians):.2f} "
            f"| {np.median(zones):.0f} %, {min(zones):.0f} % | {min(margins):+.0f} "
            f"| {max(changes):.1f} | {'yes' if met else '**no**'} | {ceiling:+.0f} |"
        )
    return "\n".join(lines)


def surveyed_at_stops(dataset: Dataset) -> tuple[Dataset, Dataset]:
    """A one-floor recording scored after its first SURVEY_SHARE of adverts: as it is, surveyed.

    The survey is made of the stops its tags made in that first part: at each, where the
    truth says the tag stood and the trimmed mean of what each receiver heard of it (at
    least three packets, three receivers). What a user surveying the site would have.
    """
    cut = dataset.adverts[int(SURVEY_SHARE * (len(dataset.adverts) - 1))].time
    (floor,) = dataset.site.floors
    points = []
    for tag, truth in dataset.truth.items():
        first = 0
        while first < len(truth.times) and truth.times[first] < cut:
            last = first
            while (
                last + 1 < len(truth.times)
                and truth.times[last + 1] < cut
                and math.hypot(
                    truth.xs[last + 1] - truth.xs[first], truth.ys[last + 1] - truth.ys[first]
                )
                < STATIONARY_SPAN_M
            ):
                last += 1
            since, until = float(truth.times[first]), float(truth.times[last])
            if until - since >= SURVEY_STOP_S:
                heard: dict[str, list[float]] = {}
                for advert in dataset.adverts:
                    if advert.tag == tag and since <= advert.time <= until:
                        heard.setdefault(advert.receiver, []).append(advert.rssi)
                rssi = tuple((r, trimmed_mean(v)) for r, v in heard.items() if len(v) >= 3)
                if len(rssi) >= MIN_SURVEY_RECEIVERS:
                    x = float(np.mean(truth.xs[first : last + 1]))
                    y = float(np.mean(truth.ys[first : last + 1]))
                    points.append(SurveyPoint(x, y, floor, rssi, dataset.site.tag(tag).height))
            first = last + 1
    later = replace(dataset, name=f"{dataset.name}, second half", scored_from=cut)
    surveyed = replace(
        later,
        name=f"{later.name}, surveyed at {len(points)} stops of the first",
        site=replace(dataset.site, survey=tuple(points)),
    )
    return later, surveyed


def score(dataset: Dataset, method: str, estimates: list[Estimate], cpu_seconds: float) -> Score:
    """Compare estimates (from the dataset's `scored_from` on) with the truth."""
    estimates = [e for e in estimates if e.time >= dataset.scored_from]
    errors, accuracies, zone_hits = [], [], []
    zones_seen: dict[str, list[tuple[float, str]]] = {}
    for e in estimates:
        truth = dataset.truth.get(e.tag)
        if truth is None:
            continue
        x = float(np.interp(e.time, truth.times, truth.xs))
        y = float(np.interp(e.time, truth.times, truth.ys))
        errors.append(float(np.hypot(e.x - x, e.y - y)))
        accuracies.append(e.accuracy)
        index = max(int(np.searchsorted(truth.times, e.time, side="right")) - 1, 0)
        zone_hits.append((e.zone or "") == truth.zones[index])
        zones_seen.setdefault(e.tag, []).append((e.time, e.zone or ""))
    error = np.array(errors)
    changes, hours = 0, 0.0
    for tag, seen in zones_seen.items():
        truth = dataset.truth[tag]
        span = float(np.hypot(np.ptp(truth.xs), np.ptp(truth.ys)))
        if span <= STATIONARY_SPAN_M and len(seen) > 1:
            changes += sum(1 for a, b in itertools.pairwise(seen) if a[1] != b[1])
            hours += (seen[-1][0] - seen[0][0]) / 3600.0
    return Score(
        dataset.name,
        method,
        len(estimates),
        float(np.median(error)) if errors else float("nan"),
        float(np.percentile(error, 90)) if errors else float("nan"),
        float(np.mean(zone_hits)) if zone_hits else float("nan"),
        changes / hours if hours > 0 else None,
        float(np.mean(accuracies) / np.mean(error)) if errors else float("nan"),
        len(dataset.adverts) / max(cpu_seconds, 1e-9),
        moving_lag(dataset, estimates),
    )


def moving_lag(dataset: Dataset, estimates: list[Estimate]) -> float | None:
    """How far behind the truth moving tags' estimates run (s); None if no tag moves.

    The delay that minimises the mean error of the estimates made while a tag moves, the
    estimate at t being compared with the truth at t - delay.
    """
    totals = np.zeros(len(LAG_STEPS))
    count = 0
    rows_by_tag: dict[str, list[Estimate]] = {}
    for e in estimates:
        if e.tag in dataset.truth:
            rows_by_tag.setdefault(e.tag, []).append(e)
    for tag, rows in rows_by_tag.items():
        truth = dataset.truth[tag]
        if len(truth.times) < 2:
            continue
        times = np.array([e.time for e in rows])
        speed = np.hypot(np.gradient(truth.xs, truth.times), np.gradient(truth.ys, truth.times))
        moving = np.interp(times, truth.times, speed) >= MOVING_SPEED
        if not moving.any():
            continue
        times = times[moving]
        xs = np.array([e.x for e in rows])[moving]
        ys = np.array([e.y for e in rows])[moving]
        for step, delay in enumerate(LAG_STEPS):
            tx = np.interp(times - delay, truth.times, truth.xs)
            ty = np.interp(times - delay, truth.times, truth.ys)
            totals[step] += float(np.sum(np.hypot(xs - tx, ys - ty)))
        count += len(times)
    return float(LAG_STEPS[int(np.argmin(totals))]) if count else None


def _true_position(dataset: Dataset, tag: str, time: float) -> tuple[float, float]:
    truth = dataset.truth[tag]
    return float(np.interp(time, truth.times, truth.xs)), float(
        np.interp(time, truth.times, truth.ys)
    )


def as_people(dataset: Dataset) -> Dataset:
    """The dataset with its assets declared as people: people who stand still.

    The simulated people walk and pause; people who sit for long, and parked vehicles,
    are tracked as people or vehicles, not as assets, and must not change zone either.
    """
    tags = tuple(
        replace(t, motion="person") if t.motion == "asset" else t for t in dataset.site.tags
    )
    return replace(dataset, site=replace(dataset.site, tags=tags))


def run(datasets: Iterable[Dataset], progress: Callable[[str], None] | None = None) -> list[Score]:
    """Every method on every dataset.

    The engine, and the oracles with its tracker, run once more with the assets declared as
    people (`as_people`) for the standing people's zone changes; the baselines ignore
    motion classes, so theirs are their stationary tags' zone changes.
    """
    scores = []
    for dataset in datasets:
        for method, factory in _methods(dataset).items():
            locator = factory(dataset.site)
            started = time.process_time()
            estimates = list(replay(locator, dataset.adverts))
            cpu = time.process_time() - started
            result = score(dataset, method, estimates, cpu)
            standing = result.stationary_zone_changes_per_hour
            if isinstance(locator, Engine) and any(t.motion == "asset" for t in dataset.site.tags):
                people = as_people(dataset)
                standing = score(
                    people, method, list(replay(factory(people.site), people.adverts)), cpu
                ).stationary_zone_changes_per_hour
            scores.append(replace(result, standing_people_zone_changes_per_hour=standing))
            if progress:
                progress(f"{dataset.name}: {method}: {len(estimates)} rows in {cpu:.1f} CPU s")
    return scores


def _methods(dataset: Dataset) -> dict[str, Callable[[Site], Locator]]:
    """The engine and the baselines (a surveyed site's fingerprints too); oracles if simulated."""
    methods = METHODS | ({"fingerprint match": FingerprintMatch} if dataset.site.survey else {})
    radio = dataset.radio
    if radio is None:
        fitted, noise = fit_path_loss_to_truth(
            dataset.site, dataset.adverts, partial(_true_position, dataset)
        )
        oracle = partial(truth_fitted_oracle, fitted=fitted, noise_db=noise)
        return methods | {TRUTH_ORACLE: oracle}
    oracles: dict[str, Callable[[Site], Locator]] = {
        name: partial(radio_oracle, radio=radio, shadowing=shadowing)
        for name, shadowing in ORACLES.items()
    }
    return methods | oracles


def table(scores: list[Score]) -> str:
    """One markdown table, with the engine's median relative to the best baseline."""
    lines = [
        "| dataset | method | median m | p90 m | zone acc. | zone changes/h (stationary) "
        "| zone changes/h (standing people) | lag moving s | reported/actual "
        "| adverts per CPU s | median vs best baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in dict.fromkeys(s.dataset for s in scores):
        rows = [s for s in scores if s.dataset == dataset]
        best = min(s.median for s in rows if s.method in BASELINES)
        for s in rows:
            relative = f"{(s.median / best - 1) * 100:+.0f} %" if s.method == "engine" else ""
            cells = (
                s.dataset,
                s.method,
                f"{s.median:.2f}",
                f"{s.p90:.2f}",
                f"{s.zone_accuracy * 100:.0f} %",
                _per_hour(s.stationary_zone_changes_per_hour),
                _per_hour(s.standing_people_zone_changes_per_hour),
                "-" if s.moving_lag is None else f"{s.moving_lag:.2f}",
                f"{s.accuracy_ratio:.2f}",
                f"{s.adverts_per_cpu_second:,.0f}",
                relative,
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets(scores: list[Score]) -> str:
    """The targets the benchmark is held to, each with what this run measured, as a table.

    A target on a recording is checked when that recording was benched; the simulated sites'
    targets apply to each simulated dataset.
    """
    engine = {s.dataset: s for s in scores if s.method == "engine"}
    by = {(s.dataset, s.method): s for s in scores}
    rows: list[tuple[str, str, bool]] = []

    def within(dataset: str, label: str, value: float | None, low: float, high: float) -> None:
        if dataset in engine and value is not None:
            rows.append((f"{dataset}: {label}", f"{value:.2f}", low <= value <= high))

    for dataset, score_ in engine.items():
        if dataset == "static_set1_odd":
            within(dataset, "median <= 1.8 m", score_.median, 0.0, 1.8)
            within(dataset, "p90 <= 4.5 m", score_.p90, 0.0, 4.5)
            within(dataset, "zone >= 70 %", score_.zone_accuracy * 100, 70.0, 100.0)
            changes = score_.stationary_zone_changes_per_hour
            within(dataset, "zone changes/h standing <= 1", changes, 0.0, 1.0)
            within(dataset, "reported / actual 0.7-1.3", score_.accuracy_ratio, 0.7, 1.3)
        goals = {
            "static_set1_odd_survey_even": 1.2,
            "session_3_walks": 1.5,
            "session_3_walks_survey_set1": 1.2,
            "kolakowski_calibration": 1.2,
        }
        if dataset in goals:
            within(dataset, f"median <= {goals[dataset]} m", score_.median, 0.0, goals[dataset])
        if dataset == "static_set1_odd_survey_even":
            within(dataset, "zone >= 80 %", score_.zone_accuracy * 100, 80.0, 100.0)
        plain = engine.get(dataset.replace("_survey_even", "").replace("_survey_set1", ""))
        if plain is not None and plain is not score_:
            within(
                dataset, "median no worse than without the survey", score_.median, 0.0, plain.median
            )
        fingerprint = by.get((dataset, "fingerprint match"))
        if fingerprint is not None:
            within(
                dataset,
                "median below the fingerprint match's",
                score_.median,
                0.0,
                fingerprint.median,
            )
            within(
                dataset,
                "zone above the fingerprint match's",
                score_.zone_accuracy * 100,
                fingerprint.zone_accuracy * 100,
                100.0,
            )
        strongest = by.get((dataset, "strongest receiver"))
        if dataset.startswith("simulated") and strongest is not None:
            floor = strongest.zone_accuracy * 100 + 10.0
            within(
                dataset,
                f"zone >= strongest + 10 ({floor:.0f} %)",
                score_.zone_accuracy * 100,
                floor,
                100.0,
            )
            standing = score_.standing_people_zone_changes_per_hour
            worst = max(
                filter(None, (score_.stationary_zone_changes_per_hour, standing)), default=0.0
            )
            within(dataset, "zone changes/h standing <= 3", worst, 0.0, 3.0)
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {label} | {value} | {'yes' if met else '**no**'} |" for label, value, met in rows]
    return "\n".join(lines)


def _per_hour(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def recordings(folder: Path) -> list[Path]:
    """Every recording (a folder with a TRUTH.csv) at any depth under `folder`."""
    return sorted(truth.parent for truth in folder.rglob("TRUTH.csv")) if folder.is_dir() else []


def default_datasets(
    data_dirs: list[Path],
    duration: float,
    seed: int,
    receivers_advertise: bool = False,
    survey_spacing: float = 0.0,
) -> Iterable[Dataset]:
    """Each recorded dataset folder, then the simulated scenarios.

    The folders are all read first, so a bad one fails at once. With a survey, a one-floor
    recording's second half, without a survey and with its first half's stops as one
    (`surveyed_at_stops`); a recording over several floors as it is (its truth has no floors
    to place the stops on).
    """
    for recorded in [load_dataset(folder) for folder in data_dirs]:
        if survey_spacing > 0 and len(recorded.site.floors) == 1:
            yield from surveyed_at_stops(recorded)
        else:
            yield recorded
    for scenario in SCENARIOS:
        yield simulated_dataset(scenario, duration, seed, receivers_advertise, survey_spacing)


def progress_to_stderr(message: str) -> None:
    """Show progress on long runs."""
    print(f"bench: {message}", file=sys.stderr, flush=True)

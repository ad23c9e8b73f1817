"""The location engine: adverts in, one estimate per tag per second out.

Online and causal: `observe` takes adverts in time order, `update(now)` returns estimates
for tags that are due, using only what was observed up to `now`. It reads no clock and
does no I/O, so Home Assistant (a timer), the replay command and the tests drive the same
object. Per advert it does a dictionary look-up and an append; the solve runs at most once
per tag per `emit_interval`.

Pipeline per tag: RSSI per receiver (trimmed window or the paper's Kalman) -> floor choice
-> multilateration as the posterior over a grid of the floor, robust in dB, with
self-calibrated path loss, the walls of rooms and, where the site was surveyed, what the
survey measured the model to miss (or a proximity fallback with 1-2 receivers) ->
still-or-moving tracking -> zone with hysteresis. Adverts of receivers that also advertise
(their `beacon`) measure the receivers' biases instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from .calibration import SelfCalibration
from .filters import PaperKalman, trimmed_mean
from .grid import FixRequest, FloorGrid, Pull
from .links import ReceiverLinks
from .pathloss import distance
from .site import Site, Tag
from .solver import Fix
from .stream import Estimate, Method, StreamLocator, TagStream
from .survey import SurveyMap
from .tracker import Tracker, new_tracker
from .walls import room_walls
from .zones import ZoneMap, ZoneTracker

type RssiFilter = Literal["trimmed", "kalman"]

FLOOR_SWITCH_DB = 3.0
# A tag's readings span at most the time it takes, at its tracked speed, to travel
# WINDOW_TRAVEL_M (between MIN_WINDOW_S and the window): a fast tag's window must not smear
# its path.
WINDOW_TRAVEL_M = 2.0
MIN_WINDOW_S = 1.0
PROXIMITY_MIN_RADIUS = 1.0
MIN_READING_SIGMA_DB = 1.0
# Every fix is pulled toward the receivers' RSSI-weighted centroid, a Gaussian prior of
# CENTROID_SIGMA_M: where the readings say little a fix stays near its strongest receivers,
# which behind walls are mostly in the same room.
CENTROID_SIGMA_M = 5.0
# How often the receivers that hear each other are fitted again (links.py), and the survey's
# corrections worked out again under the path loss learnt since (survey.py).
LINKS_EVERY_S = 30.0
SURVEY_EVERY_S = 30.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunable settings; the defaults are what the benchmark table was made with."""

    rssi_filter: RssiFilter = "trimmed"
    window: float = 3.0
    emit_interval: float = 1.0
    self_calibrate: bool = True
    zone_margin: float = 0.5
    zone_dwell: float = 0.0
    min_receivers: int = 3


@dataclass(slots=True)
class Reading:
    """The filtered RSSI of one receiver and how many packets it rests on."""

    index: int
    rssi: float
    count: int
    spread: float


class FixModel(Protocol):
    """How a floor's readings become fixes: the engine's learnt radio, or an oracle's.

    The engine keeps its windows, floor choice, tracker and zones whichever model fixes, so
    two models compare on the fix alone.
    """

    def request(self, tag: Tag, readings: Sequence[Reading]) -> FixRequest:
        """One tag's readings as its floor's grid takes them."""
        ...

    def fixes(self, floor: int, requests: list[FixRequest]) -> list[Fix]:
        """The fixes of one floor's requests, in their order."""
        ...


type FixModelFactory = Callable[[Mapping[int, FloorGrid]], FixModel]


def reading_sigmas(readings: Sequence[Reading], model_noise_db: float) -> list[float]:
    """Each reading's standard deviation (dB): the model's noise and its packets' spread."""
    noise_2 = model_noise_db**2
    return [
        math.sqrt(noise_2 + max(r.spread, MIN_READING_SIGMA_DB) ** 2 / r.count) for r in readings
    ]


@dataclass(slots=True, kw_only=True)
class _TagState(TagStream):
    tag: Tag
    tracker: Tracker
    zone: ZoneTracker
    kalmans: dict[int, PaperKalman] = field(default_factory=dict)
    floor: int | None = None
    fix_radius: float | None = None


class Engine(StreamLocator[_TagState]):
    """Locates the tags of one site."""

    def __init__(
        self,
        site: Site,
        config: EngineConfig | None = None,
        fix_model: FixModelFactory | None = None,
    ) -> None:
        """`fix_model` replaces the engine's learnt radio (an oracle's); given the grids."""
        self.config = config or EngineConfig()
        super().__init__(site, self.config.window, self.config.emit_interval)
        self._positions = [(r.x, r.y, r.z) for r in site.receivers]
        self._floors = [r.floor for r in site.receivers]
        self._bounds = {floor: site.bounds(floor) for floor in site.floors}
        # The 1-sigma radius of "somewhere on this floor" (uniform over its box): no fix is
        # vaguer than that, as every position is kept inside the box.
        self._vaguest = {
            floor: math.sqrt(((hx - lx) ** 2 + (hy - ly) ** 2) / 12.0)
            for floor, ((lx, ly), (hx, hy)) in self._bounds.items()
        }
        self._zones = ZoneMap(site.zones)
        walls = room_walls(site.zones)
        self.grids = {
            floor: FloorGrid(bounds, floor, site.receivers, walls.get(floor, []))
            for floor, bounds in self._bounds.items()
        }
        self._receiver_ids = [r.id for r in site.receivers]
        self._restored_zones: dict[str, str | None] = {}
        self._declared_powers = {t.id: t.ref_rssi_1m for t in site.tags}
        self.calibration = SelfCalibration(
            exponent=site.path_loss.exponent,
            default_ref_rssi=site.path_loss.ref_rssi_1m,
            receiver_count=len(site.receivers),
            enabled=self.config.self_calibrate,
        )
        self.links = ReceiverLinks(site.receivers)
        self._links_due = -math.inf
        surveyed = {p.floor for p in site.survey}
        self._surveys = {
            floor: SurveyMap(
                [p for p in site.survey if p.floor == floor],
                grid,
                site.receivers,
                self.receiver_index,
            )
            for floor, grid in self.grids.items()
            if floor in surveyed
        }
        self._survey_due = -math.inf
        self._surveyed_path_loss = self._path_loss_of_surveys()
        # Fixes the self-calibration has yet to learn from: tag, declared 1 m power, receivers.
        self._lessons: list[tuple[str, float | None, list[int], Fix]] = []
        self._lessons_time = -math.inf
        self._fix_model: FixModel = self if fix_model is None else fix_model(self.grids)

    def _observed(self, state: _TagState, index: int, rssi: float) -> None:
        if self.config.rssi_filter == "kalman":
            kalman = state.kalmans.get(index)
            if kalman is None:
                kalman = state.kalmans[index] = PaperKalman()
            kalman.update(rssi)

    def _receiver_heard(self, sender: int, receiver: int, rssi: float) -> None:
        self.links.heard(sender, receiver, rssi)

    def update(self, now: float, limit: int | None = None) -> list[Estimate]:
        """Estimates for the tags due at `now`; the receivers' pairs are fitted first when due.

        The self-calibration learns from the fixes made at one `now` when the engine is first
        asked at a later one, so all fixes made at one `now` use the same path loss, however
        the host splits them into calls.
        """
        if now != self._lessons_time:
            self._lessons_time = now
            for tag_id, declared, indices, fix in self._lessons:
                self.calibration.learn(
                    tag_id, declared, indices, fix.residuals, fix.weights, fix.log_ranges
                )
            self._lessons.clear()
        if self.beacons and now >= self._links_due:
            self._links_due = now + LINKS_EVERY_S
            self.calibration.measure_biases(self.links.biases())
        if self._surveys and now >= self._survey_due:
            self._survey_due = now + SURVEY_EVERY_S
            calibration = self.calibration
            if self._surveyed_path_loss is not None:
                exponent, biases = self._surveyed_path_loss
                calibration.measure_exponent(exponent)
                if not self.beacons:  # receivers that hear each other keep their pairs' biases
                    calibration.measure_biases(biases)
            for floor, survey in self._surveys.items():
                self.grids[floor].correction = survey.corrections(
                    calibration.biases, calibration.exponent, self.site.path_loss.wall_loss_db
                )
        return super().update(now, limit)

    def _path_loss_of_surveys(self) -> tuple[float, dict[int, float]] | None:
        """The exponent and biases the surveys measure, to hold instead of learning them.

        Fixed by the survey's readings and the declared wall loss, so worked out once; None
        when no survey pins them.
        """
        wall_loss = self.site.path_loss.wall_loss_db
        fitted = [
            found
            for survey in self._surveys.values()
            if (found := survey.path_loss(wall_loss)) is not None
        ]
        if not fitted:
            return None
        readings = sum(count for _, _, count in fitted)
        exponent = sum(exponent * count for _, exponent, count in fitted) / readings
        return exponent, {
            receiver: bias for biases, _, _ in fitted for receiver, bias in biases.items()
        }

    def _new_tag(self, tag_id: str) -> _TagState:
        tag = self.site.tag(tag_id)
        zone = ZoneTracker(tag_id, self._zones, self.config.zone_margin, self.config.zone_dwell)
        if tag_id in self._restored_zones:
            zone.restore(self._restored_zones.pop(tag_id))
        return _TagState(tag=tag, tracker=new_tracker(tag.motion), zone=zone)

    def restore_zone(self, tag_id: str, zone: str | None) -> None:
        """The zone a tag was last known in before a restart: its zone changes from there."""
        state = self.tags.get(tag_id)
        if state is None:
            self._restored_zones[tag_id] = zone
        else:
            state.zone.restore(zone)

    def _readings(self, state: _TagState, now: float) -> list[Reading]:
        speed = state.tracker.speed
        recent = max(MIN_WINDOW_S, WINDOW_TRAVEL_M / speed) if speed > 0.0 else None
        readings = []
        for index, window in state.windows.items():
            values = window.values(now, recent)
            if not values:
                continue
            if self.config.rssi_filter == "kalman":
                rssi = state.kalmans[index].estimate
            else:
                rssi = trimmed_mean(values)
            spread = (max(values) - min(values)) / 2.0 if len(values) > 1 else 0.0
            readings.append(Reading(index, rssi, len(values), spread))
        return readings

    def saved_calibration(self) -> dict[str, Any]:
        """The self-calibration learnt so far, for the host to store (JSON-ready)."""
        return self.calibration.saved(self._receiver_ids, self._declared_powers)

    def restore_calibration(self, saved: Mapping[str, Any]) -> bool:
        """Start from a stored self-calibration instead of the declared values.

        Positions are then as good after a restart as before it. False (nothing changed) if
        it does not fit the site.
        """
        return self.calibration.restore(saved, self._receiver_ids, self._declared_powers)

    def filtered_rssi(self, tag_id: str, now: float) -> dict[str, float]:
        """The tag's current filtered RSSI per receiver id, offsets applied (for calibration)."""
        state = self.tags.get(tag_id)
        if state is None:
            return {}
        receivers = self.site.receivers
        return {receivers[r.index].id: r.rssi for r in self._readings(state, now)}

    def _choose_floor(self, state: _TagState, readings: list[Reading]) -> int:
        if len(self._bounds) == 1:
            return next(iter(self._bounds))
        scores: dict[int, list[float]] = {}
        for reading in readings:
            scores.setdefault(self._floors[reading.index], []).append(reading.rssi)
        ranked = {floor: float(np.mean(sorted(v, reverse=True)[:3])) for floor, v in scores.items()}
        best = max(ranked, key=lambda f: ranked[f])
        current = state.floor
        if current in ranked and ranked[best] - ranked[current] < FLOOR_SWITCH_DB:
            return current
        return best

    def _locate_batch(self, batch: list[tuple[str, _TagState]], now: float) -> list[Estimate]:
        """The fixes made per floor together (one grid pass), then each tag's track."""
        located: list[tuple[str, _TagState, int, list[Reading], FixRequest | None]] = []
        requests: dict[int, list[FixRequest]] = {}
        for tag_id, state in batch:
            readings = self._readings(state, now)
            if not readings:
                continue
            floor = self._choose_floor(state, readings)
            if floor != state.floor and state.floor is not None:
                state.tracker = new_tracker(state.tag.motion)
            state.floor = floor
            on_floor = [r for r in readings if self._floors[r.index] == floor]
            request = None
            if len(on_floor) >= self.config.min_receivers:
                request = self._fix_model.request(state.tag, on_floor)
                requests.setdefault(floor, []).append(request)
            located.append((tag_id, state, floor, on_floor, request))
        fixes = {
            floor: iter(self._fix_model.fixes(floor, batch)) for floor, batch in requests.items()
        }
        estimates = []
        for tag_id, state, floor, readings, request in located:
            if request is None:
                fix = self._proximity(state, readings)
                method: Method = "proximity"
            else:
                fix = next(fixes[floor])
                self._lessons.append((tag_id, state.tag.ref_rssi_1m, request.indices, fix))
                method = "multilateration"
            estimates.append(self._track(tag_id, state, fix, floor, now, len(readings), method))
        return estimates

    def _track(
        self,
        tag_id: str,
        state: _TagState,
        fix: Fix,
        floor: int,
        now: float,
        receivers: int,
        method: Method,
    ) -> Estimate:
        tracker = state.tracker
        tracker.update(now, (fix.x, fix.y), fix.covariance)
        x, y = tracker.clamp(*self._bounds[floor])
        vaguest = self._vaguest[floor]
        radius = min(fix.radius, vaguest)
        state.fix_radius = (
            radius if state.fix_radius is None else 0.8 * state.fix_radius + 0.2 * radius
        )
        accuracy = min(max(tracker.radius, state.fix_radius), vaguest)
        state.zone.update(now, floor, float(x), float(y), accuracy, tracker.speed)
        return Estimate(
            now, tag_id, float(x), float(y), floor, accuracy, state.zone.zone, receivers, method
        )

    def _model(self, tag: Tag, indices: list[int]) -> tuple[list[float], float]:
        """Each receiver's expected RSSI at 1 m from the tag, and the path-loss exponent."""
        calibration = self.calibration
        power = calibration.ref_rssi(tag.id, tag.ref_rssi_1m)
        biases = calibration.biases
        return [power + biases[i] for i in indices], calibration.exponent

    def request(self, tag: Tag, readings: Sequence[Reading]) -> FixRequest:
        """The readings as the grid takes them: excess over the 1 m power, noise, pull."""
        indices = [r.index for r in readings]
        ref, _ = self._model(tag, indices)
        sigma = reading_sigmas(readings, self.calibration.noise_db)
        positions = self._positions
        weights = [10.0 ** (r.rssi / 20.0) for r in readings]
        total = sum(weights)
        pull = Pull(
            sum(w * positions[i][0] for w, i in zip(weights, indices, strict=True)) / total,
            sum(w * positions[i][1] for w, i in zip(weights, indices, strict=True)) / total,
            CENTROID_SIGMA_M**-2,
        )
        excess = [r.rssi - a for r, a in zip(readings, ref, strict=True)]
        return FixRequest(indices, excess, sigma, tag.height, pull)

    def fixes(self, floor: int, requests: list[FixRequest]) -> list[Fix]:
        """The fixes of one floor's requests, under the path loss learnt so far."""
        return self.grids[floor].fixes(
            requests, self.calibration.exponent, self.site.path_loss.wall_loss_db
        )

    def _proximity(self, state: _TagState, readings: list[Reading]) -> Fix:
        """1-2 receivers: near the strongest, pulled toward the second; radius is the range."""
        indices = [r.index for r in readings]
        ref, exponent = self._model(state.tag, indices)
        ranges = [
            max(distance(r.rssi, a, exponent), PROXIMITY_MIN_RADIUS)
            for r, a in zip(readings, ref, strict=True)
        ]
        positions = [self._positions[i] for i in indices]
        inverse = [1.0 / d for d in ranges]
        total = sum(inverse)
        x = sum(w * p[0] for w, p in zip(inverse, positions, strict=True)) / total
        y = sum(w * p[1] for w, p in zip(inverse, positions, strict=True)) / total
        radius = min(ranges)
        if len(readings) == 2:
            (ax, ay, _), (bx, by, _) = positions
            radius = max(radius, math.hypot(ax - bx, ay - by) / 2.0)
        covariance = np.eye(2, dtype=np.float64) * (radius * radius / 2.0)
        return Fix(x, y, covariance, 0.0, [], [])

    def diagnostics(self) -> dict[str, Any]:
        """What the engine learnt and how finely it weighs positions (JSON-ready)."""
        calibration = self.calibration
        receivers = self.site.receivers
        return {
            "exponent": calibration.exponent,
            "noise_db": calibration.noise_db,
            "receiver_bias_db": {
                receiver.id: round(float(bias), 2)
                for receiver, bias in zip(receivers, calibration.biases, strict=True)
            },
            # Receivers whose bias their pairs measure (they hear each other's beacons).
            "bias_measured": [receivers[index].id for index in sorted(calibration.measured)],
            "tag_ref_rssi_1m": dict(calibration.tag_ref),
            # Per floor: the walls the zones marked as rooms give (a room left unmarked shows
            # as missing walls), the survey points and how far they move the model (RMS dB).
            "grid": {
                str(floor): {
                    "step_m": round(grid.step, 2),
                    "points": int(grid.xs.size),
                    "walls": len(grid.wall_segments),
                    "survey_points": sum(p.floor == floor for p in self.site.survey),
                    "survey_correction_db": None
                    if grid.correction is None
                    else round(float(np.sqrt(np.mean(grid.correction**2))), 2),
                }
                for floor, grid in self.grids.items()
            },
            "unknown_receivers": dict(self.unknown_receivers),
        }

"""Simulated sites: SITE.json, ADVERTS.csv and TRUTH.csv with a radio that is hard on purpose.

What the engine is told (SITE.json) differs from what the simulated radio does, as on a real
site: the true path-loss exponent differs from the declared one, each tag's power from the
declared 1 m RSSI, and each receiver has a hidden bias. On top come spatially correlated
shadowing (random Fourier features, a few metres of correlation), walls, floors, per-packet
Rayleigh fading and packet loss that grows as the signal nears the receiver's sensitivity.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from custom_components.ble_rtls.engine import (
    MIN_SURVEY_RECEIVERS,
    Advert,
    MotionClass,
    Point,
    polygon_area,
    write_adverts,
)
from custom_components.ble_rtls.engine.filters import trimmed_mean
from custom_components.ble_rtls.engine.walls import Segment, crosses
from custom_components.ble_rtls.engine.zones import contains

type Array = NDArray[np.float64]

FLOOR_HEIGHT = 3.0
FLOOR_LOSS_DB = 18.0
SENSITIVITY_DBM = -94.0
ADVERT_INTERVAL: dict[MotionClass, float] = {"asset": 1.0, "person": 0.5, "vehicle": 0.25}
BEACON_INTERVAL = 1.0
TAG_HEIGHT = 1.0
# A survey point: a tag held at the place for 10 s, advertising twice a second.
SURVEY_PACKETS = 20
SPEED: dict[MotionClass, tuple[float, float]] = {
    "asset": (0.0, 0.0),
    "person": (0.8, 1.5),
    "vehicle": (3.0, 8.0),
}


@dataclass(frozen=True, slots=True)
class Room:
    """A rectangular zone on a floor."""

    id: str
    name: str
    floor: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def polygon(self) -> tuple[Point, ...]:
        """Corners, counter-clockwise."""
        return ((self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1))


@dataclass(frozen=True, slots=True)
class Scenario:
    """A described site: receivers, rooms, walls, tags and the true radio."""

    name: str
    receivers: tuple[tuple[str, float, float, float, int], ...]
    rooms: tuple[Room, ...]
    walls: tuple[tuple[int, Segment], ...]
    tags: tuple[tuple[str, MotionClass, int], ...]
    declared_exponent: float = 2.2
    true_exponent: float = 2.7
    declared_ref_rssi: float = -59.0
    tag_power_spread_db: float = 5.0
    receiver_bias_db: float = 3.0
    shadowing_db: float = 4.0
    shadowing_length: float = 3.0
    fading: bool = True
    wall_loss_db: float = 4.0
    packet_loss: float = 0.1
    receivers_advertise: bool = False  # each also sends a beacon once a second
    survey_spacing: float = 0.0  # survey points this far apart in every room; 0: no survey
    zone_walls: bool = True  # the zones are rooms (False: areas marked on an open floor)


def _grid_rooms(
    prefix: str, floor: int, xs: list[float], ys: list[float], names: list[str]
) -> list[Room]:
    rooms = []
    k = 0
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            rooms.append(Room(f"{prefix}{k}", names[k], floor, xs[i], ys[j], xs[i + 1], ys[j + 1]))
            k += 1
    return rooms


def fleet(
    prefix: str, motion: MotionClass, count: int, floors: int = 1
) -> tuple[tuple[str, MotionClass, int], ...]:
    """`count` tags of one motion class, spread over the first `floors` floors in turn."""
    return tuple((f"{prefix}-{i}", motion, i % floors) for i in range(count))


def walls_of_rooms(rooms: list[Room]) -> tuple[tuple[int, Segment], ...]:
    """Every room's edges, each once: the walls of the rooms."""
    walls: set[tuple[int, Segment]] = set()
    for room in rooms:
        corners = room.polygon
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
            walls.add((room.floor, (min(a, b), max(a, b))))
    return tuple(sorted(walls))


def _house() -> Scenario:
    names = ["Kitchen", "Living room", "Hall", "Bedroom", "Office", "Bathroom"]
    rooms = _grid_rooms("room", 0, [0, 5, 10, 15], [0, 5, 10], names)
    receivers = tuple(
        (f"proxy-{i}", x, y, z, 0)
        for i, (x, y, z) in enumerate(
            [
                (0.5, 0.5, 2.2),
                (7.5, 0.3, 1.5),
                (14.5, 0.5, 2.0),
                (14.7, 9.5, 1.2),
                (7.5, 9.7, 2.3),
                (0.3, 9.5, 1.8),
                (5.0, 5.0, 2.5),
                (10.0, 5.0, 0.9),
            ]
        )
    )
    tags = fleet("asset", "asset", 4) + fleet("person", "person", 8)
    return Scenario(
        "house",
        receivers,
        tuple(rooms),
        walls_of_rooms(rooms),
        tags,
        true_exponent=2.7,
        declared_ref_rssi=-59.0,
    )


def _warehouse() -> Scenario:
    names = ["Loading dock", "Storage A", "Storage B", "Office", "Storage C", "Restricted room"]
    rooms = _grid_rooms("area", 0, [0, 15, 30, 45], [0, 12, 24], names)
    receivers = tuple(
        (f"proxy-{i}", x, y, 4.0, 0)
        for i, (x, y) in enumerate(
            [
                (1, 1),
                (15, 0.5),
                (29, 1),
                (44, 1),
                (44, 12),
                (44, 23),
                (30, 23.5),
                (15, 23),
                (1, 23),
                (1, 12),
                (15, 12),
                (30, 12),
            ]
        )
    )
    tags = (
        fleet("pallet", "asset", 8) + fleet("worker", "person", 6) + fleet("forklift", "vehicle", 6)
    )
    return Scenario(
        "warehouse",
        receivers,
        tuple(rooms),
        walls_of_rooms(rooms),
        tags,
        true_exponent=2.4,
        declared_exponent=2.9,
        declared_ref_rssi=-64.0,
        wall_loss_db=3.0,
    )


def _office() -> Scenario:
    rooms: list[Room] = []
    receivers: list[tuple[str, float, float, float, int]] = []
    for floor in (0, 1):
        names = [
            f"Floor {floor} west",
            f"Floor {floor} middle",
            f"Floor {floor} east",
            f"Floor {floor} meeting",
        ]
        rooms += _grid_rooms(f"f{floor}-", floor, [0, 8, 16], [0, 6, 12], names)
        z = floor * FLOOR_HEIGHT + 2.4
        receivers += [
            (f"f{floor}-proxy-{i}", x, y, z, floor)
            for i, (x, y) in enumerate(
                [(0.5, 0.5), (15.5, 0.5), (15.5, 11.5), (0.5, 11.5), (8.0, 6.0)]
            )
        ]
    tags = fleet("badge", "person", 6, floors=2) + fleet("laptop", "asset", 4, floors=2)
    return Scenario(
        "office-2-floors",
        tuple(receivers),
        tuple(rooms),
        walls_of_rooms(rooms),
        tags,
        true_exponent=2.0,
        declared_exponent=2.4,
        declared_ref_rssi=-55.0,
    )


SCENARIOS = {"house": _house, "warehouse": _warehouse, "office": _office}


class _Shadowing:
    """A smooth random field in dB over the floor plan, one per receiver."""

    def __init__(self, rng: np.random.Generator, sd: float, length: float, terms: int = 24) -> None:
        self.k = rng.normal(0.0, 1.0 / length, size=(terms, 2))
        self.phase = rng.uniform(0.0, 2 * math.pi, size=terms)
        self.scale = sd * math.sqrt(2.0 / terms)

    def __call__(self, x: float, y: float) -> float:
        return float(self.scale * np.sum(np.cos(self.k[:, 0] * x + self.k[:, 1] * y + self.phase)))


def _crossings(walls: tuple[tuple[int, Segment], ...], floor: int, a: Point, b: Point) -> int:
    return sum(1 for wall_floor, wall in walls if wall_floor == floor and crosses(a, b, wall))


class _Mover:
    """Waypoint motion inside the tag's floor rooms; assets never move."""

    def __init__(self, rng: np.random.Generator, motion: MotionClass, rooms: list[Room]) -> None:
        self.rng = rng
        self.motion = motion
        self.rooms = rooms
        self.position = self._random_point()
        self.target = self.position
        self.pause_until = 0.0
        self.speed = 0.0

    def _random_point(self) -> Point:
        room = self.rooms[int(self.rng.integers(len(self.rooms)))]
        margin = 0.6
        return (
            float(self.rng.uniform(room.x0 + margin, room.x1 - margin)),
            float(self.rng.uniform(room.y0 + margin, room.y1 - margin)),
        )

    def step(self, time: float, dt: float) -> Point:
        if self.motion == "asset" or time < self.pause_until:
            return self.position
        (x, y), (tx, ty) = self.position, self.target
        gap = math.hypot(tx - x, ty - y)
        travel = self.speed * dt
        if gap <= travel:
            self.position = self.target
            self.pause_until = time + float(self.rng.uniform(5.0, 40.0))
            self.target = self._random_point()
            low, high = SPEED[self.motion]
            self.speed = float(self.rng.uniform(low, high))
        else:
            self.position = (x + (tx - x) * travel / gap, y + (ty - y) * travel / gap)
        return self.position


@dataclass(frozen=True, slots=True)
class TrueRadio:
    """What the simulated radio really does, which the engine is never told.

    The benchmark's oracles read it to show how good a fix can be at all: with everything
    known but the shadowing, and with everything known.
    """

    scenario: Scenario
    biases: tuple[float, ...]
    shadowing: tuple[_Shadowing, ...]
    powers: dict[str, float]  # each tag's true RSSI at 1 m

    def mean_rssi(
        self,
        power: float,
        x: float,
        y: float,
        floor: int,
        index: int,
        shadowing: bool = True,
        height: float = TAG_HEIGHT,
    ) -> float:
        """Receiver `index`'s mean RSSI (dB) of a sender of `power` at (x, y) on `floor`.

        The sender is `height` above the floor: a tag's, or a receiver's own.
        """
        scenario = self.scenario
        _, rx, ry, rz, rfloor = scenario.receivers[index]
        tag_z = floor * FLOOR_HEIGHT + height
        dist = max(math.sqrt((x - rx) ** 2 + (y - ry) ** 2 + (tag_z - rz) ** 2), 0.3)
        mean = power + self.biases[index] - 10 * scenario.true_exponent * math.log10(dist)
        if shadowing:
            mean += self.shadowing[index](x, y)
        mean -= FLOOR_LOSS_DB * abs(rfloor - floor)
        if rfloor == floor:
            mean -= scenario.wall_loss_db * _crossings(scenario.walls, floor, (x, y), (rx, ry))
        return mean


def simulate(
    scenario: Scenario, duration: float, seed: int
) -> tuple[
    dict[str, object], list[Advert], list[tuple[float, str, float, float, int, str]], TrueRadio
]:
    """Run the scenario: the SITE.json document, the adverts, the truth rows and the radio."""
    rng = np.random.default_rng(seed)
    receivers = scenario.receivers
    bias = rng.normal(0.0, scenario.receiver_bias_db, size=len(receivers))
    shadowing = [
        _Shadowing(rng, scenario.shadowing_db, scenario.shadowing_length) for _ in receivers
    ]
    adverts: list[Advert] = []
    truth: list[tuple[float, str, float, float, int, str]] = []
    movers = []
    for tag_id, motion, floor in scenario.tags:
        rooms = [r for r in scenario.rooms if r.floor == floor]
        power = (
            scenario.declared_ref_rssi + float(rng.uniform(-1, 1)) * scenario.tag_power_spread_db
        )
        movers.append(
            (tag_id, motion, floor, power, _Mover(rng, motion, rooms), float(rng.uniform(0, 1)))
        )
    radio = TrueRadio(
        scenario,
        tuple(float(b) for b in bias),
        tuple(shadowing),
        {tag_id: power for tag_id, _, _, power, _, _ in movers},
    )
    beacons = _beacons(scenario, np.random.default_rng([seed, 1]))
    step = 0.05
    steps = int(duration / step)
    next_advert = {tag_id: offset for tag_id, _, _, _, _, offset in movers}
    for n in range(steps):
        time = n * step
        for tag_id, motion, floor, power, mover, _ in movers:
            x, y = mover.step(time, step)
            if time < next_advert[tag_id]:
                continue
            next_advert[tag_id] = time + ADVERT_INTERVAL[motion] * float(rng.uniform(0.9, 1.1))
            zone = next(
                (r.id for r in scenario.rooms if r.floor == floor and contains(r.polygon, x, y)), ""
            )
            truth.append((time, tag_id, x, y, floor, zone))
            for i, (rid, *_) in enumerate(receivers):
                rssi = _received(rng, scenario, radio.mean_rssi(power, x, y, floor, i))
                if rssi is not None:
                    adverts.append(Advert(round(time, 3), rid, tag_id, rssi))
        for beacon in beacons:
            if time >= beacon.next_advert:
                adverts += beacon.send(time, radio)
    beacon_ids = {receivers[beacon.index][0]: beacon.id for beacon in beacons}
    survey = _survey(radio, np.random.default_rng([seed, 2]))
    site: dict[str, object] = {
        "receivers": [
            {"id": r, "x": x, "y": y, "z": z - f * FLOOR_HEIGHT, "floor": f}
            | ({"beacon": beacon_ids[r]} if r in beacon_ids else {})
            for r, x, y, z, f in receivers
        ],
        "tags": [{"id": t, "motion": m} for t, m, _ in scenario.tags],
        "zones": [
            {
                "id": r.id,
                "name": r.name,
                "floor": r.floor,
                "polygon": [list(p) for p in r.polygon],
                "walls": scenario.zone_walls,
            }
            for r in scenario.rooms
            if abs(polygon_area(r.polygon)) > 0
        ],
        "path_loss": {
            "exponent": scenario.declared_exponent,
            "ref_rssi_1m": scenario.declared_ref_rssi,
        },
        **({"survey": survey} if survey else {}),
        "simulation": {
            "scenario": scenario.name,
            "seed": seed,
            "true_exponent": scenario.true_exponent,
            "receiver_bias_db": [round(float(b), 2) for b in bias],
        },
    }
    return site, adverts, truth, radio


def _survey(radio: TrueRadio, rng: np.random.Generator) -> list[dict[str, object]]:
    """Survey points every `survey_spacing` metres in each room, as a user would take them.

    A tag of its own power stands at each for SURVEY_PACKETS adverts; a receiver that got at
    least three gives the trimmed mean of what it got. From its own random stream, so the
    tags' adverts are the same with or without a survey.
    """
    scenario = radio.scenario
    spacing = scenario.survey_spacing
    if spacing <= 0:
        return []
    power = scenario.declared_ref_rssi + float(rng.uniform(-1, 1)) * scenario.tag_power_spread_db
    points: list[dict[str, object]] = []
    for room in scenario.rooms:
        columns = max(1, round((room.x1 - room.x0) / spacing))
        rows = max(1, round((room.y1 - room.y0) / spacing))
        for column in range(columns):
            for row in range(rows):
                x = room.x0 + (column + 0.5) * (room.x1 - room.x0) / columns
                y = room.y0 + (row + 0.5) * (room.y1 - room.y0) / rows
                heard: dict[str, float] = {}
                on_floor = 0
                for i, (rid, _, _, _, floor) in enumerate(scenario.receivers):
                    mean = radio.mean_rssi(power, x, y, room.floor, i)
                    packets = [
                        float(rssi)
                        for _ in range(SURVEY_PACKETS)
                        if (rssi := _received(rng, scenario, mean)) is not None
                    ]
                    if len(packets) >= 3:
                        heard[rid] = round(trimmed_mean(packets), 1)
                        on_floor += floor == room.floor
                if on_floor >= MIN_SURVEY_RECEIVERS:
                    points.append(
                        {"x": round(x, 2), "y": round(y, 2), "floor": room.floor, "rssi": heard}
                    )
    return points


def _received(rng: np.random.Generator, scenario: Scenario, mean: float) -> int | None:
    """The RSSI one packet of `mean` dB is received at after fading; None when it is lost."""
    rssi = mean
    if scenario.fading:
        rssi += 10 * math.log10(max(float(rng.exponential(1.0)), 1e-4)) * 0.6 + 2.5 * 0.6
        rssi += float(rng.normal(0.0, 1.5))
    heard = 1.0 / (1.0 + math.exp(-(rssi - SENSITIVITY_DBM) / 2.0)) * (1.0 - scenario.packet_loss)
    return round(rssi) if rng.uniform() < heard else None


@dataclass(slots=True)
class _Beacon:
    """A receiver's own advert, sent from where it hangs and heard by the others."""

    id: str
    index: int  # of its receiver
    power: float
    rng: np.random.Generator
    next_advert: float

    def send(self, time: float, radio: TrueRadio) -> list[Advert]:
        self.next_advert = time + BEACON_INTERVAL * float(self.rng.uniform(0.9, 1.1))
        _, x, y, z, floor = radio.scenario.receivers[self.index]
        height = z - floor * FLOOR_HEIGHT
        adverts = []
        for i, (rid, *_) in enumerate(radio.scenario.receivers):
            if i != self.index:
                mean = radio.mean_rssi(self.power, x, y, floor, i, height=height)
                rssi = _received(self.rng, radio.scenario, mean)
                if rssi is not None:
                    adverts.append(Advert(round(time, 3), rid, self.id, rssi))
        return adverts


def _beacons(scenario: Scenario, rng: np.random.Generator) -> list[_Beacon]:
    """The receivers' beacons, if they send any.

    They draw from their own random stream, so the tags' adverts are the same either way.
    """
    if not scenario.receivers_advertise:
        return []
    return [
        _Beacon(
            f"{rid}-beacon",
            i,
            scenario.declared_ref_rssi + float(rng.uniform(-1, 1)) * scenario.tag_power_spread_db,
            rng,
            float(rng.uniform(0, BEACON_INTERVAL)),
        )
        for i, (rid, *_) in enumerate(scenario.receivers)
    ]


def write_simulation(
    out_dir: str | Path,
    scenario: str,
    duration: float,
    seed: int,
    receivers_advertise: bool = False,
    survey_spacing: float = 0.0,
) -> Path:
    """Write SITE.json, ADVERTS.csv and TRUTH.csv for a built-in scenario into `out_dir`."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    described = replace(
        SCENARIOS[scenario](),
        receivers_advertise=receivers_advertise,
        survey_spacing=survey_spacing,
    )
    site, adverts, truth, _ = simulate(described, duration, seed)
    (folder / "SITE.json").write_text(json.dumps(site, indent=1), encoding="utf-8")
    write_adverts(folder / "ADVERTS.csv", adverts)
    with (folder / "TRUTH.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("time", "tag", "x", "y", "floor", "zone"))
        for time, tag, x, y, floor, zone in truth:
            writer.writerow((f"{time:.3f}", tag, f"{x:.3f}", f"{y:.3f}", floor, zone))
    return folder

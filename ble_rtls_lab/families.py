"""Families of simulated sites: a layout drawn at random for each seed, not three fixed plans.

Each family is a kind of site (a house, an office along a corridor, an open hall, a long
corridor, warehouse aisles between racks, a house on two floors). A seed draws its rooms'
sizes, which rooms have a receiver (never all: zones without one are the rule), where the
receivers hang, and the radio (exponent, biases, shadowing, walls, packets lost), so no
constant of the engine can fit one plan. The benchmark reports each family's median and
worst seed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from custom_components.ble_rtls.engine import MotionClass

from .simulate import FLOOR_HEIGHT, Room, Scenario, fleet, walls_of_rooms

type Receivers = list[tuple[str, float, float, float, int]]
type Tags = tuple[tuple[str, MotionClass, int], ...]


def _grid(rng: np.random.Generator, prefix: str, floor: int, columns: int, rows: int) -> list[Room]:
    """Rooms side by side, each 3-6 m a side."""
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(3.0, 6.0, columns))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(3.0, 6.0, rows))])
    return [
        Room(
            f"{prefix}{j}{i}", f"{prefix.upper()}{j}{i}", floor, xs[i], ys[j], xs[i + 1], ys[j + 1]
        )
        for j in range(rows)
        for i in range(columns)
    ]


def _in_some_rooms(
    rng: np.random.Generator, rooms: list[Room], share: float, prefix: str = "rx"
) -> Receivers:
    """A receiver in about `share` of the rooms (at least three), near a wall, 0.5-2.5 m up."""
    chosen = [room for room in rooms if rng.uniform() < share]
    while len(chosen) < 3:
        chosen.append(rooms[int(rng.integers(len(rooms)))])
    receivers: Receivers = []
    for k, room in enumerate(chosen):
        along = rng.uniform(0.2, 0.8)
        side = int(rng.integers(4))
        x = room.x0 + (room.x1 - room.x0) * (along if side < 2 else (0.05 if side == 2 else 0.95))
        y = room.y0 + (room.y1 - room.y0) * ((0.05 if side == 0 else 0.95) if side < 2 else along)
        height = float(rng.uniform(0.5, 2.5)) + room.floor * FLOOR_HEIGHT
        receivers.append((f"{prefix}-{k}", float(x), float(y), height, room.floor))
    return receivers


def _house(rng: np.random.Generator) -> tuple[list[Room], Receivers, Tags, bool]:
    rooms = _grid(rng, "r", 0, int(rng.integers(3, 5)), int(rng.integers(2, 4)))
    tags = fleet("asset", "asset", 4) + fleet("person", "person", 6)
    return rooms, _in_some_rooms(rng, rooms, 0.6), tags, True


def _office(rng: np.random.Generator) -> tuple[list[Room], Receivers, Tags, bool]:
    count = int(rng.integers(4, 7))
    widths = np.concatenate([[0.0], np.cumsum(rng.uniform(3.0, 5.0, count))])
    depth, corridor = float(rng.uniform(4.0, 6.0)), float(rng.uniform(1.8, 2.5))
    rooms = [Room("corridor", "Corridor", 0, 0.0, depth, widths[-1], depth + corridor)]
    for i in range(count):
        rooms.append(Room(f"s{i}", f"South {i}", 0, widths[i], 0.0, widths[i + 1], depth))
        top = depth + corridor
        rooms.append(Room(f"n{i}", f"North {i}", 0, widths[i], top, widths[i + 1], top + depth))
    tags = fleet("laptop", "asset", 4) + fleet("badge", "person", 6)
    return rooms, _in_some_rooms(rng, rooms, 0.5), tags, True


def _hall(rng: np.random.Generator) -> tuple[list[Room], Receivers, Tags, bool]:
    """An open hall marked in areas, with few receivers: some places hear fewer than three."""
    width, depth = float(rng.uniform(20.0, 40.0)), float(rng.uniform(15.0, 30.0))
    rooms = [
        Room(
            f"a{j}{i}",
            f"Area {j}{i}",
            0,
            width * i / 3,
            depth * j / 2,
            width * (i + 1) / 3,
            depth * (j + 1) / 2,
        )
        for j in range(2)
        for i in range(3)
    ]
    receivers: Receivers = [
        (f"rx-{k}", float(rng.uniform(0.0, width)), float(y), float(rng.uniform(3.0, 6.0)), 0)
        for k, y in enumerate([0.3, depth - 0.3, 0.3, depth - 0.3][: int(rng.integers(3, 5))])
    ]
    tags = (
        fleet("pallet", "asset", 6) + fleet("worker", "person", 4) + fleet("forklift", "vehicle", 3)
    )
    return rooms, receivers, tags, False


def _corridor(rng: np.random.Generator) -> tuple[list[Room], Receivers, Tags, bool]:
    """A long corridor in segments, every receiver on one wall."""
    length, width = float(rng.uniform(30.0, 50.0)), float(rng.uniform(2.0, 3.0))
    segments = int(rng.integers(4, 7))
    rooms = [
        Room(
            f"c{i}",
            f"Segment {i}",
            0,
            length * i / segments,
            0.0,
            length * (i + 1) / segments,
            width,
        )
        for i in range(segments)
    ]
    receivers: Receivers = [
        (f"rx-{k}", float(x), 0.1, float(rng.uniform(1.0, 2.5)), 0)
        for k, x in enumerate(np.sort(rng.uniform(0.0, length, int(rng.integers(4, 8)))))
    ]
    return rooms, receivers, fleet("cart", "asset", 4) + fleet("nurse", "person", 5), False


def _aisles(rng: np.random.Generator) -> tuple[list[Room], Receivers, Tags, bool]:
    """Narrow aisles between steel racks: each aisle a zone, the racks its walls."""
    count, length = int(rng.integers(5, 8)), float(rng.uniform(20.0, 35.0))
    widths = rng.uniform(2.0, 3.0, count)
    rack = 1.2
    rooms, y = [], 0.0
    for i in range(count):
        rooms.append(Room(f"aisle{i}", f"Aisle {i}", 0, 0.0, y, length, y + widths[i]))
        y += widths[i] + rack
    receivers: Receivers = [
        (f"rx-{k}", float(x), float(room.y0 + room.y1) / 2, 4.0, 0)
        for k, (room, x) in enumerate(
            (room, 0.5 if rng.uniform() < 0.5 else length - 0.5)
            for room in rooms
            if rng.uniform() < 0.7
        )
    ]
    while len(receivers) < 3:
        room = rooms[len(receivers)]
        receivers.append((f"rx-extra-{len(receivers)}", length / 2, room.y0, 4.0, 0))
    tags = (
        fleet("pallet", "asset", 6) + fleet("picker", "person", 4) + fleet("forklift", "vehicle", 3)
    )
    return rooms, receivers, tags, True


def _two_floors(rng: np.random.Generator) -> tuple[list[Room], Receivers, Tags, bool]:
    columns, rows = int(rng.integers(2, 4)), int(rng.integers(2, 3))
    rooms = _grid(rng, "g", 0, columns, rows) + _grid(rng, "u", 1, columns, rows)
    tags = fleet("asset", "asset", 4, floors=2) + fleet("person", "person", 6, floors=2)
    return rooms, _in_some_rooms(rng, rooms, 0.6), tags, True


FAMILIES = {
    "house": _house,
    "office": _office,
    "hall": _hall,
    "corridor": _corridor,
    "aisles": _aisles,
    "two floors": _two_floors,
}


def family_scenario(family: str, seed: int) -> Scenario:
    """One site of the family, its layout and radio drawn from the seed."""
    rng = np.random.default_rng([seed, list(FAMILIES).index(family)])
    rooms, receivers, tags, walls = FAMILIES[family](rng)
    aisles = family == "aisles"
    return replace(
        Scenario(
            f"{family} (seed {seed})",
            tuple(receivers),
            tuple(rooms),
            walls_of_rooms(rooms) if walls else (),
            tags,
        ),
        true_exponent=float(rng.uniform(1.8, 3.2)),
        receiver_bias_db=float(rng.uniform(2.0, 4.0)),
        shadowing_db=float(rng.uniform(3.0, 6.0)),
        shadowing_length=float(rng.uniform(2.0, 5.0)),
        wall_loss_db=float(rng.uniform(8.0, 12.0) if aisles else rng.uniform(3.0, 8.0)),
        # Scanners that hop channels deliver a share of the packets sent.
        packet_loss=float(rng.uniform(0.1, 0.5)),
        zone_walls=walls,
    )

"""Walls: the edges of the zones declared as rooms, and how many lie between two points.

Each wall between a tag and a receiver takes a few dB off the signal (`path_loss.wall_loss_db`).
Two rooms side by side share a wall: their edges along it are merged, so a signal crossing it
counts one wall, not two, even where the rooms' corners do not line up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .site import Point, Zone

type Segment = tuple[Point, Point]
type Coordinates = NDArray[np.floating[Any]]
type Coordinate = float | Coordinates
type Place = tuple[Coordinate, Coordinate]

# Edges closer than this to one line are one wall (hand-typed coordinates round differently).
SAME_LINE_M = 0.05


def _orient(p: Place, q: Place, r: Place) -> Coordinate:
    """Twice the signed area of triangle p, q, r: which side of line p-q the point r is on."""
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def crosses(a: Place, b: Point, wall: Segment) -> bool | NDArray[np.bool_]:
    """Whether the line from `a` to `b` crosses `wall`; `a` may hold arrays of points.

    A line that only touches a wall's end or runs along it does not cross it.
    """
    p, q = wall
    return (_orient(a, b, p) * _orient(a, b, q) < 0) & (_orient(p, q, a) * _orient(p, q, b) < 0)


def crossings(
    xs: Coordinates, ys: Coordinates, to: Point, walls: Iterable[Segment]
) -> NDArray[np.float64]:
    """How many walls lie between each point (xs[k], ys[k]) and `to`."""
    count = np.zeros(xs.shape)
    for wall in walls:
        count += crosses((xs, ys), to, wall)
    return count


def room_walls(zones: Iterable[Zone]) -> dict[int, list[Segment]]:
    """Per floor, the edges of the zones with walls, collinear overlaps merged into one."""
    # Per line (floor, direction, offset): the first edge's unit vector and offset, and the
    # spans of all its edges along it.
    lines: dict[tuple[int, float, int], tuple[float, float, float, list[tuple[float, float]]]] = {}
    for zone in zones:
        if not zone.walls:
            continue
        corners = zone.polygon
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
            length = math.dist(a, b)
            if length < SAME_LINE_M:
                continue
            ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
            if ux < -1e-12 or (abs(ux) <= 1e-12 and uy < 0):
                ux, uy = -ux, -uy
            offset = a[1] * ux - a[0] * uy  # signed distance of the line from the origin
            key = (zone.floor, round(math.atan2(uy, ux), 3), round(offset / SAME_LINE_M))
            ux, uy, offset, spans = lines.setdefault(key, (ux, uy, offset, []))
            along = sorted((a[0] * ux + a[1] * uy, b[0] * ux + b[1] * uy))
            spans.append((along[0], along[1]))
    walls: dict[int, list[Segment]] = {}
    for (floor, _, _), (ux, uy, offset, spans) in sorted(lines.items()):
        for start, end in _merged(spans):
            walls.setdefault(floor, []).append(
                (
                    (start * ux - offset * uy, start * uy + offset * ux),
                    (end * ux - offset * uy, end * uy + offset * ux),
                )
            )
    return walls


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching intervals on one line joined."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + SAME_LINE_M:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

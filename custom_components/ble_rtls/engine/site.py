"""Site model: receivers, tags, zones and path-loss defaults, loaded from SITE.json.

The format is `shared/spec/replay-format.md`. Validation is strict and every error names the
file, the item and the field, because a site is typed by hand and a silent default (a
receiver at 0,0, a zone on a floor nobody hears) would give plausible but wrong positions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeIs

type Point = tuple[float, float]
type MotionClass = Literal["asset", "person", "vehicle"]

MOTION_CLASSES: tuple[MotionClass, ...] = ("asset", "person", "vehicle")
DEFAULT_EXPONENT = 2.2
DEFAULT_REF_RSSI_1M = -59.0
DEFAULT_TAG_HEIGHT = 1.0
DEFAULT_WALL_LOSS_DB = 4.0
MAX_WALL_LOSS_DB = 20.0
# A survey point needs this many receivers on its floor: fewer say nothing about the place.
# A site has at most MAX_SURVEY_POINTS: working their corrections out grows with the cube of
# the points on a floor (480 points, one every 1.5 m of the simulated warehouse: 67 ms).
MIN_SURVEY_RECEIVERS = 3
MAX_SURVEY_POINTS = 500
RSSI_RANGE_DBM = (-130.0, 20.0)
# What a place, a height, a floor, a correction or a power may be, in SITE.json as in the
# set-up forms: beyond them is a slip of the keyboard, for which no grid fits in memory or a
# range overflows. The site frame's origin may be anywhere, so places go as far as a
# national grid's or UTM's metres.
COORDINATE_RANGE_M = (-10_000_000.0, 10_000_000.0)
HEIGHT_RANGE_M = (-100.0, 1_000.0)
FLOOR_RANGE = (-20, 200)
RSSI_OFFSET_RANGE_DB = (-30.0, 30.0)
REF_RSSI_RANGE_DBM = (-120.0, 20.0)
EXPONENT_RANGE = (1.0, 6.0)


class SiteError(ValueError):
    """A SITE.json that cannot be used; the message names file, item and field."""


@dataclass(frozen=True, slots=True)
class Receiver:
    """A fixed receiver (proxy, adapter) at a known place."""

    id: str
    x: float
    y: float
    z: float = 0.0
    floor: int = 0
    rssi_offset: float = 0.0
    beacon: str | None = None  # the tag id its own adverts arrive under, if it sends any


@dataclass(frozen=True, slots=True)
class Tag:
    """A tracked transmitter; unknown fields fall back to the site defaults."""

    id: str
    ref_rssi_1m: float | None = None
    motion: MotionClass = "person"
    height: float = DEFAULT_TAG_HEIGHT


@dataclass(frozen=True, slots=True)
class Zone:
    """A named polygon on one floor; `walls` when its edges are walls (a room)."""

    id: str
    name: str
    floor: int
    polygon: tuple[Point, ...]
    walls: bool = False


@dataclass(frozen=True, slots=True)
class SurveyPoint:
    """A survey point: what the receivers heard of a tag standing at a known place.

    dBm as received, by receiver id; it maps where the site's radio departs from the model
    (survey.py).
    """

    x: float
    y: float
    floor: int
    rssi: tuple[tuple[str, float], ...]
    height: float = DEFAULT_TAG_HEIGHT


@dataclass(frozen=True, slots=True)
class PathLoss:
    """Declared log-distance defaults; the engine refines them from live data."""

    exponent: float = DEFAULT_EXPONENT
    ref_rssi_1m: float = DEFAULT_REF_RSSI_1M
    wall_loss_db: float = DEFAULT_WALL_LOSS_DB  # per wall between a tag and a receiver


@dataclass(frozen=True, slots=True)
class Site:
    """Everything the engine knows about the place before it hears anything."""

    receivers: tuple[Receiver, ...]
    tags: tuple[Tag, ...] = ()
    zones: tuple[Zone, ...] = ()
    path_loss: PathLoss = field(default_factory=PathLoss)
    survey: tuple[SurveyPoint, ...] = ()

    @property
    def floors(self) -> tuple[int, ...]:
        """Floors that have at least one receiver, lowest first."""
        return tuple(sorted({r.floor for r in self.receivers}))

    def tag(self, tag_id: str) -> Tag:
        """The declared tag, or one with the site defaults."""
        for tag in self.tags:
            if tag.id == tag_id:
                return tag
        return Tag(id=tag_id)

    def bounds(self, floor: int, margin: float = 1.0) -> tuple[Point, Point]:
        """Box around the floor's receivers and zones: positions outside it are not credible."""
        xs = [r.x for r in self.receivers if r.floor == floor]
        ys = [r.y for r in self.receivers if r.floor == floor]
        for zone in self.zones:
            if zone.floor == floor:
                xs += [p[0] for p in zone.polygon]
                ys += [p[1] for p in zone.polygon]
        return (min(xs) - margin, min(ys) - margin), (max(xs) + margin, max(ys) + margin)


def load_site(path: str | Path) -> Site:
    """Read and validate SITE.json."""
    source = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise SiteError(f"{source}: cannot read: {err.strerror}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SiteError(f"{source}: not valid JSON: {err}") from err
    return parse_site(data, source)


def parse_site(data: Any, source: str = "SITE.json", *, allow_empty: bool = False) -> Site:
    """Validate a decoded SITE.json document; `source` names it in errors.

    `allow_empty` accepts a site with no receivers yet (one being set up in the UI); such a
    site can be stored but not located on.
    """
    if not isinstance(data, dict):
        raise SiteError(f"{source}: the top level must be an object")
    receivers = tuple(
        _receiver(item, f"{source}: receivers[{i}]")
        for i, item in enumerate(_list(data, "receivers", source, required=True))
    )
    if not receivers and not allow_empty:
        raise SiteError(f"{source}: receivers: at least one receiver is needed")
    _unique([r.id for r in receivers], f"{source}: receivers")
    tags = tuple(
        _tag(item, f"{source}: tags[{i}]")
        for i, item in enumerate(_list(data, "tags", source, required=False))
    )
    _unique([t.id for t in tags], f"{source}: tags")
    _beacons_apart(receivers, {t.id for t in tags}, f"{source}: receivers")
    floors = {r.floor for r in receivers}
    zones = tuple(
        _zone(item, f"{source}: zones[{i}]", floors)
        for i, item in enumerate(_list(data, "zones", source, required=False))
    )
    _unique([z.id for z in zones], f"{source}: zones")
    floor_of = {r.id: r.floor for r in receivers}
    surveyed = _list(data, "survey", source, required=False)
    if len(surveyed) > MAX_SURVEY_POINTS:
        raise SiteError(
            f"{source}: survey: at most {MAX_SURVEY_POINTS} points, got {len(surveyed)}"
        )
    survey = tuple(
        _survey_point(item, f"{source}: survey[{i}]", floor_of) for i, item in enumerate(surveyed)
    )
    path_loss = _path_loss(data.get("path_loss"), f"{source}: path_loss")
    return Site(receivers, tags, zones, path_loss, survey)


def _list(data: dict[str, Any], key: str, source: str, *, required: bool) -> list[Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise SiteError(f"{source}: {key}: missing")
        return []
    if not isinstance(value, list):
        raise SiteError(f"{source}: {key}: must be a list")
    return value


def _unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise SiteError(f"{where}: id {item_id!r}: duplicate id")
        seen.add(item_id)


def _beacons_apart(receivers: tuple[Receiver, ...], tags: set[str], where: str) -> None:
    """A beacon id names one receiver's adverts: no other receiver's, and no tag's."""
    seen: set[str] = set()
    for receiver in receivers:
        beacon = receiver.beacon
        if beacon is None:
            continue
        if beacon in seen:
            raise SiteError(f"{where} ({receiver.id}): beacon: {beacon!r} is another's beacon")
        if beacon in tags:
            raise SiteError(f"{where} ({receiver.id}): beacon: {beacon!r} is a tag's id")
        seen.add(beacon)


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SiteError(f"{where}: must be an object")
    return item


def _id(item: dict[str, Any], where: str) -> str:
    value = item.get("id")
    if not isinstance(value, str) or not value.strip():
        raise SiteError(f"{where}: id: missing or empty")
    return value


def is_finite_number(value: Any) -> TypeIs[int | float]:
    """A JSON number a float can hold.

    Not true or false, not NaN or infinite, and not an integer of hundreds of digits
    (converting it would overflow).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _number(
    item: dict[str, Any],
    key: str,
    where: str,
    default: float | None = None,
    within: tuple[float, float] | None = None,
) -> float:
    value = item.get(key)
    if value is None:
        if default is None:
            raise SiteError(f"{where}: {key}: missing")
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SiteError(f"{where}: {key}: must be a number, got {value!r}")
    if not is_finite_number(value):
        raise SiteError(f"{where}: {key}: must be finite, got {_brief(value)}")
    if within is not None and not within[0] <= value <= within[1]:
        raise SiteError(
            f"{where}: {key}: must be between {within[0]:g} and {within[1]:g}, got {value!r}"
        )
    return float(value)


def _brief(value: Any) -> str:
    """A value for an error message: an integer too long to print is said to be."""
    text = repr(value)
    return text if len(text) <= 40 else f"a number of {len(text)} digits"


def _floor(item: dict[str, Any], where: str) -> int:
    value = _number(item, "floor", where, 0.0, FLOOR_RANGE)
    if value != int(value):
        raise SiteError(f"{where}: floor: must be a whole number, got {value!r}")
    return int(value)


def _receiver(raw: Any, where: str) -> Receiver:
    item = _object(raw, where)
    rid = _id(item, where)
    where = f"{where} ({rid})"
    return Receiver(
        id=rid,
        x=_number(item, "x", where, within=COORDINATE_RANGE_M),
        y=_number(item, "y", where, within=COORDINATE_RANGE_M),
        z=_number(item, "z", where, 0.0, HEIGHT_RANGE_M),
        floor=_floor(item, where),
        rssi_offset=_number(item, "rssi_offset", where, 0.0, RSSI_OFFSET_RANGE_DB),
        beacon=_optional_text(item, "beacon", where),
    )


def _optional_text(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SiteError(f"{where}: {key}: must be a non-empty string")
    return value


def _tag(raw: Any, where: str) -> Tag:
    item = _object(raw, where)
    tid = _id(item, where)
    where = f"{where} ({tid})"
    ref = (
        None
        if item.get("ref_rssi_1m") is None
        else _number(item, "ref_rssi_1m", where, within=REF_RSSI_RANGE_DBM)
    )
    motion = item.get("motion", "person")
    if motion not in MOTION_CLASSES:
        raise SiteError(f"{where}: motion: must be one of {', '.join(MOTION_CLASSES)}")
    height = _number(item, "height", where, DEFAULT_TAG_HEIGHT, HEIGHT_RANGE_M)
    return Tag(id=tid, ref_rssi_1m=ref, motion=motion, height=height)


def _zone(raw: Any, where: str, floors: set[int]) -> Zone:
    item = _object(raw, where)
    zid = _id(item, where)
    where = f"{where} ({zid})"
    floor = _floor(item, where)
    if floor not in floors:
        raise SiteError(f"{where}: floor: unknown floor {floor}, no receiver is on it")
    vertices = item.get("polygon")
    if not isinstance(vertices, list) or len(vertices) < 3:
        raise SiteError(f"{where}: polygon: needs at least 3 vertices")
    polygon: list[Point] = []
    for i, vertex in enumerate(vertices):
        if not isinstance(vertex, list | tuple) or len(vertex) != 2:
            raise SiteError(f"{where}: polygon[{i}]: must be [x, y]")
        point = {"x": vertex[0], "y": vertex[1]}
        polygon.append(
            (
                _number(point, "x", f"{where}: polygon[{i}]", within=COORDINATE_RANGE_M),
                _number(point, "y", f"{where}: polygon[{i}]", within=COORDINATE_RANGE_M),
            )
        )
    if abs(polygon_area(polygon)) < 1e-9:
        raise SiteError(f"{where}: polygon: has zero area")
    name = item.get("name", zid)
    if not isinstance(name, str) or not name.strip():
        raise SiteError(f"{where}: name: must be a non-empty string")
    walls = item.get("walls", False)
    if not isinstance(walls, bool):
        raise SiteError(f"{where}: walls: must be true or false, got {walls!r}")
    return Zone(id=zid, name=name, floor=floor, polygon=tuple(polygon), walls=walls)


def _survey_point(raw: Any, where: str, floor_of: dict[str, int]) -> SurveyPoint:
    item = _object(raw, where)
    floor = _floor(item, where)
    if floor not in floor_of.values():
        raise SiteError(f"{where}: floor: unknown floor {floor}, no receiver is on it")
    heard = item.get("rssi")
    if not isinstance(heard, dict):
        raise SiteError(f"{where}: rssi: must be an object of receiver id to dBm")
    for receiver_id in heard:
        if receiver_id not in floor_of:
            raise SiteError(f"{where}: rssi: {receiver_id!r} is not a receiver of the site")
        _number(heard, receiver_id, f"{where}: rssi", within=RSSI_RANGE_DBM)
    on_floor = sum(1 for receiver_id in heard if floor_of[receiver_id] == floor)
    if on_floor < MIN_SURVEY_RECEIVERS:
        raise SiteError(
            f"{where}: rssi: needs at least {MIN_SURVEY_RECEIVERS} receivers on floor {floor},"
            f" got {on_floor}"
        )
    return SurveyPoint(
        x=_number(item, "x", where, within=COORDINATE_RANGE_M),
        y=_number(item, "y", where, within=COORDINATE_RANGE_M),
        floor=floor,
        rssi=tuple((receiver_id, float(value)) for receiver_id, value in heard.items()),
        height=_number(item, "height", where, DEFAULT_TAG_HEIGHT, HEIGHT_RANGE_M),
    )


def _path_loss(raw: Any, where: str) -> PathLoss:
    if raw is None:
        return PathLoss()
    item = _object(raw, where)
    return PathLoss(
        _number(item, "exponent", where, DEFAULT_EXPONENT, EXPONENT_RANGE),
        _number(item, "ref_rssi_1m", where, DEFAULT_REF_RSSI_1M, REF_RSSI_RANGE_DBM),
        _number(item, "wall_loss_db", where, DEFAULT_WALL_LOSS_DB, (0.0, MAX_WALL_LOSS_DB)),
    )


def polygon_area(polygon: list[Point] | tuple[Point, ...]) -> float:
    """Signed area (shoelace)."""
    area = 0.0
    x1, y1 = polygon[-1]
    for x2, y2 in polygon:
        area += x1 * y2 - x2 * y1
        x1, y1 = x2, y2
    return area / 2.0

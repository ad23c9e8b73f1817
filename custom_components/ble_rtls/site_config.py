"""The stored site: a SITE.json document (the replay format) plus what only HA needs.

Extra fields, which `ble-rtls replay` ignores: receiver `name` (its `beacon`, the address
of its own adverts, is the engine's: see engine/links.py); tag `name`, its identity
(`address`, `ibeacon` or `irk`) and `battery` (read it over GATT); zone `area_id`;
top-level `geo_anchor` (where x = y = 0 is on Earth and which way +y points); a survey
point's `tag` and `time` (who took it, when). The whole
document round-trips through export and import, so a site tuned offline can be loaded
back unchanged.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from .engine import MIN_SURVEY_RECEIVERS, Site, SiteError, is_finite_number, parse_site
from .identity import Identity, IdentityError, identity_of, normalize

type SiteDocument = dict[str, Any]

EARTH_RADIUS_M = 6_371_008.8
# A floor's plan as plans.py stores it, and how coarse a plan may be.
PLAN_FILE = re.compile(r"floor-(-?\d+)\.(png|jpg|svg)")
MAX_METRES_PER_PIXEL = 10.0


def empty_document() -> SiteDocument:
    """A site with nothing placed yet."""
    return {"receivers": [], "tags": [], "zones": []}


def validate_document(raw: Any, source: str = "SITE.json") -> SiteDocument:
    """Check everything the engine and the integration need; return a normalised copy."""
    site = parse_site(raw, source, allow_empty=True)
    document = _without_nulls(raw)
    _check_texts(document, source)
    for index, (tag, item) in enumerate(zip(site.tags, document["tags"], strict=True)):
        try:
            identity = identity_of(item)
        except IdentityError as err:
            raise SiteError(f"{source}: tags[{index}] ({tag.id}): identity: {err}") from err
        for kind in ("address", "ibeacon", "irk"):
            item.pop(kind, None)
        item[identity.kind] = identity.value
        if not isinstance(item.get("battery", False), bool):
            raise SiteError(f"{source}: tags[{index}] ({tag.id}): battery: not true or false")
    seen: dict[Identity, str] = {}
    for tag_id, identity in tag_identities(document).items():
        if identity in seen:
            raise SiteError(
                f"{source}: tags ({tag_id}): {identity.kind}: already used by {seen[identity]}"
            )
        seen[identity] = tag_id
    taken = {identity: f"tag {tag_id}" for identity, tag_id in seen.items()}
    for index, (receiver, item) in enumerate(
        zip(site.receivers, document["receivers"], strict=True)
    ):
        if receiver.beacon is None:
            continue
        where = f"{source}: receivers[{index}] ({receiver.id}): beacon"
        try:
            identity = normalize("address", receiver.beacon)
        except IdentityError as err:
            raise SiteError(f"{where}: {err}") from err
        if identity in taken:
            raise SiteError(f"{where}: already used by {taken[identity]}")
        taken[identity] = f"receiver {receiver.id}"
        item["beacon"] = identity.value
    anchor = document.get("geo_anchor")
    if anchor is not None:
        _check_anchor(anchor, f"{source}: geo_anchor")
    _check_plans(document.get("plans", []), f"{source}: plans")
    return document


def _check_plans(plans: Any, where: str) -> None:
    """Each floor's plan: its uploaded file, metres per pixel and the pixel where x = y = 0."""
    if not isinstance(plans, list):
        raise SiteError(f"{where}: not a list")
    floors: set[int] = set()
    for index, plan in enumerate(plans):
        at = f"{where}[{index}]"
        if not isinstance(plan, dict):
            raise SiteError(f"{at}: not an object")
        floor, file = plan.get("floor"), plan.get("file")
        if not isinstance(floor, int) or isinstance(floor, bool) or floor in floors:
            raise SiteError(f"{at}: floor: a whole number, one plan per floor, got {floor!r}")
        floors.add(floor)
        match = PLAN_FILE.fullmatch(file) if isinstance(file, str) else None
        if match is None or int(match.group(1)) != floor:
            raise SiteError(f"{at}: file: floor-{floor}.png, .jpg or .svg, got {file!r}")
        scale = plan.get("metres_per_pixel")
        if not is_finite_number(scale) or not 0.0 < scale <= MAX_METRES_PER_PIXEL:
            raise SiteError(f"{at}: metres_per_pixel: above 0 and at most 10, got {scale!r}")
        origin = plan.get("origin")
        pixel: list[Any] = origin if isinstance(origin, list) and len(origin) == 2 else []
        if not pixel or not all(map(is_finite_number, pixel)):
            raise SiteError(f"{at}: origin: the pixel [x, y] where x = y = 0, got {origin!r}")


def _without_nulls(raw: dict[str, Any]) -> SiteDocument:
    """A copy where null is "not given", as the engine reads it.

    A list becomes empty, the rest is dropped: the flows and the coordinator read what is
    there. (`receivers` is never null here: the site checks ask for the list.)
    """
    document: SiteDocument = copy.deepcopy(raw)
    for key in ("tags", "zones"):
        if document.get(key) is None:
            document[key] = []
    for key in ("survey", "path_loss", "geo_anchor"):
        if key in document and document[key] is None:
            del document[key]
    return document


def _check_texts(document: SiteDocument, source: str) -> None:
    """What only HA reads as text: device names and a zone's HA area."""
    for key, extra in (("receivers", "name"), ("tags", "name"), ("zones", "area_id")):
        for index, item in enumerate(document[key]):
            value = item.get(extra)
            if value is not None and not (isinstance(value, str) and value.strip()):
                raise SiteError(
                    f"{source}: {key}[{index}] ({item['id']}): {extra}: "
                    f"must be a non-empty string, got {value!r}"
                )


def engine_site(document: SiteDocument) -> Site:
    """The engine's view of a validated document."""
    return parse_site(document, allow_empty=True)


def tag_identities(document: SiteDocument) -> dict[str, Identity]:
    """Tag id -> identity for a validated document."""
    return {item["id"]: identity_of(item) for item in document["tags"]}


def names(document: SiteDocument, key: str) -> dict[str, str]:
    """Item id -> display name for `receivers`, `tags` or `zones`."""
    return {item["id"]: item.get("name") or item["id"] for item in document[key]}


def replace_item(
    document: SiteDocument, key: str, item: dict[str, Any] | None, item_id: str
) -> SiteDocument:
    """A copy of the document with `item_id` in list `key` replaced, added, or (None) removed.

    A receiver removed or placed elsewhere loses its survey readings: they were heard where
    it was.
    """
    updated = copy.deepcopy(document)
    previous = next((existing for existing in updated[key] if existing["id"] == item_id), None)
    items = [existing for existing in updated[key] if existing["id"] != item_id]
    if item is not None:
        position = next(
            (i for i, existing in enumerate(updated[key]) if existing["id"] == item_id),
            len(items),
        )
        items.insert(position, item)
    updated[key] = items
    if key == "receivers" and previous is not None and _moved(previous, item):
        _forget_survey_readings(updated, item_id)
    return updated


def _moved(before: dict[str, Any], after: dict[str, Any] | None) -> bool:
    """Whether a receiver was removed or placed elsewhere."""
    place = {"x": None, "y": None, "z": 0.0, "floor": 0}
    return after is None or any(
        before.get(field, default) != after.get(field, default) for field, default in place.items()
    )


def _forget_survey_readings(document: SiteDocument, receiver_id: str) -> None:
    """Drop a receiver's survey readings, and the points left with too few on their floor."""
    floor_of = {r["id"]: r.get("floor", 0) for r in document["receivers"]}
    kept = []
    for point in document.get("survey", []):
        rssi = {rid: value for rid, value in point["rssi"].items() if rid != receiver_id}
        on_floor = sum(1 for rid in rssi if floor_of.get(rid) == point.get("floor", 0))
        if on_floor >= MIN_SURVEY_RECEIVERS:
            kept.append(point | {"rssi": rssi})
    if kept:
        document["survey"] = kept
    else:
        document.pop("survey", None)


def _check_anchor(anchor: Any, where: str) -> None:
    if not isinstance(anchor, dict):
        raise SiteError(f"{where}: must be an object")
    limits = {"latitude": 90.0, "longitude": 180.0, "bearing": 360.0}
    for key, limit in limits.items():
        value = anchor.get(key, 0.0 if key == "bearing" else None)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SiteError(f"{where}: {key}: must be a number")
        if not is_finite_number(value) or abs(value) > limit:
            raise SiteError(f"{where}: {key}: must be between -{limit:g} and {limit:g}")


def to_lat_lon(anchor: dict[str, float], x: float, y: float) -> tuple[float, float]:
    """Site metres to latitude/longitude: +y points `bearing` degrees clockwise from north."""
    bearing = math.radians(anchor.get("bearing", 0.0))
    north = y * math.cos(bearing) - x * math.sin(bearing)
    east = y * math.sin(bearing) + x * math.cos(bearing)
    latitude = anchor["latitude"] + math.degrees(north / EARTH_RADIUS_M)
    longitude = anchor["longitude"] + math.degrees(
        east / (EARTH_RADIUS_M * math.cos(math.radians(anchor["latitude"])))
    )
    return latitude, longitude

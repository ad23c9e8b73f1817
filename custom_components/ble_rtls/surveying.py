"""A tag standing still at a known spot: what the receivers hear of it, and survey points.

Shared by the actions (calibrate, add_survey_point) and the options flow's survey step,
which turn a `SpotError` into an action error or a form error with the same translation key.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from homeassistant.util import dt as dt_util

from .coordinator import SiteCoordinator
from .engine import MIN_SURVEY_RECEIVERS, SiteError
from .site_config import SiteDocument, validate_document


class SpotError(Exception):
    """Why nothing was taken at the spot: a translation key and its placeholders."""

    def __init__(self, key: str, **placeholders: str) -> None:
        super().__init__(key)
        self.key = key
        self.placeholders = placeholders


def spot_on_plan(coordinator: SiteCoordinator, x: float, y: float, floor: int | None) -> int:
    """The spot's floor (default: the lowest), checked: it has receivers, (x, y) is on its plan."""
    floors = coordinator.site.floors
    if not floors:  # no receiver placed yet: none can hear the tag
        raise SpotError("too_few_receivers", count="0")
    if floor is None:
        floor = floors[0]
    elif floor not in floors:
        raise SpotError("unknown_floor", floor=str(floor))
    (low_x, low_y), (high_x, high_y) = coordinator.site.bounds(floor)
    if not (low_x <= x <= high_x and low_y <= y <= high_y):
        raise SpotError("outside_site", x=f"{x:g}", y=f"{y:g}", floor=str(floor))
    return floor


def heard_at(coordinator: SiteCoordinator, tag_id: str, floor: int) -> dict[str, float]:
    """The tag's filtered RSSI per receiver now, offsets applied; three on `floor` at least."""
    engine = coordinator.engine
    rssi = {} if engine is None else engine.filtered_rssi(tag_id, time.monotonic())
    count = sum(1 for r in coordinator.site.receivers if r.id in rssi and r.floor == floor)
    if count < MIN_SURVEY_RECEIVERS:
        raise SpotError("too_few_receivers", count=str(count))
    return rssi


def with_survey_point(
    coordinator: SiteCoordinator, tag_id: str, x: float, y: float, floor: int | None
) -> tuple[SiteDocument, int]:
    """The site with a survey point of the tag at (x, y), and how many on its floor heard it.

    The readings are stored as received (each receiver's RSSI offset taken back off), so they
    survive exports, imports and offset changes.
    """
    site = coordinator.site
    floor = spot_on_plan(coordinator, x, y, floor)
    heard = heard_at(coordinator, tag_id, floor)
    offsets = {r.id: r.rssi_offset for r in site.receivers}
    point: dict[str, Any] = {
        "x": x,
        "y": y,
        "floor": floor,
        "height": site.tag(tag_id).height,
        "rssi": {rid: round(value - offsets[rid], 1) for rid, value in heard.items()},
        "tag": tag_id,
        "time": dt_util.utcnow().isoformat(),
    }
    document = copy.deepcopy(coordinator.document)
    document.setdefault("survey", []).append(point)
    try:
        document = validate_document(document)
    except SiteError as err:
        raise SpotError("invalid_survey_point", error=str(err)) from err
    on_floor = sum(1 for r in site.receivers if r.id in heard and r.floor == floor)
    return document, on_floor


def without_survey(document: SiteDocument) -> tuple[SiteDocument, int]:
    """The site without its survey points, and how many there were."""
    updated = copy.deepcopy(document)
    return updated, len(updated.pop("survey", []))

"""Zone membership with hysteresis, and zone-entered / zone-left events.

A tag standing on a boundary gets fixes on both sides of it. A new zone is only taken once
the position is `margin` metres inside it (or, to leave to no zone, `margin` clear of every
zone), so standing still never flaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .site import Point, Zone, polygon_area

ACCURACY_MARGIN = 1.0
# A tag the tracker sees moving at MOVING_SPEED or faster is crossing, not jittering: it needs
# half the accuracy margin, so the zone follows it sooner. For people and vehicles the speed
# is their moving filter's (tracker.StillOrMovingTracker).
MOVING_SPEED = 0.3
MOVING_ACCURACY_MARGIN = 0.5
# A zone the position has stayed in for SETTLED_AFTER seconds is taken without the margin:
# the margin holds off noise, not a steady position, and a vague first fix must not leave a
# tag in the wrong room for good.
SETTLED_AFTER = 60.0
# A standing tag hovering at a wall must not settle back and forth as the self-calibration
# drifts: each settled change in a row waits twice as long (at most 2**MAX_SETTLE_DOUBLINGS
# times SETTLED_AFTER); a clear change starts over.
MAX_SETTLE_DOUBLINGS = 5
# A tag moving now that has travelled TRAVELLED_SHARE times its 1-sigma radius (at least
# twice the margin) from where it took its zone has left it: the margin's depth is enough for
# the next. Jitter stays within about one radius of where a standing tag was placed.
TRAVELLED_SHARE = 2.0


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """A tag entered or left a zone at `time`."""

    time: float
    tag: str
    zone: str
    kind: Literal["entered", "left"]


def contains(polygon: tuple[Point, ...], x: float, y: float) -> bool:
    """Point in polygon (even-odd ray casting)."""
    inside = False
    x1, y1 = polygon[-1]
    for x2, y2 in polygon:
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
        x1, y1 = x2, y2
    return inside


def boundary_distance(polygon: tuple[Point, ...], x: float, y: float) -> float:
    """Distance from (x, y) to the polygon's nearest edge."""
    best = math.inf
    x1, y1 = polygon[-1]
    for x2, y2 in polygon:
        ex, ey = x2 - x1, y2 - y1
        length2 = ex * ex + ey * ey
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((x - x1) * ex + (y - y1) * ey) / length2))
        best = min(best, math.hypot(x - x1 - t * ex, y - y1 - t * ey))
        x1, y1 = x2, y2
    return best


class ZoneMap:
    """The site's zones, smallest first so a room inside a hall wins."""

    def __init__(self, zones: tuple[Zone, ...]) -> None:
        self.zones = tuple(sorted(zones, key=lambda z: abs(polygon_area(z.polygon))))
        self._by_id = {z.id: z for z in zones}
        self.half_depth = {z.id: _half_depth(z.polygon) for z in zones}

    def __contains__(self, zone_id: object) -> bool:
        """Whether the site has a zone with this id."""
        return zone_id in self._by_id

    def locate(self, floor: int, x: float, y: float) -> Zone | None:
        """The smallest zone on `floor` that contains the point."""
        for zone in self.zones:
            if zone.floor == floor and contains(zone.polygon, x, y):
                return zone
        return None

    def nearest(self, floor: int, x: float, y: float, within: float) -> str | None:
        """The zone on `floor` whose boundary is nearest (x, y), if closer than `within`."""
        best, best_distance = None, within
        for zone in self.zones:
            if zone.floor == floor:
                distance = boundary_distance(zone.polygon, x, y)
                if distance < best_distance:
                    best, best_distance = zone.id, distance
        return best

    def depth(self, zone_id: str, floor: int, x: float, y: float) -> float:
        """Signed distance into the zone: positive inside, negative outside or off-floor."""
        zone = self._by_id[zone_id]
        if zone.floor != floor:
            return -math.inf
        distance = boundary_distance(zone.polygon, x, y)
        return distance if contains(zone.polygon, x, y) else -distance


def _half_depth(polygon: tuple[Point, ...]) -> float:
    """Area / perimeter: half the inradius of a square or circle, a wall-hugging zone's scale."""
    perimeter = sum(math.dist(polygon[i - 1], polygon[i]) for i in range(len(polygon)))
    return abs(polygon_area(polygon)) / perimeter


class ZoneTracker:
    """One tag's current zone: a change needs `margin` metres of depth held for `dwell` seconds."""

    __slots__ = (
        "dwell",
        "margin",
        "pending",
        "placed",
        "settles",
        "since",
        "tag",
        "taken_at",
        "zone",
        "zones",
    )

    def __init__(self, tag: str, zones: ZoneMap, margin: float, dwell: float) -> None:
        self.tag = tag
        self.zones = zones
        self.margin = margin
        self.dwell = dwell
        self.zone: str | None = None
        # The zone waiting for the dwell, since when, and whether it is taken by settling.
        self.pending: tuple[str | None, float, bool] | None = None
        self.placed = False
        self.settles = 0  # changes in a row taken by settling
        self.since: tuple[str | None, float] | None = None  # the position's zone, and since
        self.taken_at: tuple[float, float] | None = None  # where the zone was taken

    def restore(self, zone: str | None) -> None:
        """Start in the zone the tag was last known in (a restart), if it still exists.

        A first fix on the other side of a wall then needs the margin to move the tag.
        """
        if not self.placed and (zone is None or zone in self.zones):
            self.zone = zone
            self.placed = True

    def update(
        self,
        time: float,
        floor: int,
        x: float,
        y: float,
        accuracy: float = 0.0,
        speed: float = 0.0,
    ) -> list[ZoneEvent]:
        """Move to the zone at (x, y) once clearly and lastingly inside it; return the events.

        "Clearly" is `margin` metres or `ACCURACY_MARGIN` times the fix's 1-sigma radius,
        whichever is more: a vague fix near a wall must not move a tag to the next room.
        Or `SETTLED_AFTER` seconds in it without a break, however shallow (longer after
        such changes in a row). Or, moving, the margin's depth once far enough from where
        the current zone was taken.
        """
        candidate = self.zones.locate(floor, x, y)
        new = candidate.id if candidate else None
        share = MOVING_ACCURACY_MARGIN if speed >= MOVING_SPEED else ACCURACY_MARGIN
        wanted = max(self.margin, share * accuracy)
        if new is None:
            # Just outside every zone is not clearly in none: the nearest zone is as likely.
            # "No zone" needs `wanted` metres from every zone, as a zone needs depth.
            new = self.zones.nearest(floor, x, y, wanted)
        if self.since is None or self.since[0] != new:
            self.since = (new, time)
        clear = new != self.zone and (
            not self.placed
            or new is None
            or self._deep_enough(new, floor, x, y, wanted, accuracy, speed)
        )
        settling = (
            not clear
            and new != self.zone
            and time - self.since[1] >= SETTLED_AFTER * 2 ** min(self.settles, MAX_SETTLE_DOUBLINGS)
        )
        first = not self.placed
        self.placed = True
        if new == self.zone or (self.pending is not None and self.pending[0] != new):
            self.pending = None  # back where it was, or somewhere else again: start over
        if self.pending is None:
            if not (clear or settling):
                return []
            self.pending = (new, time, settling)
        if not first and time - self.pending[1] < self.dwell:
            return []  # the first fix places the tag at once; later changes wait the dwell
        self.settles = self.settles + 1 if self.pending[2] else 0
        self.pending = None
        events = []
        if self.zone is not None:
            events.append(ZoneEvent(time, self.tag, self.zone, "left"))
        if new is not None:
            events.append(ZoneEvent(time, self.tag, new, "entered"))
        self.zone = new
        self.taken_at = (x, y)
        return events

    def _deep_enough(
        self,
        zone: str,
        floor: int,
        x: float,
        y: float,
        wanted: float,
        accuracy: float,
        speed: float,
    ) -> bool:
        """Whether (x, y) is deep enough in `zone` to take it.

        `wanted` deep (at most the zone's half depth), or, moving and far from where the
        current zone was taken, the margin deep. The depth is computed once.
        """
        depth = self.zones.depth(zone, floor, x, y)
        if depth >= min(wanted, self.zones.half_depth[zone]):
            return True
        return speed >= MOVING_SPEED and depth >= self.margin and self._travelled(x, y, accuracy)

    def _travelled(self, x: float, y: float, accuracy: float) -> bool:
        """Whether (x, y) is TRAVELLED_SHARE radii from where the current zone was taken."""
        if self.taken_at is None:
            return False
        distance = math.hypot(x - self.taken_at[0], y - self.taken_at[1])
        return distance >= TRAVELLED_SHARE * max(self.margin, accuracy)

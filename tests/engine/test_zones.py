"""Zones: membership, hysteresis, events once per crossing."""

from __future__ import annotations

from custom_components.ble_rtls.engine.site import Zone
from custom_components.ble_rtls.engine.zones import (
    SETTLED_AFTER,
    ZoneMap,
    ZoneTracker,
    boundary_distance,
    contains,
)

LEFT = Zone("left", "Left", 0, ((0, 0), (5, 0), (5, 5), (0, 5)))
RIGHT = Zone("right", "Right", 0, ((5, 0), (10, 0), (10, 5), (5, 5)))
CLOSET = Zone("closet", "Closet", 0, ((1, 1), (2, 1), (2, 2), (1, 2)))
UPSTAIRS = Zone("up", "Upstairs", 1, ((0, 0), (10, 0), (10, 5), (0, 5)))


def test_membership_prefers_the_smallest_zone_on_the_floor() -> None:
    zones = ZoneMap((LEFT, RIGHT, CLOSET, UPSTAIRS))
    assert zones.locate(0, 1.5, 1.5) == CLOSET
    assert zones.locate(0, 3, 3) == LEFT
    assert zones.locate(1, 3, 3) == UPSTAIRS
    assert zones.locate(0, 20, 3) is None
    assert contains(LEFT.polygon, 4.9, 4.9) and not contains(LEFT.polygon, 5.1, 4.9)
    assert boundary_distance(LEFT.polygon, 2.5, 1.0) == 1.0


def test_standing_on_a_boundary_does_not_flap() -> None:
    tracker = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    events = tracker.update(0.0, 0, 3.0, 2.5)
    assert [(e.zone, e.kind) for e in events] == [("left", "entered")]
    for step in range(100):
        x = 5.0 + (0.4 if step % 2 else -0.4)
        assert tracker.update(float(step + 1), 0, x, 2.5) == []
    assert tracker.zone == "left"


def test_a_real_crossing_fires_left_and_entered_once() -> None:
    tracker = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    tracker.update(0.0, 0, 1.0, 2.5)
    events = []
    for step in range(1, 90):
        events += tracker.update(float(step), 0, 1.0 + step * 0.1, 2.5)
    assert [(e.zone, e.kind) for e in events] == [("left", "left"), ("right", "entered")]
    assert events[0].time == events[1].time == 45.0  # x = 5.5, 0.5 m past the boundary


def test_a_moving_tag_needs_half_the_accuracy_margin() -> None:
    """A vague fix 1.2 m into the next room: a standing tag (1-sigma 2 m) stays, a tag the
    tracker sees walking there at 1 m/s has crossed."""
    standing = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    walking = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    for tracker in (standing, walking):
        tracker.update(0.0, 0, 2.5, 2.5, accuracy=2.0)
    assert standing.update(1.0, 0, 6.2, 2.5, accuracy=2.0, speed=0.1) == []
    events = walking.update(1.0, 0, 6.2, 2.5, accuracy=2.0, speed=1.0)
    assert [(e.zone, e.kind) for e in events] == [("left", "left"), ("right", "entered")]


def test_a_slow_walker_is_crossing_too() -> None:
    """A tag seen moving at 0.4 m/s (an unhurried or just-starting walk) is crossing; people
    standing are held by the steady position of their still filter, not by this margin."""
    tracker = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    tracker.update(0.0, 0, 2.5, 2.5, accuracy=2.0)
    events = tracker.update(1.0, 0, 6.2, 2.5, accuracy=2.0, speed=0.4)
    assert [e.kind for e in events] == ["left", "entered"]


def test_a_tag_that_travelled_into_a_room_takes_it_at_the_margin() -> None:
    """0.6 m into the next room with a 2 m radius is too shallow for a fix (1 m wanted while
    moving), but not for a tag that walked 4.6 m from where it took its zone; a tag that
    walked 1.6 m, or stands there, keeps its zone."""
    far, near, standing = (ZoneTracker("t", ZoneMap((LEFT, RIGHT)), 0.5, 0.0) for _ in "abc")
    far.update(0.0, 0, 1.0, 2.5, accuracy=2.0)
    near.update(0.0, 0, 4.0, 2.5, accuracy=2.0)
    standing.update(0.0, 0, 1.0, 2.5, accuracy=2.0)
    assert [e.kind for e in far.update(5.0, 0, 5.6, 2.5, accuracy=2.0, speed=1.0)] == [
        "left",
        "entered",
    ]
    assert near.update(2.0, 0, 5.6, 2.5, accuracy=2.0, speed=1.0) == []
    assert standing.update(5.0, 0, 5.6, 2.5, accuracy=2.0, speed=0.1) == []


def test_just_outside_every_zone_is_the_nearest_zone() -> None:
    """A vague fix 0.6 m past the outer wall is as likely inside: it places the tag in the
    room and does not take it out; "no zone" needs a fix clear of every zone."""
    zones = ZoneMap((LEFT, RIGHT))
    vague = ZoneTracker("t", zones, margin=0.5, dwell=0.0)
    assert [e.zone for e in vague.update(0.0, 0, 8.0, 5.6, accuracy=2.0)] == ["right"]
    assert vague.update(1.0, 0, 8.0, 6.5, accuracy=2.0) == []  # 1.5 m out: not clear of it
    assert [e.kind for e in vague.update(2.0, 0, 8.0, 7.5, accuracy=2.0)] == ["left"]
    assert vague.zone is None
    assert vague.update(3.0, 0, 8.0, 5.6, accuracy=2.0) == []  # entering needs depth again
    precise = ZoneTracker("t", zones, margin=0.5, dwell=0.0)
    assert precise.update(0.0, 0, 8.0, 5.6, accuracy=0.2) == []
    assert precise.zone is None


def test_a_steady_position_takes_its_zone_without_the_margin() -> None:
    """Placed in the left room by a vague first fix, a tag whose position then stays 0.3 m
    into the right room (less than the margin) moves there after SETTLED_AFTER seconds;
    a position that keeps crossing back does not."""
    steady = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    assert [e.zone for e in steady.update(0.0, 0, 4.0, 2.5, accuracy=2.0)] == ["left"]
    for second in range(1, int(SETTLED_AFTER) + 1):  # in the right room since second 1
        assert steady.update(float(second), 0, 5.3, 2.5, accuracy=2.0) == []
    assert [e.kind for e in steady.update(SETTLED_AFTER + 1, 0, 5.3, 2.5, accuracy=2.0)] == [
        "left",
        "entered",
    ]
    jittery = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    jittery.update(0.0, 0, 4.0, 2.5, accuracy=2.0)
    for second in range(1, 300):
        x = 4.9 if second % 50 == 0 else 5.3
        assert jittery.update(float(second), 0, x, 2.5, accuracy=2.0) == []


def _settle_times(tracker: ZoneTracker, sides: list[tuple[float, float]]) -> list[float]:
    """Feed a standing tag's position (x, y) once a second; when its zone changed."""
    changed = []
    for second, (x, y) in enumerate(sides, start=1):
        if tracker.update(float(second), 0, x, y, accuracy=2.0):
            changed.append(float(second))
    return changed


def test_settling_back_and_forth_waits_longer_each_time() -> None:
    """A standing tag whose position hovers 0.3 m either side of a wall, 130 s on each side:
    it settles after 60 s, then after 120 s, then needs 240 s, which it never holds; a
    clear change starts over."""
    hovering = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    hovering.update(0.0, 0, 4.0, 2.5, accuracy=2.0)
    sides = [(5.3 if (second // 130) % 2 == 0 else 4.7, 2.5) for second in range(650)]
    assert _settle_times(hovering, sides) == [1.0 + 60.0, 131.0 + 120.0]
    deep = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    deep.update(0.0, 0, 4.0, 2.5, accuracy=2.0)
    walked = [(5.3, 2.5)] * 70 + [(2.5, 2.5)] * 10 + [(5.3, 2.5)] * 70  # back left, clearly
    assert _settle_times(deep, walked) == [1.0 + 60.0, 71.0, 81.0 + 60.0]


def test_a_restored_zone_holds_against_a_first_fix_over_the_wall() -> None:
    restored = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    restored.restore("right")
    assert restored.update(0.0, 0, 4.8, 2.5, accuracy=1.0) == []
    assert restored.zone == "right"
    assert [e.kind for e in restored.update(1.0, 0, 2.5, 2.5, accuracy=1.0)] == ["left", "entered"]
    gone = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=0.0)
    gone.restore("removed-zone")  # no longer on the site: placed by its first fix as usual
    assert [e.zone for e in gone.update(0.0, 0, 4.8, 2.5)] == ["left"]


def test_dwell_needs_the_zone_to_hold() -> None:
    tracker = ZoneTracker("t", ZoneMap((LEFT, RIGHT)), margin=0.5, dwell=3.0)
    # The first fix places the tag at once: the dwell holds back changes, not the start.
    assert [e.kind for e in tracker.update(0.0, 0, 2.0, 2.5)] == ["entered"]
    assert tracker.zone == "left"
    assert tracker.update(1.0, 0, 8.0, 2.5) == []
    assert tracker.update(2.0, 0, 5.2, 2.5) == []  # in the right zone, if not deep: still pending
    assert [e.kind for e in tracker.update(4.0, 0, 8.0, 2.5)] == ["left", "entered"]
    assert tracker.zone == "right"
    assert tracker.update(5.0, 0, 2.0, 2.5) == []  # a short excursion back to the left...
    assert tracker.update(6.0, 0, 8.0, 2.5) == []  # ...returns: the pending change is dropped
    assert tracker.update(8.5, 0, 2.0, 2.5) == []
    assert tracker.zone == "right"
    assert [e.kind for e in tracker.update(20.0, 0, 30.0, 2.5)] == []
    assert [e.kind for e in tracker.update(23.0, 0, 30.0, 2.5)] == ["left"]
    assert tracker.zone is None

"""Receiver health and repairs; unload, reload and restart."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache,
)

from ble_rtls_lab.hass.load import Load, LoadSite
from ble_rtls_lab.hass.proxies import SimulatedProxy, register_proxies
from custom_components.ble_rtls.const import (
    CONF_SETTINGS,
    CONF_SITE,
    DOMAIN,
    EVENT_ZONE_CHANGED,
    LOCATE_BATCH,
)
from custom_components.ble_rtls.identity import ibeacon_payload

from .conftest import BEACON, TAG_MAC, Walker, two_room_site
from .test_tracking import Events, Written

SILENT_ISSUE = "receiver_silent_{entry}_AA:00:00:00:00:02"


@pytest.fixture
def settings() -> dict[str, Any]:
    return {"receiver_silent_after": 30.0}


async def test_silent_receiver_raises_and_clears_a_repair(
    hass: HomeAssistant,
    walker: Walker,
    entry: MockConfigEntry,
    proxies: dict[str, SimulatedProxy],
    written: Written,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issues = ir.async_get(hass)
    issue_id = SILENT_ISSUE.format(entry=entry.entry_id)
    rates = written("sensor.proxy_2_tag_adverts_per_second")
    for _ in range(12):
        await walker.step({TAG_MAC: (5.0, 5.0)})
    online = hass.states.get("binary_sensor.proxy_2_online")
    assert online is not None and online.state == "on"  # within the 10 s health check
    for _ in range(50):
        await walker.step({TAG_MAC: (5.0, 5.0)})
    assert len(rates) == 1 and 0.5 <= float(rates[0]) <= 1.0  # a minute's average, once

    proxies["AA:00:00:00:00:02"].detach()  # the proxy disconnects
    survivors = {k: v for k, v in proxies.items() if k != "AA:00:00:00:00:02"}
    walker.proxies = survivors
    walker.receivers = [r for r in walker.receivers if r.id in survivors]
    for _ in range(25):
        await walker.step({TAG_MAC: (5.0, 5.0)})
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    online = hass.states.get("binary_sensor.proxy_2_online")
    assert online is not None and online.state == "off"
    tracker = hass.states.get("device_tracker.forklift")
    assert (
        tracker is not None and tracker.state == "home" and tracker.attributes["zone"] == "left"
    )  # three proxies still locate
    rate = hass.states.get("sensor.proxy_2_tag_adverts_per_second")
    assert rate is not None and rate.state == "unavailable"
    ours = "custom_components.ble_rtls.coordinator"
    silent = [r.getMessage() for r in caplog.records if r.name == ours]
    assert silent == ["Test site: receiver Proxy 2 is silent; positions use the others"]

    returned = SimulatedProxy("AA:00:00:00:00:02", "proxy-00:02")
    returned.attach(hass)
    walker.proxies = {**survivors, "AA:00:00:00:00:02": returned}
    walker.receivers = list(walker.coordinator.site.receivers)
    for _ in range(12):
        await walker.step({TAG_MAC: (5.0, 5.0)})
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    online = hass.states.get("binary_sensor.proxy_2_online")
    assert online is not None and online.state == "on"
    rate = hass.states.get("sensor.proxy_2_tag_adverts_per_second")
    assert rate is not None and rate.state != "unavailable"
    logged = [r.getMessage() for r in caplog.records if r.name == ours]
    assert logged == [*silent, "Test site: receiver Proxy 2 is heard again"]  # once each way
    returned.detach()


async def test_unload_leaves_no_listeners_or_timers(
    hass: HomeAssistant, proxies: dict[str, SimulatedProxy], site_document: dict[str, Any]
) -> None:
    """Two load/unload cycles: the second must end with exactly the listeners of the first
    (the first also loads HA's platforms, which stay)."""
    entry = MockConfigEntry(
        domain=DOMAIN, title="Site", options={CONF_SITE: site_document, CONF_SETTINGS: {}}
    )
    entry.add_to_hass(hass)
    after_cycle = []
    for cycle in range(2):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert _ticking(hass)
        coordinator = entry.runtime_data.coordinator
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.NOT_LOADED
        assert not _ticking(hass)
        beacon = {0x004C: ibeacon_payload(BEACON)}
        address = f"5A:00:00:00:00:0{cycle}"
        proxies["AA:00:00:00:00:01"].hear(address, -60, beacon)
        assert address not in coordinator.tracked_addresses()
        after_cycle.append(hass.bus.async_listeners())
    assert after_cycle[0] == after_cycle[1]


def _ticking(hass: HomeAssistant) -> bool:
    """A live timer of ours among the loop's scheduled callbacks."""
    handles = [h for h in hass.loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    owners = [getattr(getattr(h, "_callback", None), "__self__", None) for h in handles]
    return any(str(getattr(owner, "job_name", "")).startswith(DOMAIN) for owner in owners)


async def test_timer_drives_the_coordinator(
    hass: HomeAssistant, entry: MockConfigEntry, proxies: dict[str, SimulatedProxy]
) -> None:
    """The real 1 s timer reads the scanners (no manual ticks here)."""
    coordinator = entry.runtime_data.coordinator
    for second in range(3):
        for proxy in proxies.values():
            proxy.hear(TAG_MAC, -60 - second)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=second + 1))
        await hass.async_block_till_done()
    assert len(coordinator.recent_adverts) >= 4


async def test_reload_action_and_restart_restore(
    hass: HomeAssistant, proxies: dict[str, SimulatedProxy], events: Events
) -> None:
    crossings = events(EVENT_ZONE_CHANGED)
    mock_restore_cache(
        hass,
        [
            State(
                "device_tracker.forklift",
                "Right room",
                {"x": 16.0, "y": 5.0, "floor": 0, "zone": "right", "accuracy_m": 1.5},
            )
        ],
    )
    entry = MockConfigEntry(
        domain=DOMAIN, title="Site", options={CONF_SITE: two_room_site(), CONF_SETTINGS: {}}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    tracker = hass.states.get("device_tracker.forklift")
    assert tracker is not None and tracker.state == "home" and tracker.attributes["zone"] == "right"
    assert tracker.attributes["x"] == 16.0
    occupancy = hass.states.get("sensor.right_room_occupancy")
    assert occupancy is not None and occupancy.state == "1"
    zone = hass.states.get("sensor.forklift_zone")
    assert zone is not None and zone.state == "Right room"

    walker = Walker(hass, entry, proxies)
    await walker.walk(TAG_MAC, (16.0, 5.0), (16.0, 5.0), 10)
    assert crossings == []  # still in the room it was in before the restart

    await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator is not walker.coordinator


async def test_damaged_last_positions_are_not_restored_and_the_tags_still_load(
    hass: HomeAssistant, proxies: dict[str, SimulatedProxy]
) -> None:
    """HA's restore file holds what the trackers wrote, but it is a file: a position that
    is not a number, NaN or a zone that is a list is skipped, not a failed tracker."""
    mock_restore_cache(
        hass,
        [
            State("device_tracker.forklift", "x", {"x": "by the door", "y": 5.0}),
            State("device_tracker.phone", "x", {"x": 1.0, "y": float("nan"), "zone": "left"}),
            State("device_tracker.watch", "x", {"x": 1.0, "y": 2.0, "zone": ["left"]}),
        ],
    )
    entry = MockConfigEntry(
        domain=DOMAIN, title="Site", options={CONF_SITE: two_room_site(), CONF_SETTINGS: {}}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    for tag in ("forklift", "phone"):
        tracker = hass.states.get(f"device_tracker.{tag}")
        assert tracker is not None and tracker.state == STATE_UNKNOWN, tag
    watch = hass.states.get("device_tracker.watch")  # its place kept, the list not a zone
    assert watch is not None and watch.attributes["x"] == 1.0 and watch.state == "home"
    walker = Walker(hass, entry, proxies)
    await walker.walk(TAG_MAC, (16.0, 5.0), (16.0, 5.0), 10)
    forklift = hass.states.get("device_tracker.forklift")
    assert (
        forklift is not None and forklift.state == "home" and forklift.attributes["zone"] == "right"
    )


async def test_a_corrupt_stored_site_fails_setup_and_is_kept(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    site = two_room_site()
    site["receivers"][0]["x"] = "by the door"
    entry = MockConfigEntry(
        domain=DOMAIN, title="Site", options={CONF_SITE: site, CONF_SETTINGS: {}}
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "receivers[0] (AA:00:00:00:00:01): x: must be a number" in str(entry.reason)
    assert "Mend it under Configure" in str(entry.reason)  # the translated message
    assert entry.options[CONF_SITE] == site
    # The user mends it where they set it up: Configure > Import a site, then it loads.
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    flow = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"next_step_id": "import_site"}
    )
    mended = two_room_site()
    flow = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"site_json": json.dumps(mended)}
    )
    assert flow["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    reloaded = hass.config_entries.async_get_entry(entry.entry_id)
    assert reloaded is not None and reloaded.state is ConfigEntryState.LOADED
    assert reloaded.options[CONF_SITE] == mended


@pytest.mark.parametrize(
    "site_document",
    [two_room_site() | {"geo_anchor": {"latitude": 52.0, "longitude": 4.0, "bearing": 0.0}}],
)
async def test_anchored_site_puts_tags_on_the_map(hass: HomeAssistant, walker: Walker) -> None:
    await walker.walk(TAG_MAC, (4.0, 5.0), (4.0, 5.0), 8)
    tracker = hass.states.get("device_tracker.forklift")
    assert tracker is not None and tracker.attributes["zone"] == "left"
    assert tracker.attributes["latitude"] == pytest.approx(52.0 + 5.0 / 111_195, abs=2e-5)
    assert tracker.attributes["longitude"] == pytest.approx(4.0 + 4.0 / 68_460, abs=3e-5)
    assert tracker.attributes["gps_accuracy"] >= 1


async def test_large_site_ticks_in_batches_and_stops_mid_tick(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    """Tags for three batches; an unload between them ends the tick; ticks never overlap."""
    load = Load("busy house", 4, 2, 7.0, 3 * LOCATE_BATCH, 3.0, 0, 0.0)
    site = LoadSite(load)
    proxies, unregister = register_proxies(hass, site.receivers)
    try:
        entry = MockConfigEntry(
            domain=DOMAIN, title="Big", options={CONF_SITE: site.document(), CONF_SETTINGS: {}}
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        coordinator = entry.runtime_data.coordinator
        now = time.monotonic()
        for second in site.seconds(8):
            for receiver, address, rssi in second:
                proxies[receiver].hear(address, rssi)
            now += 1.0
            await coordinator.async_process(now)
        located = sum(1 for view in coordinator.tags.values() if view.estimate is not None)
        assert located == load.tags

        # Heard again after a minute's silence: new tags, first fixed at the next tick.
        again = site.seconds(2)
        for receiver, address, rssi in next(again):
            proxies[receiver].hear(address, rssi)
        await coordinator.async_process(now + 60.0)
        for receiver, address, rssi in next(again):
            proxies[receiver].hear(address, rssi)
        tick = hass.async_create_task(coordinator.async_process(now + 61.0))
        await asyncio.sleep(0)  # the tick has done its first batch and yielded
        await coordinator.async_process(now + 62.0)  # overlapping: skipped
        assert await hass.config_entries.async_unload(entry.entry_id)
        await tick
        published = [view.published_at for view in coordinator.tags.values()]
        assert LOCATE_BATCH <= published.count(now + 61.0) < load.tags
        assert now + 62.0 not in published
    finally:
        unregister()


@pytest.mark.parametrize("room", ["Left room", "Right room"])
async def test_a_restart_keeps_a_tag_on_a_boundary_in_its_room(
    hass: HomeAssistant, proxies: dict[str, SimulatedProxy], events: Events, room: str
) -> None:
    """Standing 0.3 m from the wall between the rooms when HA restarts: its first fixes fall
    on either side, and neither may fire a zone change the tag never made."""
    crossings = events(EVENT_ZONE_CHANGED)
    zone = "left" if room == "Left room" else "right"
    mock_restore_cache(
        hass,
        [
            State(
                "device_tracker.forklift",
                room,
                {"x": 10.3, "y": 5.0, "floor": 0, "zone": zone, "accuracy_m": 1.5},
            )
        ],
    )
    entry = MockConfigEntry(
        domain=DOMAIN, title="Site", options={CONF_SITE: two_room_site(), CONF_SETTINGS: {}}
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    walker = Walker(hass, entry, proxies)
    await walker.walk(TAG_MAC, (10.0, 5.0), (10.0, 5.0), 60)
    assert crossings == []
    tracker = hass.states.get("device_tracker.forklift")
    assert tracker is not None and tracker.state == "home" and tracker.attributes["zone"] == zone

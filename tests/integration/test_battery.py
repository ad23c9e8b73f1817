"""Tag battery over GATT through HA's bluetooth: reads, back-off, low-battery events, the
per-tag switch. The tag's radio is a fake BleakClient at the hardware boundary."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from bleak.exc import BleakError
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ble_rtls_lab.hass.proxies import SimulatedProxy
from custom_components.ble_rtls import battery
from custom_components.ble_rtls.battery import READ_EVERY, RETRY_FIRST, BatteryReader
from custom_components.ble_rtls.const import CONF_SITE
from custom_components.ble_rtls.diagnostics import async_get_config_entry_diagnostics
from custom_components.ble_rtls.ids import unique_id

from .conftest import TAG_MAC


class FakeTag:
    """The tag's GATT server as bleak would reach it: scripted connects, a battery level."""

    outcomes: ClassVar[list[str]] = []
    level: ClassVar[bytes] = b"\x57"
    connects: ClassVar[int] = 0
    reads: ClassVar[list[str]] = []
    open: ClassVar[int] = 0

    def __init__(self, device: Any, disconnected_callback: Any = None, **_: Any) -> None:
        self.device = device

    async def connect(self, **_: Any) -> bool:
        FakeTag.connects += 1
        if FakeTag.outcomes and FakeTag.outcomes.pop(0) == "fail":
            raise BleakError("the tag did not answer")
        FakeTag.open += 1
        return True

    async def read_gatt_char(self, uuid: str) -> bytearray:
        FakeTag.reads.append(uuid)
        return bytearray(FakeTag.level)

    async def disconnect(self) -> bool:
        FakeTag.open -= 1
        return True

    async def clear_cache(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def fake_tag(monkeypatch: pytest.MonkeyPatch) -> type[FakeTag]:
    FakeTag.outcomes, FakeTag.level, FakeTag.connects, FakeTag.reads, FakeTag.open = (
        [],
        b"\x57",
        0,
        [],
        0,
    )
    monkeypatch.setattr(battery, "CLIENT_CLASS", FakeTag)
    return FakeTag


@pytest.fixture
async def connectable(hass: HomeAssistant, entry: MockConfigEntry) -> AsyncIterator[SimulatedProxy]:
    """An ESPHome-like active proxy with connection slots that hears the forklift."""
    proxy = SimulatedProxy("AA:00:00:00:00:0C", "active proxy", connectable=True)
    proxy.attach(hass)
    proxy.hear(TAG_MAC, -60)
    yield proxy
    proxy.detach()


def _reader(entry: MockConfigEntry) -> BatteryReader:
    reader: BatteryReader = entry.runtime_data.battery
    return reader


async def test_battery_is_read_and_shown_then_not_again_until_due(
    hass: HomeAssistant, entry: MockConfigEntry, connectable: SimulatedProxy
) -> None:
    reader = _reader(entry)
    assert set(reader.views) == {"forklift"}  # MAC tags by default; not the phone or watch
    now = time.monotonic()
    await reader.async_read_due(now)
    await hass.async_block_till_done()
    state = hass.states.get("sensor.forklift_battery")
    assert state is not None and state.state == "87"
    assert FakeTag.reads == [battery.BATTERY_LEVEL] and FakeTag.open == 0  # disconnected
    await reader.async_read_due(now + 60)
    assert FakeTag.connects == 1
    await reader.async_read_due(now + READ_EVERY)
    assert FakeTag.connects == 2
    registry = er.async_get(hass)
    assert (
        registry.async_get_entity_id(
            "sensor", "ble_rtls", unique_id(entry.entry_id, "tag", "phone", "battery")
        )
        is None
    )


async def test_failures_back_off_and_low_battery_fires_once_per_drop(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    connectable: SimulatedProxy,
    events: Callable[[str], list[dict[str, Any]]],
) -> None:
    low = events("ble_rtls_battery_low")
    reader = _reader(entry)
    view = reader.views["forklift"]
    now = time.monotonic()
    FakeTag.outcomes = ["fail", "fail"]  # both attempts of one read
    await reader.async_read_due(now)
    assert view.failures == 1 and view.level is None
    assert view.due == pytest.approx(now + RETRY_FIRST)
    assert "the tag did not answer" in (view.last_error or "")
    # The error names the tag's address: diagnostics keep the count, not the text.
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["tags"]["forklift"]["battery"]["last_error"] == "**REDACTED**"
    assert TAG_MAC not in json.dumps(diagnostics)
    FakeTag.outcomes = ["fail", "fail"]
    await reader.async_read_due(now + RETRY_FIRST)
    assert view.due == pytest.approx(now + 3 * RETRY_FIRST)  # doubled
    await reader.async_read_due(now + 2 * RETRY_FIRST)
    assert view.failures == 2  # not due yet: no attempt

    FakeTag.level = b"\x0f"
    await reader.async_read_due(view.due)  # (now + 600) + 1200 may round above now + 1800
    await hass.async_block_till_done()
    assert view.level == 15 and view.failures == 0
    assert [e["level"] for e in low] == [15]
    FakeTag.level = b"\x0c"
    await reader.async_read_due(view.due)
    FakeTag.level = b"\x50"
    await reader.async_read_due(view.due)
    FakeTag.level = b"\x0a"
    await reader.async_read_due(view.due)
    await hass.async_block_till_done()
    assert [e["level"] for e in low] == [15, 10]
    assert low[0]["tag"] == "forklift" and low[0]["device_id"]

    FakeTag.level = b"\xff"  # not a percentage
    await reader.async_read_due(view.due)
    assert view.last_error == "not a battery level: ff" and view.level == 10


async def test_a_tag_no_connectable_proxy_hears_is_not_connected_to(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    reader = _reader(entry)
    await reader.async_read_due(time.monotonic())
    view = reader.views["forklift"]
    assert view.last_error == "no connectable proxy hears the tag" and FakeTag.connects == 0


async def test_battery_reading_can_be_turned_off_per_tag(
    hass: HomeAssistant, entry: MockConfigEntry, connectable: SimulatedProxy
) -> None:
    document = copy.deepcopy(entry.options[CONF_SITE])
    document["tags"][0] = document["tags"][0] | {"battery": False}
    document["tags"][1] = document["tags"][1] | {"battery": True}
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: document})
    await hass.async_block_till_done()
    reader = _reader(entry)
    assert set(reader.views) == {"phone"}
    await reader.async_read_due(time.monotonic())
    assert FakeTag.connects == 0  # the phone's tag is not heard by the connectable proxy
    assert hass.states.get("sensor.forklift_battery") is None

"""The learnt self-calibration survives reloads and restarts, and a bad record never harms
set-up: Home Assistant's real storage (the test plugin's in-memory `hass_storage`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ble_rtls.const import CALIBRATION_SAVE_PERIOD
from custom_components.ble_rtls.coordinator import SiteCoordinator

from .conftest import TAG_MAC, Walker, setup_site, two_room_site

DECLARED = {"exponent": 2.2, "ref_rssi": -59.0}  # two_room_site's path loss


def _key(entry: MockConfigEntry | str, kind: str = "calibration") -> str:
    entry_id = entry if isinstance(entry, str) else entry.entry_id
    return f"ble_rtls.{entry_id}.{kind}"


def _learnt(coordinator: SiteCoordinator) -> dict[str, Any]:
    assert coordinator.engine is not None
    return coordinator.engine.saved_calibration()


def _stored(entry_id: str, data: Any) -> dict[str, Any]:
    return {"version": 1, "minor_version": 1, "key": _key(entry_id), "data": data}


async def _learn(walker: Walker) -> dict[str, Any]:
    """Two minutes of a tag standing in the left room: the calibration moves off the
    declared values."""
    for _ in range(120):
        await walker.step({TAG_MAC: (5.0, 5.0)})
    learnt = _learnt(walker.coordinator)
    assert learnt["exponent"] != DECLARED["exponent"]
    assert "forklift" in learnt["tags"]
    return learnt


async def test_a_reload_resumes_from_what_was_learnt(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    learnt = await _learn(walker)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage[_key(entry)]["data"] == learnt
    assert entry.runtime_data.coordinator.calibration_resumed is True
    resumed = _learnt(entry.runtime_data.coordinator)
    assert resumed["exponent"] == learnt["exponent"]
    assert resumed["tags"] == learnt["tags"]
    assert resumed["biases"] == pytest.approx(learnt["biases"])


async def test_stored_every_period_and_when_home_assistant_stops(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    learnt = await _learn(walker)
    assert _key(entry) not in hass_storage  # not before the first period
    await walker.coordinator.async_process(walker.now + CALIBRATION_SAVE_PERIOD)
    await asyncio.sleep(0)  # the store's zero-delay write timer, then its write task
    await hass.async_block_till_done()
    assert hass_storage[_key(entry)]["data"]["exponent"] == pytest.approx(
        learnt["exponent"], abs=0.05
    )
    del hass_storage[_key(entry)]
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await asyncio.sleep(0)
    await hass.async_block_till_done()
    assert hass_storage[_key(entry)]["data"] == _learnt(walker.coordinator)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"declared": {"exponent": 3.0, "ref_rssi": -59.0}}, "other declared path loss"),
        ({"declared": DECLARED, "exponent": True}, "not a number"),
        ({"declared": DECLARED, "exponent": 2.5, "noise_db": 3.0, "biases": []}, "bad biases"),
        ({"declared": "2.2"}, "malformed"),
        (["not", "a", "record"], "not a record"),
    ],
)
async def test_a_record_that_does_not_fit_is_ignored(
    hass: HomeAssistant,
    proxies: dict[str, Any],
    hass_storage: dict[str, Any],
    data: Any,
    why: str,
) -> None:
    hass_storage[_key("fresh")] = _stored("fresh", data)
    entry = await setup_site(hass, two_room_site(), {}, entry_id="fresh")
    assert entry.runtime_data.coordinator.calibration_resumed is False
    learnt = _learnt(entry.runtime_data.coordinator)
    assert learnt["exponent"] == DECLARED["exponent"], why
    assert set(learnt["biases"].values()) == {0.0}
    assert hass_storage[_key(entry)]["data"] == data  # kept as it was until the next save


async def test_out_of_range_values_are_bounded_and_unknown_items_dropped(
    hass: HomeAssistant, proxies: dict[str, Any], hass_storage: dict[str, Any]
) -> None:
    hass_storage[_key("bounded")] = _stored(
        "bounded",
        {
            "declared": DECLARED,
            "exponent": 99.0,
            "exponent_updates": -5,
            "noise_db": 0.0,
            "biases": {"AA:00:00:00:00:01": 50.0, "AA:00:00:00:00:99": 3.0},
            "tags": {
                "forklift": {"declared": None, "ref_rssi": -120.0},
                "gone": {"declared": None, "ref_rssi": -50.0},
                "phone": {"declared": -70.0, "ref_rssi": -50.0},  # declared since changed
            },
        },
    )
    entry = await setup_site(hass, two_room_site(), {}, entry_id="bounded")
    calibration = entry.runtime_data.coordinator.engine.calibration
    assert calibration.exponent == 4.5
    assert calibration.exponent_updates == 0
    assert calibration.noise_db == 2.0
    assert max(calibration.biases) < 12.0 and abs(sum(calibration.biases)) < 1e-9
    assert calibration.tag_ref == {"forklift": -79.0}


async def test_removing_a_site_leaves_nothing_in_storage(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    await _learn(walker)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    hass_storage[_key(entry, "phones")] = {"version": 1, "key": _key(entry, "phones"), "data": {}}
    assert _key(entry) in hass_storage
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert _key(entry) not in hass_storage
    assert _key(entry, "phones") not in hass_storage

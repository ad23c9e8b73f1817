"""Survey points through Home Assistant: taken at a spot, stored as received, used, cleared."""

from __future__ import annotations

import time
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ble_rtls.compat import device_by_identifier
from custom_components.ble_rtls.const import CONF_SITE, DOMAIN
from custom_components.ble_rtls.ids import device_identifier
from custom_components.ble_rtls.site_config import replace_item

from .conftest import TAG_MAC, Walker, two_room_site

OFFSET_PROXY = "AA:00:00:00:00:02"


@pytest.fixture
def site_document() -> dict[str, Any]:
    """The two rooms, one proxy reading 3 dB low (its RSSI offset puts it back)."""
    document = two_room_site()
    for receiver in document["receivers"]:
        if receiver["id"] == OFFSET_PROXY:
            receiver["rssi_offset"] = 3.0
    return document


def _tag(hass: HomeAssistant, entry: MockConfigEntry, tag_id: str) -> str:
    device = device_by_identifier(
        dr.async_get(hass), device_identifier(entry.entry_id, "tag", tag_id), entry.entry_id
    )
    assert device is not None
    return device.id


async def _survey_step(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """The options flow's survey step, opened from its menu."""
    menu = await hass.config_entries.options.async_init(entry.entry_id)
    return dict(
        await hass.config_entries.options.async_configure(
            menu["flow_id"], {"next_step_id": "survey"}
        )
    )


async def _survey(hass: HomeAssistant, data: dict[str, Any]) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "add_survey_point", data, blocking=True, return_response=True
    )
    assert response is not None
    await hass.async_block_till_done()
    return dict(response)


async def test_a_survey_point_is_stored_as_received_and_the_reloaded_site_uses_it(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    walker: Walker,
    entry: MockConfigEntry,
    proxies: Any,
) -> None:
    await walker.walk(TAG_MAC, (6.0, 4.0), (6.0, 4.0), 6)
    heard = entry.runtime_data.coordinator.engine.filtered_rssi("forklift", time.monotonic())
    response = await _survey(hass, {"device_id": _tag(hass, entry, "forklift"), "x": 6, "y": 4})
    assert response["tag"] == "forklift"
    assert response["receivers"] == 4 and response["survey_points"] == 1
    assert 0.0 <= response["error_m"] < 4.0  # where the tag was shown, against the spot
    (point,) = entry.options[CONF_SITE]["survey"]
    assert (point["x"], point["y"], point["floor"], point["tag"]) == (6, 4, 0, "forklift")
    offsets = {OFFSET_PROXY: 3.0}
    assert point["rssi"] == {
        rid: round(value - offsets.get(rid, 0.0), 1) for rid, value in heard.items()
    }
    coordinator = entry.runtime_data.coordinator  # the site reloaded with its survey
    assert len(coordinator.site.survey) == 1
    assert coordinator.engine.grids[0].correction is None  # worked out at the first update
    await Walker(hass, entry, proxies).walk(TAG_MAC, (6.0, 4.0), (6.0, 4.0), 1)
    correction = coordinator.engine.grids[0].correction
    assert correction is not None and correction.shape == (4, coordinator.engine.grids[0].xs.size)
    assert correction.any()
    assert await async_setup_component(hass, "diagnostics", {})
    grid = (await get_diagnostics_for_config_entry(hass, hass_client, entry))["engine"]["grid"]
    assert grid["0"]["survey_points"] == 1 and grid["0"]["survey_correction_db"] > 0

    second = await _survey(hass, {"device_id": _tag(hass, entry, "forklift"), "x": 6, "y": 4})
    assert second["survey_points"] == 2
    cleared = await hass.services.async_call(
        DOMAIN, "clear_survey", {}, blocking=True, return_response=True
    )
    await hass.async_block_till_done()
    assert cleared == {entry.entry_id: 2}
    assert "survey" not in entry.options[CONF_SITE]
    assert entry.runtime_data.coordinator.site.survey == ()
    assert await hass.services.async_call(
        DOMAIN, "clear_survey", {}, blocking=True, return_response=True
    ) == {entry.entry_id: 0}


@pytest.mark.parametrize(
    ("spot", "key", "text"),
    [
        ({"x": 500, "y": 4}, "outside_site", "outside floor 0"),
        ({"x": 6, "y": 4, "floor": 3}, "unknown_floor", "Floor 3 has no receivers"),
    ],
)
async def test_a_survey_point_at_an_impossible_spot_is_refused(
    hass: HomeAssistant,
    walker: Walker,
    entry: MockConfigEntry,
    spot: dict[str, Any],
    key: str,
    text: str,
) -> None:
    await walker.walk(TAG_MAC, (6.0, 4.0), (6.0, 4.0), 4)
    before = entry.options[CONF_SITE]
    with pytest.raises(ServiceValidationError) as refused:
        await _survey(hass, {"device_id": _tag(hass, entry, "forklift")} | spot)
    assert refused.value.translation_key == key
    assert text in str(refused.value)  # the translated message, not the key
    assert entry.options[CONF_SITE] == before


async def test_a_tag_few_receivers_hear_gives_no_survey_point(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as unheard:
        await _survey(hass, {"device_id": _tag(hass, entry, "phone"), "x": 6, "y": 4})
    assert unheard.value.translation_key == "too_few_receivers"
    assert "At least 3 receivers" in str(unheard.value)
    assert "survey" not in entry.options[CONF_SITE]


def test_moving_or_removing_a_receiver_drops_its_survey_readings() -> None:
    document = two_room_site()
    ids = [r["id"] for r in document["receivers"]]
    document["survey"] = [
        {"x": 5, "y": 5, "floor": 0, "rssi": {rid: -70.0 for rid in ids}},
        {"x": 15, "y": 5, "floor": 0, "rssi": {rid: -72.0 for rid in ids[:3]}},
    ]
    first = document["receivers"][0]
    renamed = replace_item(document, "receivers", first | {"name": "Hall"}, first["id"])
    assert renamed["survey"] == document["survey"]
    moved = replace_item(document, "receivers", first | {"x": 1.0}, first["id"])
    assert [sorted(p["rssi"]) for p in moved["survey"]] == [ids[1:]]  # the second: 2 left
    removed = replace_item(moved, "receivers", None, ids[1])
    assert "survey" not in removed
    assert len(document["survey"]) == 2  # the stored document is not touched


async def test_the_options_flow_takes_survey_points_explains_refusals_and_clears(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, proxies: Any
) -> None:
    async def submit(form: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        result = await hass.config_entries.options.async_configure(form["flow_id"], data)
        await hass.async_block_till_done()
        return dict(result)

    form = await _survey_step(hass, entry)
    assert form["step_id"] == "survey" and form["description_placeholders"]["points"] == "0"
    unheard = await submit(form, {"tag": "phone", "x": 6, "y": 4, "floor": 0})
    assert unheard["errors"] == {"base": "too_few_receivers"}
    assert unheard["description_placeholders"]["count"] == "0"
    await walker.walk(TAG_MAC, (6.0, 4.0), (6.0, 4.0), 4)
    outside = await submit(unheard, {"tag": "forklift", "x": 60, "y": 4, "floor": 0})
    assert outside["errors"] == {"base": "outside_site"}
    assert outside["description_placeholders"]["x"] == "60"
    assert "survey" not in entry.options[CONF_SITE]  # nothing stored on a refusal
    taken = await submit(outside, {"tag": "forklift", "x": 6, "y": 4, "floor": 0})
    assert taken["type"] == "create_entry"
    (point,) = entry.options[CONF_SITE]["survey"]
    assert (point["x"], point["y"], point["tag"], len(point["rssi"])) == (6, 4, "forklift", 4)
    assert len(entry.runtime_data.coordinator.site.survey) == 1

    form = await _survey_step(hass, entry)
    assert form["description_placeholders"]["points"] == "1"
    cleared = await submit(form, {"tag": "forklift", "x": 6, "y": 4, "floor": 0, "clear": True})
    assert cleared["type"] == "create_entry"
    assert "survey" not in entry.options[CONF_SITE]


async def test_the_survey_step_needs_a_running_site_with_tags(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    document = entry.options[CONF_SITE] | {"tags": []}
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: document})
    await hass.async_block_till_done()
    assert (await _survey_step(hass, entry))["reason"] == "no_tags"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert (await _survey_step(hass, entry))["reason"] == "not_loaded"

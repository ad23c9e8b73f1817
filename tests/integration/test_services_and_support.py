"""Actions (calibrate, export, reload), diagnostics and device triggers."""

from __future__ import annotations

import io
import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from PIL import Image, ImageChops
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_get_device_automations,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ble_rtls.compat import device_by_identifier
from custom_components.ble_rtls.const import CONF_SITE, DOMAIN
from custom_components.ble_rtls.device_trigger import async_get_trigger_capabilities
from custom_components.ble_rtls.engine.adverts import read_adverts
from custom_components.ble_rtls.engine.site import load_site
from custom_components.ble_rtls.ids import device_identifier

from .conftest import IRK, TAG_MAC, Walker

ROOT = Path(__file__).parents[2]


def _device(hass: HomeAssistant, entry: MockConfigEntry, kind: str, item_id: str) -> str:
    device = device_by_identifier(
        dr.async_get(hass), device_identifier(entry.entry_id, kind, item_id), entry.entry_id
    )
    assert device is not None
    return device.id


async def test_calibrate_learns_the_tags_reference_power(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry
) -> None:
    walker.radio.ref_rssi_1m = -66.0  # a weak tag: 7 dB below the site default
    await walker.walk(TAG_MAC, (6.0, 4.0), (6.0, 4.0), 6)
    response = await hass.services.async_call(
        DOMAIN,
        "calibrate",
        {"device_id": _device(hass, entry, "tag", "forklift"), "x": 6.0, "y": 4.0},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["receivers"] == 4
    assert abs(float(response["ref_rssi_1m"]) - -66.0) < 2.5  # type: ignore[arg-type]
    await hass.async_block_till_done()
    forklift = entry.options[CONF_SITE]["tags"][0]
    assert forklift["ref_rssi_1m"] == response["ref_rssi_1m"]


async def test_calibrate_explains_what_is_wrong(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as not_a_tag:
        await hass.services.async_call(
            DOMAIN,
            "calibrate",
            {"device_id": _device(hass, entry, "zone", "left"), "x": 1, "y": 1},
            blocking=True,
            return_response=True,
        )
    assert not_a_tag.value.translation_key == "not_a_tag"
    with pytest.raises(ServiceValidationError) as unheard:
        await hass.services.async_call(
            DOMAIN,
            "calibrate",
            {"device_id": _device(hass, entry, "tag", "phone"), "x": 1, "y": 1},
            blocking=True,
            return_response=True,
        )
    assert unheard.value.translation_key == "too_few_receivers"


async def test_calibrate_keeps_the_site_when_the_spot_or_the_power_is_impossible(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry
) -> None:
    """A spot off the plan, or a power no tag has, is refused and nothing is stored: a
    stored 1 m power beyond the site's range would stop the site from loading."""
    site = json.dumps(entry.options[CONF_SITE])
    walker.radio.ref_rssi_1m = 30.0  # louder than any tag: 30 dBm at 1 m
    await walker.walk(TAG_MAC, (6.0, 4.0), (6.0, 4.0), 6)
    forklift = _device(hass, entry, "tag", "forklift")
    for spot, key in (({"x": 1e6, "y": 4.0}, "outside_site"), ({"x": 6.0, "y": 4.0}, "")):
        with pytest.raises(ServiceValidationError) as refused:
            await hass.services.async_call(
                DOMAIN,
                "calibrate",
                {"device_id": forklift} | spot,
                blocking=True,
                return_response=True,
            )
        assert refused.value.translation_key == (key or "invalid_calibration")
    assert "ref_rssi_1m: must be between -120 and 20" in str(refused.value)
    await hass.async_block_till_done()
    assert json.dumps(entry.options[CONF_SITE]) == site
    assert entry.state is ConfigEntryState.LOADED


async def test_export_writes_a_replayable_recording(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, tmp_path: Path
) -> None:
    hass.config.config_dir = str(tmp_path)  # not the test plugin's shared configuration
    await walker.walk(TAG_MAC, (4.0, 5.0), (16.0, 5.0), 10)
    # A controller that has no RSSI for a packet reports 127 (HCI 0x7F): no reading, and no
    # row the replay would refuse.
    proxy = walker.proxies[walker.receivers[0].id]
    for _ in range(3):
        proxy.hear(TAG_MAC, 127)
        await walker.step({})
    response = await hass.services.async_call(
        DOMAIN, "export_adverts", {}, blocking=True, return_response=True
    )
    assert response is not None
    files: Any = response[entry.entry_id]
    adverts = list(read_adverts(files["adverts"]))
    assert len(adverts) == files["rows"] == len(entry.runtime_data.coordinator.recent_adverts) >= 30
    assert {a.tag for a in adverts} == {"forklift"} and max(a.rssi for a in adverts) < 0
    site = load_site(files["site"])
    assert {a.receiver for a in adverts} <= {r.id for r in site.receivers}
    assert json.loads(Path(files["site"]).read_text())["tags"][0]["address"] == TAG_MAC


async def test_an_export_that_cannot_be_written_is_a_clear_error(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, tmp_path: Path
) -> None:
    await walker.walk(TAG_MAC, (4.0, 5.0), (4.0, 5.0), 3)
    hass.config.config_dir = str(tmp_path)
    (tmp_path / DOMAIN).write_text("a file where the folder goes", encoding="utf-8")
    with pytest.raises(HomeAssistantError) as error:
        await hass.services.async_call(
            DOMAIN, "export_adverts", {}, blocking=True, return_response=True
        )
    assert error.value.translation_key == "export_failed"
    assert "Could not write the export" in str(error.value)


async def test_actions_reject_an_unknown_site(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    with pytest.raises(ServiceValidationError) as error:
        await hass.services.async_call(DOMAIN, "reload", {"config_entry_id": "nope"}, blocking=True)
    assert error.value.translation_key == "no_site"


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    walker: Walker,
    entry: MockConfigEntry,
) -> None:
    await walker.walk(TAG_MAC, (4.0, 5.0), (4.0, 5.0), 5)
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert TAG_MAC not in text and IRK not in text
    assert diagnostics["tags"]["forklift"]["zone"] == "left"
    assert diagnostics["engine"]["calibration_resumed"] is None  # nothing stored yet
    assert diagnostics["engine"]["bias_measured"] == []  # no receiver sends a beacon
    # 22 x 12 m with the margins, at most 400 points; its two zones are not marked as rooms.
    assert diagnostics["engine"]["grid"] == {
        "0": {
            "step_m": 0.81,
            "points": 420,
            "walls": 0,
            "survey_points": 0,
            "survey_correction_db": None,
        }
    }
    assert diagnostics["engine"]["receiver_bias_db"].keys() == {
        "AA:00:00:00:00:01",
        "AA:00:00:00:00:02",
        "AA:00:00:00:00:03",
        "AA:00:00:00:00:04",
    }


async def _our_triggers(hass: HomeAssistant, device_id: str) -> set[str]:
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device_id)
    return {t["type"] for t in triggers if t["domain"] == DOMAIN}


async def test_device_triggers_fire_on_crossings(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry
) -> None:
    device_id = _device(hass, entry, "tag", "forklift")
    assert await _our_triggers(hass, device_id) == {"entered_zone", "left_zone", "missing"}
    assert await _our_triggers(hass, _device(hass, entry, "zone", "left")) == set()

    fired: list[str] = []
    hass.bus.async_listen("test_fired", lambda event: fired.append(event.data["what"]))
    automations = [
        ("entered_zone", {"zone": "right"}, "entered right"),
        ("entered_zone", {}, "entered any"),
        ("left_zone", {"zone": "left"}, "left left"),
    ]
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "triggers": [
                        {
                            "platform": "device",
                            "domain": DOMAIN,
                            "device_id": device_id,
                            "type": kind,
                            **extra,
                        }
                    ],
                    "actions": [{"event": "test_fired", "event_data": {"what": what}}],
                }
                for kind, extra, what in automations
            ]
        },
    )
    await walker.walk(TAG_MAC, (4.0, 5.0), (4.0, 5.0), 6)
    await walker.walk(TAG_MAC, (4.0, 5.0), (16.0, 5.0), 12)
    await walker.walk(TAG_MAC, (16.0, 5.0), (16.0, 5.0), 10)
    assert sorted(fired) == ["entered any", "entered any", "entered right", "left left"]


async def test_trigger_capabilities_list_the_sites_zones(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    device_id = _device(hass, entry, "tag", "forklift")
    config = {"platform": "device", "domain": DOMAIN, "device_id": device_id}
    zone_trigger = await async_get_trigger_capabilities(hass, config | {"type": "left_zone"})
    schema = zone_trigger["extra_fields"].schema
    assert next(iter(schema.values())).container == {"left": "Left room", "right": "Right room"}
    assert await async_get_trigger_capabilities(hass, config | {"type": "missing"}) == {}


async def test_blueprints_notify_on_the_right_crossings(
    hass: HomeAssistant, walker: Walker, entry: MockConfigEntry, tmp_path: Path
) -> None:
    """Both shipped blueprints, installed as a user would, drive a notify action."""
    shutil.copytree(ROOT / "blueprints", tmp_path / "blueprints")
    hass.config.config_dir = str(tmp_path)
    notifications = async_mock_service(hass, "notify", "family")
    forklift = _device(hass, entry, "tag", "forklift")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "use_blueprint": {
                        "path": "ble_rtls/asset_left_allowed_zone.yaml",
                        "input": {
                            "assets": [forklift],
                            "allowed_zone": "Left room",
                            "notify_action": "notify.family",
                        },
                    }
                },
                {
                    "use_blueprint": {
                        "path": "ble_rtls/person_entered_restricted_zone.yaml",
                        "input": {
                            "people": [forklift],
                            "restricted_zone": "right",
                            "notify_action": "notify.family",
                        },
                    }
                },
            ]
        },
    )
    await walker.walk(TAG_MAC, (4.0, 5.0), (4.0, 5.0), 6)
    assert notifications == []
    await walker.walk(TAG_MAC, (4.0, 5.0), (16.0, 5.0), 12)
    await walker.walk(TAG_MAC, (16.0, 5.0), (16.0, 5.0), 6)
    titles = sorted(call.data["title"] for call in notifications)
    assert titles == ["Forklift entered Right room", "Forklift left Left room"]


async def test_map_image_shows_the_floor_and_changes_when_a_tag_moves(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, walker: Walker
) -> None:
    client = await hass_client()

    async def fetch() -> Image.Image:
        response = await client.get("/api/image_proxy/image.test_site_map_floor_0")
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/png"
        return Image.open(io.BytesIO(await response.read())).convert("RGB")

    empty = await fetch()
    await walker.walk(TAG_MAC, (4.0, 5.0), (4.0, 5.0), 6)
    first_state = hass.states.get("image.test_site_map_floor_0")
    assert first_state is not None
    await walker.walk(TAG_MAC, (4.0, 5.0), (16.0, 5.0), 12)
    await walker.walk(TAG_MAC, (16.0, 5.0), (16.0, 5.0), 4)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=3))  # the deferred refresh
    await hass.async_block_till_done()
    later_state = hass.states.get("image.test_site_map_floor_0")
    assert later_state is not None and later_state.state != first_state.state
    moved = await fetch()
    assert moved.size == empty.size and moved.size[0] > 500
    assert ImageChops.difference(empty, moved).getbbox() is not None
    # the tag's dot (TAG_COLOUR) is drawn in the right half of the plan, where it now is
    width = moved.size[0]
    right = moved.crop((width // 2, 0, width, moved.size[1]))
    assert (3, 110, 200) in {colour for _, colour in right.getcolors(1_000_000) or []}


async def test_calibrate_on_a_site_without_receivers_says_none_hear_it(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    site = {"receivers": [], "tags": [{"id": "keys", "address": TAG_MAC}], "zones": []}
    entry = MockConfigEntry(domain=DOMAIN, title="New", options={CONF_SITE: site})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    with pytest.raises(ServiceValidationError) as unheard:
        await hass.services.async_call(
            DOMAIN,
            "calibrate",
            {"device_id": _device(hass, entry, "tag", "keys"), "x": 1, "y": 1},
            blocking=True,
            return_response=True,
        )
    assert unheard.value.translation_placeholders == {"count": "0"}
    assert entry.options[CONF_SITE] == site

"""Every step of the config and options flows, including their errors."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from ble_rtls_companion.pairing import parse_pairing
from ble_rtls_companion.sender import ConnectionCheckError, check_connection
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ble_rtls_lab.hass.proxies import SimulatedProxy
from custom_components.ble_rtls.compat import device_by_identifier
from custom_components.ble_rtls.const import CONF_SETTINGS, CONF_SITE, DOMAIN
from custom_components.ble_rtls.identity import ibeacon_payload
from custom_components.ble_rtls.ids import device_identifier, unique_id

from .conftest import ALICE, BEACON, TAG_MAC, two_room_site


async def _options(hass: HomeAssistant, entry: MockConfigEntry, step: str) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    return dict(result)


async def _configure(
    hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    return dict(await hass.config_entries.options.async_configure(result["flow_id"], data))


def _placeholder(result: Any) -> str:
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    return str(placeholders["error"])


def _site(entry: MockConfigEntry) -> dict[str, Any]:
    site: dict[str, Any] = entry.options[CONF_SITE]
    return site


async def test_user_step_creates_an_empty_site(hass: HomeAssistant, enable_bluetooth: None) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "Home"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Home"
    assert result["options"] == {
        CONF_SITE: {"receivers": [], "tags": [], "zones": []},
        CONF_SETTINGS: {},
    }
    await hass.async_block_till_done()
    duplicate = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    duplicate = await hass.config_entries.flow.async_configure(
        duplicate["flow_id"], {"name": "home "}
    )
    assert duplicate["type"] is FlowResultType.ABORT
    assert duplicate["reason"] == "already_configured"


async def test_reconfigure_renames_the_site_and_keeps_it(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    other = MockConfigEntry(domain=DOMAIN, title="Depot", unique_id="depot")
    other.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    taken = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": "depot"})
    assert taken["type"] is FlowResultType.ABORT and taken["reason"] == "already_configured"
    assert entry.title != "depot"
    site = _site(entry)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"name": " Hall B"})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert (entry.title, entry.unique_id) == ("Hall B", "hall_b")
    assert _site(entry) == site and entry.state is config_entries.ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.title == "Hall B"


async def test_user_step_imports_and_rejects_site_json(
    hass: HomeAssistant, enable_bluetooth: None
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Depot", "site_json": "{not json"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"site_json": "invalid_site"}
    assert "not valid JSON" in _placeholder(result)
    bad = two_room_site()
    bad["zones"][0]["floor"] = 3
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Depot", "site_json": json.dumps(bad)}
    )
    assert "zones[0] (left): floor: unknown floor 3" in _placeholder(result)
    far = json.dumps(two_room_site())
    for text, says in (
        # Integers no float holds (Python's JSON reads them; the engine must refuse them).
        (far.replace('"x": 20.0', '"x": 2' + "0" * 400, 1), "x: must be finite"),
        (far.replace('"x": 20.0', '"x": 2' + "0" * 5000, 1), "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"name": "Depot", "site_json": text}
        )
        assert says in _placeholder(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Depot", "site_json": json.dumps(two_room_site())}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(result["options"][CONF_SITE]["receivers"]) == 4


async def test_receivers_are_placed_moved_and_removed(
    hass: HomeAssistant, entry: MockConfigEntry, proxies: dict[str, SimulatedProxy]
) -> None:
    extra = SimulatedProxy("AA:00:00:00:00:09", "attic")
    extra.attach(hass)
    result = await _options(hass, entry, "receivers")
    options = [o["value"] for o in result["data_schema"].schema["item"].config["options"]]
    assert "AA:00:00:00:00:09" in options and "AA:00:00:00:00:01" in options
    result = await _configure(hass, result, {"item": "AA:00:00:00:00:09"})
    assert result["step_id"] == "receiver"
    placement = {"name": "Attic", "x": 5.0, "y": 5.0, "z": 4.0, "floor": 1, "rssi_offset": -2.0}
    result = await _configure(hass, result, placement)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    attic = next(r for r in _site(entry)["receivers"] if r["id"] == "AA:00:00:00:00:09")
    assert attic == {"id": "AA:00:00:00:00:09", **placement}
    assert hass.states.get("binary_sensor.attic_online") is not None

    result = await _options(hass, entry, "receivers")
    result = await _configure(hass, result, {"item": "AA:00:00:00:00:01"})
    result = await _configure(
        hass,
        result,
        {
            "name": "Proxy 1",
            "x": 0.0,
            "y": 0.0,
            "z": 2.5,
            "floor": 0,
            "rssi_offset": 0.0,
            "remove": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert "AA:00:00:00:00:01" not in {r["id"] for r in _site(entry)["receivers"]}
    extra.detach()


async def test_removing_the_last_receiver_of_a_zoned_floor_is_refused(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    site = two_room_site()
    site["receivers"] = site["receivers"][:1]
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: site})
    await hass.async_block_till_done()
    result = await _options(hass, entry, "receivers")
    result = await _configure(hass, result, {"item": "AA:00:00:00:00:01"})
    result = await _configure(
        hass,
        result,
        {"name": "P", "x": 0.0, "y": 0.0, "z": 2.5, "floor": 0, "rssi_offset": 0.0, "remove": True},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_site"}
    assert "unknown floor 0" in result["description_placeholders"]["error"]
    assert _site(entry) == site


async def test_a_receivers_beacon_is_checked_and_stored(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A receiver's own advert address must be a MAC, and no tag's; stored upper-case."""
    site = _site(entry)
    place = {"name": "Proxy 1", "x": 0.0, "y": 0.0, "z": 2.5, "floor": 0, "rssi_offset": 0.0}
    for beacon, error in [
        ("proxy one", "receivers[0] (AA:00:00:00:00:01): beacon: 'proxy one' is not a MAC"),
        (TAG_MAC.lower(), "beacon: already used by tag forklift"),
    ]:
        result = await _options(hass, entry, "receivers")
        result = await _configure(hass, result, {"item": "AA:00:00:00:00:01"})
        result = await _configure(hass, result, place | {"beacon": beacon})
        assert result["errors"] == {"base": "invalid_site"}
        assert error in _placeholder(result)
        assert _site(entry) == site
    result = await _options(hass, entry, "receivers")
    result = await _configure(hass, result, {"item": "AA:00:00:00:00:01"})
    result = await _configure(hass, result, place | {"beacon": "ee:00:00:00:00:01 "})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert _site(entry)["receivers"][0]["beacon"] == "EE:00:00:00:00:01"
    assert entry.runtime_data.coordinator.engine.beacons == {"EE:00:00:00:00:01": 0}


async def test_a_new_receiver_heard_advertising_by_others_is_offered_as_its_own_beacon(
    hass: HomeAssistant, entry: MockConfigEntry, proxies: dict[str, SimulatedProxy]
) -> None:
    def suggested_beacon(result: dict[str, Any]) -> Any:
        for key in result["data_schema"].schema:
            if key == "beacon":
                return (key.description or {}).get("suggested_value")
        raise AssertionError("no beacon field")

    quiet = SimulatedProxy("AA:00:00:00:00:08", "quiet")
    loud = SimulatedProxy("AA:00:00:00:00:09", "attic")
    quiet.attach(hass)
    loud.attach(hass)
    proxies["AA:00:00:00:00:01"].hear("AA:00:00:00:00:09", -70)  # another hears the attic's
    for source, beacon in [("AA:00:00:00:00:08", None), ("AA:00:00:00:00:09", loud.source)]:
        result = await _options(hass, entry, "receivers")
        result = await _configure(hass, result, {"item": source})
        assert suggested_beacon(result) == beacon
    quiet.detach()
    loud.detach()


async def test_no_scanners_aborts(hass: HomeAssistant, enable_bluetooth: None) -> None:
    """A new site with no receivers locates nothing and offers nothing to place."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Empty",
        options={CONF_SITE: {"receivers": [], "tags": [], "zones": []}, CONF_SETTINGS: {}},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    for bluetooth_entry in hass.config_entries.async_entries("bluetooth"):
        await hass.config_entries.async_unload(bluetooth_entry.entry_id)  # its adapter goes
    await entry.runtime_data.coordinator.async_process(time.monotonic() + 1000.0)
    assert entry.runtime_data.coordinator.engine is None
    result = await _options(hass, entry, "receivers")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_scanners"


async def test_tag_added_from_nearby_candidates(
    hass: HomeAssistant, entry: MockConfigEntry, proxies: dict[str, SimulatedProxy]
) -> None:
    beacon = BEACON.replace(":1:7", ":2:9")
    proxy = proxies["AA:00:00:00:00:01"]
    proxy.hear("6B:00:00:00:00:01", -50, {0x004C: ibeacon_payload(beacon)}, name="Keys")
    proxy.hear("DE:AD:BE:EF:00:01", -70, name="Toolbox")
    proxy.hear("C0:FF:EE:00:00:01", -40, name="Forklift")  # already a tag: not offered
    for index in range(25):
        proxy.hear(f"DE:AD:BE:EF:01:{index:02X}", -90 - index)
    result = await _options(hass, entry, "tags")
    result = await _configure(hass, result, {"item": "__new__"})
    assert result["step_id"] == "tag_candidates"
    values = [o["value"] for o in result["data_schema"].schema["candidate"].config["options"]]
    assert values[:3] == ["__manual__", beacon, "DE:AD:BE:EF:00:01"]
    assert len(values) == 21
    result = await _configure(hass, result, {"candidate": beacon})
    assert result["step_id"] == "tag"
    result = await _configure(
        hass,
        result,
        {"name": "Keys", "identity_kind": "ibeacon", "identity": beacon.upper(), "motion": "asset"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    keys = _site(entry)["tags"][-1]
    assert keys == {"id": "keys", "name": "Keys", "ibeacon": beacon, "motion": "asset"}
    assert hass.states.get("device_tracker.keys") is not None


async def test_tag_identity_errors_keep_the_site(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    before = _site(entry)
    result = await _options(hass, entry, "tags")
    result = await _configure(hass, result, {"item": "__new__"})
    result = await _configure(hass, result, {"candidate": "__manual__"})
    for kind, value in (
        ("address", "not-a-mac"),
        ("ibeacon", "1:2"),
        ("ibeacon", "e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:70000"),
        ("irk", "abc"),
        ("ibeacon", "zz:1:2"),
    ):
        result = await _configure(
            hass,
            result,
            {"name": "X", "identity_kind": kind, "identity": value, "motion": "person"},
        )
        assert result["errors"] == {"identity": "invalid_identity"}, value
    result = await _configure(
        hass,
        result,
        {
            "name": "Twin",
            "identity_kind": "address",
            "identity": "c0-ff-ee-00-00-01",
            "motion": "person",
        },
    )
    assert result["errors"] == {"base": "invalid_site"}
    assert "already used by forklift" in result["description_placeholders"]["error"]
    assert _site(entry) == before


async def test_tag_edited_and_removed(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    result = await _options(hass, entry, "tags")
    result = await _configure(hass, result, {"item": "forklift"})
    assert result["step_id"] == "tag"
    result = await _configure(
        hass,
        result,
        {
            "name": "Forklift 3",
            "identity_kind": "address",
            "identity": "C0:FF:EE:00:00:01",
            "ref_rssi_1m": -62,
            "motion": "vehicle",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert _site(entry)["tags"][0] == {
        "id": "forklift",
        "name": "Forklift 3",
        "address": "C0:FF:EE:00:00:01",
        "motion": "vehicle",
        "ref_rssi_1m": -62,
    }
    result = await _options(hass, entry, "tags")
    result = await _configure(hass, result, {"item": "watch"})
    result = await _configure(
        hass,
        result,
        {
            "name": "Watch",
            "identity_kind": "irk",
            "identity": "0123456789abcdef0123456789abcdef",
            "motion": "person",
            "remove": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert [t["id"] for t in _site(entry)["tags"]] == ["forklift", "phone"]
    assert hass.states.get("device_tracker.watch") is None


async def test_zones_added_edited_removed_and_checked(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    area = ar.async_get(hass).async_create("Garage")
    result = await _options(hass, entry, "zones")
    result = await _configure(hass, result, {"item": "__new__"})
    for polygon in ("0,0; 4,0; x", "0,0; 4,0,1; 4,3"):
        result = await _configure(hass, result, {"name": "Dock", "floor": 0, "polygon": polygon})
        assert result["errors"] == {"polygon": "invalid_polygon"}
    result = await _configure(
        hass, result, {"name": "Dock", "floor": 0, "polygon": "0,0; 4,0; 8,0"}
    )
    assert result["errors"] == {"base": "invalid_site"}
    assert "zero area" in result["description_placeholders"]["error"]
    result = await _configure(
        hass,
        result,
        {
            "name": "Dock",
            "floor": 0,
            "polygon": "0,0; 4,0\n4,3; 0,3;",
            "walls": True,
            "area_id": area.id,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    dock = _site(entry)["zones"][-1]
    assert dock == {
        "id": "dock",
        "name": "Dock",
        "floor": 0,
        "polygon": [[0, 0], [4, 0], [4, 3], [0, 3]],
        "walls": True,
        "area_id": area.id,
    }
    # Named after its area too on releases that put the area in entity ids (2026.x).
    occupancy = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, unique_id(entry.entry_id, "zone", "dock", "occupancy")
    )
    assert occupancy is not None and hass.states.get(occupancy) is not None
    # Its four edges are walls on the engine's grid: a receiver outside the dock is behind one
    # from inside it.
    engine = entry.runtime_data.coordinator.engine
    assert next(z for z in engine.site.zones if z.id == "dock").walls
    grid = engine.grids[0]
    inside = int(((grid.xs - 2.0) ** 2 + (grid.ys - 1.5) ** 2).argmin())
    outside = [
        i for i, r in enumerate(engine.site.receivers) if not (0 <= r.x <= 4 and 0 <= r.y <= 3)
    ]
    assert outside and all(grid.walls[i, inside] >= 1 for i in outside)

    result = await _options(hass, entry, "zones")
    result = await _configure(hass, result, {"item": "dock"})
    suggested = {
        k.schema: k.description["suggested_value"]
        for k in result["data_schema"].schema
        if k.description
    }
    assert suggested["polygon"] == "0,0; 4,0; 4,3; 0,3"
    assert suggested["walls"] is True
    result = await _configure(
        hass,
        result,
        {
            "name": "Dock",
            "floor": 0,
            "polygon": suggested["polygon"],
            "walls": True,
            "remove": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert "dock" not in {z["id"] for z in _site(entry)["zones"]}


async def test_settings_saved_with_geo_anchor(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    result = await _options(hass, entry, "settings")
    assert result["step_id"] == "settings"
    data = {
        "rssi_filter": "kalman",
        "window": 5.0,
        "locate_interval": 2.0,
        "self_calibrate": False,
        "zone_margin": 1.0,
        "zone_dwell": 2.0,
        "publish_interval": 10.0,
        "missing_after": 300.0,
        "receiver_silent_after": 600.0,
        "exponent": 2.5,
        "ref_rssi_1m": -61.0,
        "wall_loss_db": 6.5,
        "latitude": 52.37,
        "longitude": 4.89,
        "bearing": 90.0,
    }
    result = await _configure(hass, result, data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_SETTINGS]["rssi_filter"] == "kalman"
    assert _site(entry)["path_loss"] == {"exponent": 2.5, "ref_rssi_1m": -61.0, "wall_loss_db": 6.5}
    assert entry.runtime_data.coordinator.engine.site.path_loss.wall_loss_db == 6.5
    assert _site(entry)["geo_anchor"] == {"latitude": 52.37, "longitude": 4.89, "bearing": 90.0}
    assert entry.runtime_data.coordinator.engine.config.rssi_filter == "kalman"
    assert entry.runtime_data.coordinator.engine.config.emit_interval == 2.0

    result = await _options(hass, entry, "settings")
    data.pop("latitude"), data.pop("longitude")
    result = await _configure(hass, result, data)
    await hass.async_block_till_done()
    assert "geo_anchor" not in _site(entry)


async def test_import_and_export_round_trip(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    result = await _options(hass, entry, "export_site")
    exported = json.loads(result["description_placeholders"]["site_json"])
    assert exported == _site(entry)
    result = await _configure(hass, result, {})
    assert result["type"] is FlowResultType.ABORT

    result = await _options(hass, entry, "import_site")
    broken = dict(exported, receivers=[{"id": "r", "x": "near the door", "y": 0}])
    result = await _configure(hass, result, {"site_json": json.dumps(broken)})
    assert result["errors"] == {"site_json": "invalid_site"}
    assert "receivers[0] (r): x: must be a number" in result["description_placeholders"]["error"]
    # A receiver 1e57 m away was taken, and the reload that followed failed building the
    # engine's grid: now it is refused like any other slip, and the site stays as it was.
    far = json.loads(json.dumps(exported))
    far["receivers"][1]["y"] = -1.9e57
    result = await _configure(hass, result, {"site_json": json.dumps(far)})
    assert result["errors"] == {"site_json": "invalid_site"}
    assert "y: must be between -1e+07 and 1e+07" in result["description_placeholders"]["error"]
    assert _site(entry) == exported and entry.state is config_entries.ConfigEntryState.LOADED
    smaller = dict(exported, zones=exported["zones"][:1])
    result = await _configure(hass, result, {"site_json": json.dumps(smaller)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert _site(entry) == smaller


async def test_a_second_tag_with_the_same_name_gets_its_own_id(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _options(hass, entry, "tags")
    result = await _configure(hass, result, {"item": "__new__"})
    result = await _configure(hass, result, {"candidate": "__manual__"})
    data = {"name": "Forklift", "identity_kind": "address", "identity": "C0:FF:EE:00:00:02"}
    result = await _configure(hass, result, data | {"motion": "vehicle"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [t["id"] for t in _site(entry)["tags"]] == ["forklift", "phone", "watch", "forklift_2"]


async def test_phone_paired_with_a_working_code_then_rekeyed_and_removed(
    hass: HomeAssistant, phone_entry: MockConfigEntry, server: str
) -> None:
    await hass.config.async_update(internal_url=server)  # Settings > System > Network
    result = await _options(hass, phone_entry, "phones")
    result = await _configure(hass, result, {"item": "__new__"})
    assert result["step_id"] == "phone"
    result = await _configure(hass, result, {"name": "Bob's phone", "tag": "watch"})
    assert result["step_id"] == "pair"
    placeholders = result["description_placeholders"]
    # HA's frontend draws the QR code of the same text.
    qr_code = result["data_schema"].schema["qr_code"]
    assert qr_code.config["data"] == placeholders["payload"]
    pairing = parse_pairing(placeholders["payload"])
    assert pairing.url == server and pairing.name == "Bob's phone"
    result = await _configure(hass, result, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    bob = phone_entry.options["phones"][-1]
    assert bob["tag"] == "watch" and bob["secret"] == pairing.secret
    # The code HA showed is one the app can pair with, right now.
    assert await hass.async_add_executor_job(check_connection, pairing) == "Bob's phone"

    result = await _options(hass, phone_entry, "phones")
    result = await _configure(hass, result, {"item": "bob_s_phone"})
    result = await _configure(hass, result, {"name": "Bob", "show_pairing": True})
    assert parse_pairing(result["description_placeholders"]["payload"]).secret == pairing.secret
    await _configure(hass, result, {})
    await hass.async_block_till_done()

    result = await _options(hass, phone_entry, "phones")
    result = await _configure(hass, result, {"item": "bob_s_phone"})
    result = await _configure(hass, result, {"name": "Bob", "new_secret": True})
    rekeyed = parse_pairing(result["description_placeholders"]["payload"])
    assert rekeyed.secret != pairing.secret and rekeyed.webhook_id != pairing.webhook_id
    await _configure(hass, result, {})
    await hass.async_block_till_done()
    with pytest.raises(ConnectionCheckError, match="does not know this phone"):
        await hass.async_add_executor_job(check_connection, pairing)
    assert await hass.async_add_executor_job(check_connection, rekeyed) == "Bob"

    result = await _options(hass, phone_entry, "phones")
    result = await _configure(hass, result, {"item": "bob_s_phone"})
    result = await _configure(hass, result, {"name": "Bob", "remove": True})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert [p["id"] for p in phone_entry.options["phones"]] == ["alice"]
    assert (
        device_by_identifier(
            dr.async_get(hass),
            device_identifier(phone_entry.entry_id, "phone", "bob_s_phone"),
            phone_entry.entry_id,
        )
        is None
    )


async def test_renaming_a_phone_keeps_its_keys(
    hass: HomeAssistant, phone_entry: MockConfigEntry
) -> None:
    result = await _options(hass, phone_entry, "phones")
    result = await _configure(hass, result, {"item": "alice"})
    result = await _configure(hass, result, {"name": "Alice"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    alice = phone_entry.options["phones"][0]
    assert alice["name"] == "Alice" and alice["secret"] == ALICE["secret"]
    assert "tag" not in alice


async def test_pairing_without_a_known_url_aborts(
    hass: HomeAssistant, phone_entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hass.config, "api", None)
    result = await _options(hass, phone_entry, "phones")
    result = await _configure(hass, result, {"item": "__new__"})
    result = await _configure(hass, result, {"name": "Carol's phone"})
    assert result["type"] is FlowResultType.ABORT and result["reason"] == "no_url"
    assert [p["id"] for p in phone_entry.options["phones"]] == ["alice"]


async def test_battery_reading_switched_off_for_a_tag(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    result = await _options(hass, entry, "tags")
    result = await _configure(hass, result, {"item": "forklift"})
    schema_keys = [str(key) for key in result["data_schema"].schema]
    assert "battery" in schema_keys
    result = await _configure(
        hass,
        result,
        {
            "name": "Forklift",
            "identity_kind": "address",
            "identity": "C0:FF:EE:00:00:01",
            "motion": "vehicle",
            "battery": False,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert _site(entry)["tags"][0]["battery"] is False
    assert "forklift" not in entry.runtime_data.battery.views
    bad = json.loads(json.dumps(_site(entry)))
    bad["tags"][0]["battery"] = "yes"
    result = await _options(hass, entry, "import_site")
    result = await _configure(hass, result, {"site_json": json.dumps(bad)})
    assert "battery: not true or false" in _placeholder(result)

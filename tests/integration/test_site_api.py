"""The site's websocket commands through HA's real websocket API: read, change, refuse, undo."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MockHAClientWebSocket

from ble_rtls_lab.hass.proxies import SimulatedProxy, register_proxies
from custom_components.ble_rtls.const import CONF_SITE, DOMAIN
from custom_components.ble_rtls.engine import Receiver
from custom_components.ble_rtls.identity import ibeacon_payload
from custom_components.ble_rtls.ids import unique_id
from custom_components.ble_rtls.site_api import HIDDEN

from .conftest import IRK, TAG_MAC, Walker

type Client = Callable[..., Awaitable[MockHAClientWebSocket]]
HALL = {"id": "hall", "name": "Hall", "floor": 0, "polygon": [[1, 1], [4, 1], [4, 4], [1, 4]]}


async def _ask(ws: MockHAClientWebSocket, **message: Any) -> dict[str, Any]:
    await ws.send_json_auto_id(message)
    answer: dict[str, Any] = await ws.receive_json()
    return answer


def _occupancy(hass: HomeAssistant, entry: MockConfigEntry, zone: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, unique_id(entry.entry_id, "zone", zone, "occupancy")
    )


async def test_a_user_reads_the_site_but_never_a_tags_key(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_ws_client: Client,
    hass_read_only_access_token: str,
) -> None:
    ws = await hass_ws_client(hass, hass_read_only_access_token)
    answer = await _ask(ws, type="ble_rtls/site/get", entry_id=entry.entry_id)
    assert answer["success"], answer
    site = answer["result"]["site"]
    assert IRK not in json.dumps(answer)
    watch = next(tag for tag in site["tags"] if tag["id"] == "watch")
    assert watch["irk"] == HIDDEN
    assert [zone["id"] for zone in site["zones"]] == ["left", "right"]
    assert answer["result"]["can_undo"] is False
    missing = await _ask(ws, type="ble_rtls/site/get", entry_id="no-such-site")
    assert missing["error"]["code"] == "not_found"


async def test_an_administrator_changes_the_site_and_undoes_it(
    hass: HomeAssistant, entry: MockConfigEntry, hass_ws_client: Client
) -> None:
    ws = await hass_ws_client(hass)
    site = (await _ask(ws, type="ble_rtls/site/get", entry_id=entry.entry_id))["result"]["site"]
    site["zones"].append(HALL)
    answer = await _ask(ws, type="ble_rtls/site/update", entry_id=entry.entry_id, site=site)
    assert answer["success"], answer
    assert answer["result"]["can_undo"] is True
    await hass.async_block_till_done()
    stored = entry.options[CONF_SITE]
    assert [zone["id"] for zone in stored["zones"]] == ["left", "right", "hall"]
    # The hidden key came back as HIDDEN and kept the stored one.
    assert next(tag for tag in stored["tags"] if tag["id"] == "watch")["irk"] == IRK
    assert entry.state is ConfigEntryState.LOADED  # reloaded with the new zone
    hall = _occupancy(hass, entry, "hall")
    assert hall is not None and hass.states.get(hall) is not None

    undone = await _ask(ws, type="ble_rtls/site/undo", entry_id=entry.entry_id)
    assert undone["success"], undone
    assert undone["result"]["can_undo"] is False
    await hass.async_block_till_done()
    assert [zone["id"] for zone in entry.options[CONF_SITE]["zones"]] == ["left", "right"]
    assert _occupancy(hass, entry, "hall") is None  # its device and entities went with it
    again = await _ask(ws, type="ble_rtls/site/undo", entry_id=entry.entry_id)
    assert again["error"]["code"] == "nothing_to_undo"


async def test_a_refused_change_says_where_and_changes_nothing(
    hass: HomeAssistant, entry: MockConfigEntry, hass_ws_client: Client
) -> None:
    ws = await hass_ws_client(hass)
    before = copy.deepcopy(dict(entry.options))
    site = (await _ask(ws, type="ble_rtls/site/get", entry_id=entry.entry_id))["result"]["site"]
    flat = copy.deepcopy(site)
    flat["zones"].append(HALL | {"polygon": [[0, 0], [4, 0], [8, 0]]})
    stranger = copy.deepcopy(site)
    stranger["tags"].append({"id": "stranger", "name": "Stranger", "irk": HIDDEN})
    for refused, where in ((flat, "zones[2] (hall)"), (stranger, "tags[3] (stranger)")):
        answer = await _ask(ws, type="ble_rtls/site/update", entry_id=entry.entry_id, site=refused)
        assert answer["error"]["code"] == "invalid_site", answer
        assert where in answer["error"]["message"], answer
    malformed: object
    for malformed in ("a site", [], None):
        answer = await _ask(
            ws, type="ble_rtls/site/update", entry_id=entry.entry_id, site=malformed
        )
        assert answer["error"]["code"] == "invalid_format", answer
    await hass.async_block_till_done()
    assert dict(entry.options) == before
    assert entry.state is ConfigEntryState.LOADED
    undo = await _ask(ws, type="ble_rtls/site/undo", entry_id=entry.entry_id)
    assert undo["error"]["code"] == "nothing_to_undo"


async def test_a_user_who_is_not_an_administrator_cannot_change_the_site(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_ws_client: Client,
    hass_read_only_access_token: str,
) -> None:
    ws = await hass_ws_client(hass, hass_read_only_access_token)
    before = copy.deepcopy(dict(entry.options))
    site = (await _ask(ws, type="ble_rtls/site/get", entry_id=entry.entry_id))["result"]["site"]
    site["zones"].append(HALL)
    for message in (
        {"type": "ble_rtls/site/update", "entry_id": entry.entry_id, "site": site},
        {"type": "ble_rtls/site/undo", "entry_id": entry.entry_id},
    ):
        answer = await _ask(ws, **message)
        assert answer["error"]["code"] == "unauthorized", answer
    await hass.async_block_till_done()
    assert dict(entry.options) == before


async def test_a_site_that_failed_to_load_is_mended_and_loads(
    hass: HomeAssistant,
    proxies: dict[str, Any],
    site_document: dict[str, Any],
    hass_ws_client: Client,
) -> None:
    broken = copy.deepcopy(site_document)
    broken["zones"].append(HALL | {"polygon": [[0, 0], [4, 0], [8, 0]]})  # stored before a check
    entry = MockConfigEntry(domain=DOMAIN, title="Broken", options={CONF_SITE: broken})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    ws = await hass_ws_client(hass)
    site = (await _ask(ws, type="ble_rtls/site/get", entry_id=entry.entry_id))["result"]["site"]
    site["zones"][-1] = HALL
    answer = await _ask(ws, type="ble_rtls/site/update", entry_id=entry.entry_id, site=site)
    assert answer["success"], answer
    await hass.async_block_till_done()
    mended = hass.config_entries.async_get_entry(entry.entry_id)  # (its state moved on)
    assert mended is not None and mended.state is ConfigEntryState.LOADED


async def test_scanners_are_listed_placed_or_to_place(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    proxies: dict[str, SimulatedProxy],
    hass_ws_client: Client,
    hass_read_only_access_token: str,
) -> None:
    """The site's four proxies, placed; a fifth that HA has, to place."""
    _, unregister = register_proxies(hass, [Receiver("AA:00:00:00:00:09", 0.0, 0.0, 2.0)])
    try:
        ws = await hass_ws_client(hass, hass_read_only_access_token)
        answer = await _ask(ws, type="ble_rtls/site/scanners", entry_id=entry.entry_id)
        assert answer["success"], answer
        scanners = {s["source"]: s for s in answer["result"]["scanners"]}
        assert {source for source, s in scanners.items() if s["placed"]} == set(proxies)
        assert all(s["in_ha"] for s in scanners.values())
        extra = scanners["AA:00:00:00:00:09"]
        assert extra["placed"] is False and extra["name"].startswith("proxy-00:09")
        assert scanners["AA:00:00:00:00:01"]["name"] == "Proxy 1"
    finally:
        unregister()


async def test_the_live_map_follows_each_tag_until_unsubscribed(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    walker: Walker,
    hass_ws_client: Client,
    hass_read_only_access_token: str,
) -> None:
    ws = await hass_ws_client(hass, hass_read_only_access_token)
    await ws.send_json_auto_id({"type": "ble_rtls/site/subscribe_tags", "entry_id": entry.entry_id})
    subscribed = await ws.receive_json()
    assert subscribed["success"], subscribed
    first = await ws.receive_json()  # every tag, none located yet
    assert {tag["id"] for tag in first["event"]["tags"]} == {"forklift", "phone", "watch"}
    assert all(tag["position"] is None for tag in first["event"]["tags"])
    for x in (4.0, 6.0, 8.0, 15.0, 16.0, 16.0, 16.0):
        await walker.step({TAG_MAC: (x, 5.0)})
    await hass.async_block_till_done()
    seen: list[dict[str, Any]] = []
    while (update := await _next_event(ws)) is not None:
        seen += update["event"]["tags"]
    assert seen and all(tag["id"] == "forklift" for tag in seen)
    assert seen[0]["position"]["x"] < 10.0 < seen[-1]["position"]["x"]
    assert seen[-1]["zone"] == "right" and seen[-1]["trail"]
    assert IRK not in json.dumps(seen)

    await ws.send_json_auto_id({"type": "unsubscribe_events", "subscription": subscribed["id"]})
    assert (await ws.receive_json())["success"]
    for x in (4.0, 4.0, 4.0):
        await walker.step({TAG_MAC: (x, 5.0)})
    await hass.async_block_till_done()
    assert await _next_event(ws) is None


async def test_the_live_map_follows_the_site_through_a_reload(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    walker: Walker,
    hass_ws_client: Client,
    hass_read_only_access_token: str,
) -> None:
    """A change from anywhere (here the stored options) reloads the site; the feed says so and
    follows the tags the site has then: the forklift's tag, renamed, is followed anew."""
    ws = await hass_ws_client(hass, hass_read_only_access_token)
    await ws.send_json_auto_id({"type": "ble_rtls/site/subscribe_tags", "entry_id": entry.entry_id})
    assert (await ws.receive_json())["success"]
    await ws.receive_json()  # every tag now
    site = copy.deepcopy(entry.options[CONF_SITE])
    for tag in site["tags"]:
        if tag["id"] == "forklift":
            tag["id"], tag["name"] = "trolley", "Trolley"
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: site})
    await hass.async_block_till_done()
    changed = await ws.receive_json()
    assert changed["event"] == {"site_changed": True, "tags": []}
    walker = Walker(hass, entry, walker.proxies)  # the reloaded site's coordinator
    for x in (4.0, 6.0, 8.0):
        await walker.step({TAG_MAC: (x, 5.0)})
    await hass.async_block_till_done()
    seen: list[dict[str, Any]] = []
    while (update := await _next_event(ws)) is not None:
        seen += update["event"]["tags"]
    assert seen and {tag["id"] for tag in seen} == {"trolley"}


async def _next_event(ws: MockHAClientWebSocket) -> dict[str, Any] | None:
    """The next message if one is waiting, else None."""
    try:
        message: dict[str, Any] = await ws.receive_json(timeout=0.2)
    except TimeoutError:
        return None
    return message


async def test_nearby_devices_are_offered_strongest_first_without_the_sites_tags(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    proxies: dict[str, SimulatedProxy],
    hass_ws_client: Client,
) -> None:
    beacon = "e2c56db5-dffb-48d2-b060-d0f5a71096e0:2:9"
    proxy = proxies["AA:00:00:00:00:01"]
    proxy.hear("6B:00:00:00:00:01", -50, {0x004C: ibeacon_payload(beacon)}, name="Keys")
    proxy.hear("DE:AD:BE:EF:00:01", -70, name="Toolbox")
    proxy.hear(TAG_MAC, -40, name="Forklift")  # already a tag: not offered
    ws = await hass_ws_client(hass)
    answer = await _ask(ws, type="ble_rtls/site/nearby", entry_id=entry.entry_id)
    assert answer["success"], answer
    assert answer["result"]["devices"] == [
        {
            "kind": "ibeacon",
            "identity": beacon,
            "name": "Keys",
            "address": "6B:00:00:00:00:01",
            "rssi": -50,
        },
        {
            "kind": "address",
            "identity": "DE:AD:BE:EF:00:01",
            "name": "Toolbox",
            "address": "DE:AD:BE:EF:00:01",
            "rssi": -70,
        },
    ]

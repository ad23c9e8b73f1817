"""Websocket commands to read and change a site: the API of the floor-plan panel and scripts.

Reading needs a logged-in user, changing an administrator. A change passes the same checks as
the options flow, and a refused one leaves the stored site as it was. No tag's IRK leaves Home
Assistant: it is sent as HIDDEN, and HIDDEN sent back keeps the stored key.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from typing import Any

import voluptuous as vol
from habluetooth import get_manager
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import require_admin, websocket_command
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util.hass_dict import HassKey

from .const import CONF_SITE, DOMAIN
from .engine import SiteError
from .ids import signal, site_loaded_signal
from .nearby import nearby_devices
from .runtime import BleRtlsConfigEntry
from .site_config import SiteDocument, empty_document, names, validate_document

HIDDEN = "hidden"
# Changes that can be undone, per site, while Home Assistant runs.
UNDO_DEPTH = 20
HISTORIES: HassKey[dict[str, deque[SiteDocument]]] = HassKey(f"{DOMAIN}_site_history")
ENTRY_ID = vol.All(str, vol.Length(min=1, max=64))


@callback
def async_setup_site_api(hass: HomeAssistant) -> None:
    """Register the commands (once, at integration set-up)."""
    async_register_command(hass, ws_site_get)
    async_register_command(hass, ws_site_update)
    async_register_command(hass, ws_site_undo)
    async_register_command(hass, ws_site_scanners)
    async_register_command(hass, ws_subscribe_tags)
    async_register_command(hass, ws_site_nearby)


def _history(hass: HomeAssistant, entry_id: str) -> deque[SiteDocument]:
    """The site's earlier versions, newest last."""
    return hass.data.setdefault(HISTORIES, {}).setdefault(entry_id, deque(maxlen=UNDO_DEPTH))


def _entry(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> BleRtlsConfigEntry | None:
    """The site the message names, or None after answering that there is none."""
    entry = hass.config_entries.async_get_entry(msg["entry_id"])
    if entry is None or entry.domain != DOMAIN:
        connection.send_error(msg["id"], "not_found", f"No BLE RTLS site {msg['entry_id']}")
        return None
    return entry


def _stored(entry: BleRtlsConfigEntry) -> SiteDocument:
    document: SiteDocument | None = entry.options.get(CONF_SITE)
    return document or empty_document()


def _shown(document: SiteDocument) -> SiteDocument:
    """The site as a browser may see it: every IRK hidden."""
    shown = copy.deepcopy(document)
    for tag in shown["tags"]:
        if "irk" in tag:
            tag["irk"] = HIDDEN
    return shown


def _with_keys(sent: dict[str, Any], stored: SiteDocument) -> Any:
    """The sent site with each HIDDEN IRK back as stored for that tag id.

    A tag that had none keeps HIDDEN, which the checks refuse.
    """
    document = copy.deepcopy(sent)
    keys = {tag["id"]: tag["irk"] for tag in stored["tags"] if "irk" in tag}
    tags = document.get("tags")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("irk") == HIDDEN and tag.get("id") in keys:
            tag["irk"] = keys[tag["id"]]
    return document


def _store(hass: HomeAssistant, entry: BleRtlsConfigEntry, document: SiteDocument) -> None:
    """Store the site, which reloads it.

    A loaded site reloads through its update listener; one whose set-up failed has none and
    is loaded again here, as the options flow does.
    """
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: document})
    if entry.state is ConfigEntryState.SETUP_ERROR:
        hass.config_entries.async_schedule_reload(entry.entry_id)


@websocket_command({vol.Required("type"): "ble_rtls/site/get", vol.Required("entry_id"): ENTRY_ID})
@callback
def ws_site_get(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """The stored site (IRKs hidden) and whether a change can be undone."""
    if (entry := _entry(hass, connection, msg)) is None:
        return
    connection.send_result(
        msg["id"],
        {"site": _shown(_stored(entry)), "can_undo": bool(_history(hass, entry.entry_id))},
    )


@require_admin
@websocket_command(
    {
        vol.Required("type"): "ble_rtls/site/update",
        vol.Required("entry_id"): ENTRY_ID,
        vol.Required("site"): dict,
    }
)
@callback
def ws_site_update(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Replace the site with a checked one; a refused site changes nothing and says where."""
    if (entry := _entry(hass, connection, msg)) is None:
        return
    stored = _stored(entry)
    try:
        document = validate_document(_with_keys(msg["site"], stored), "site")
    except SiteError as err:
        connection.send_error(msg["id"], "invalid_site", str(err))
        return
    if document != stored:
        _history(hass, entry.entry_id).append(stored)
        _store(hass, entry, document)
    connection.send_result(msg["id"], {"site": _shown(document), "can_undo": True})


@require_admin
@websocket_command({vol.Required("type"): "ble_rtls/site/undo", vol.Required("entry_id"): ENTRY_ID})
@callback
def ws_site_undo(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Put back the site as it was before the last change made here."""
    if (entry := _entry(hass, connection, msg)) is None:
        return
    history = _history(hass, entry.entry_id)
    if not history:
        connection.send_error(msg["id"], "nothing_to_undo", "No change to undo")
        return
    document = history.pop()
    _store(hass, entry, document)
    connection.send_result(msg["id"], {"site": _shown(document), "can_undo": bool(history)})


@websocket_command(
    {vol.Required("type"): "ble_rtls/site/scanners", vol.Required("entry_id"): ENTRY_ID}
)
@callback
def ws_site_scanners(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """The site's receivers and HA's Bluetooth scanners not placed yet, to place on the plan.

    `online` is a placed receiver's health on a loaded site (None when not known).
    """
    if (entry := _entry(hass, connection, msg)) is None:
        return
    in_ha = {scanner.source: scanner.name for scanner in get_manager().async_current_scanners()}
    views = (
        entry.runtime_data.coordinator.receivers if entry.state is ConfigEntryState.LOADED else {}
    )
    placed = names(_stored(entry), "receivers")
    scanners = [
        {
            "source": source,
            "name": name,
            "placed": True,
            "in_ha": source in in_ha,
            "online": views[source].online if source in views else None,
        }
        for source, name in placed.items()
    ]
    scanners += [
        {"source": source, "name": name, "placed": False, "in_ha": True, "online": None}
        for source, name in sorted(in_ha.items())
        if source not in placed
    ]
    connection.send_result(msg["id"], {"scanners": scanners})


def _tag_state(entry: BleRtlsConfigEntry, tag_id: str) -> dict[str, Any] | None:
    """A tag as its entities show it now (the published position), or None if gone."""
    if entry.state is not ConfigEntryState.LOADED:
        return None
    view = entry.runtime_data.coordinator.tags.get(tag_id)
    if view is None:
        return None
    estimate = view.estimate
    return {
        "id": view.id,
        "name": view.name,
        "device_id": entry.runtime_data.coordinator.device_id(view.id),
        "missing": view.missing,
        "zone": view.zone,
        "position": None
        if estimate is None
        else {
            "x": round(estimate.x, 2),
            "y": round(estimate.y, 2),
            "floor": estimate.floor,
            "accuracy": round(estimate.accuracy, 2),
        },
        "trail": [[round(x, 2), round(y, 2)] for x, y in view.trail],
    }


@websocket_command(
    {vol.Required("type"): "ble_rtls/site/subscribe_tags", vol.Required("entry_id"): ENTRY_ID}
)
@callback
def ws_subscribe_tags(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Every tag now, then each tag whenever its entities change, for the live map.

    When the site reloads (a change from anywhere) the feed says `site_changed` and follows
    the site's tags as they are then.
    """
    if (entry := _entry(hass, connection, msg)) is None:
        return
    if entry.state is not ConfigEntryState.LOADED:
        connection.send_error(msg["id"], "not_loaded", f"The site {entry.title} is not loaded")
        return
    following: dict[str, Callable[[], None]] = {}

    def follow(tag_id: str) -> Callable[[], None]:
        @callback
        def changed() -> None:
            # The tag's signal keeps its name across reloads: read the site as it is now.
            if (state := _tag_state(entry, tag_id)) is not None:
                connection.send_event(msg["id"], {"tags": [state]})

        return async_dispatcher_connect(hass, signal(entry.entry_id, "tag", tag_id), changed)

    def follow_all() -> None:
        for stop in following.values():
            stop()
        following.clear()
        following.update((t, follow(t)) for t in entry.runtime_data.coordinator.tags)

    @callback
    def site_loaded() -> None:
        follow_all()
        connection.send_event(msg["id"], {"site_changed": True, "tags": []})

    stop_site = async_dispatcher_connect(hass, site_loaded_signal(entry.entry_id), site_loaded)
    follow_all()

    @callback
    def unsubscribe() -> None:
        stop_site()
        for stop in following.values():
            stop()

    connection.subscriptions[msg["id"]] = unsubscribe
    connection.send_result(msg["id"])
    connection.send_event(
        msg["id"], {"tags": [state for t in following if (state := _tag_state(entry, t))]}
    )


@websocket_command(
    {vol.Required("type"): "ble_rtls/site/nearby", vol.Required("entry_id"): ENTRY_ID}
)
@callback
def ws_site_nearby(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """The strongest devices heard now that are not yet the site's tags, to add one."""
    if (entry := _entry(hass, connection, msg)) is None:
        return
    devices = [
        {
            "kind": device.identity.kind,
            "identity": device.identity.value,
            "name": device.name,
            "address": device.address,
            "rssi": device.rssi,
        }
        for device in nearby_devices(hass, _stored(entry))
    ]
    connection.send_result(msg["id"], {"devices": devices})

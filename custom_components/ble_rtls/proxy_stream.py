"""Raspberry Pi proxies: adverts streamed over HA's websocket API into its bluetooth manager.

A proxy (`ble-rtls-proxy`, pi_proxy/) authenticates as an HA admin user, sends
`ble_rtls/proxy/connect` once per websocket connection, then batches with
`ble_rtls/proxy/adverts`. Each proxy is a `BaseHaRemoteScanner` registered for as long as
its connection lives, so its adverts reach every HA integration (ours included) exactly as
an ESPHome proxy's do. A malformed batch is refused whole, with a reason, and touches
nothing else; another proxy's stream is never affected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import voluptuous as vol
from bluetooth_data_tools import monotonic_time_coarse
from habluetooth import BaseHaRemoteScanner
from homeassistant.components import bluetooth
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import require_admin, websocket_command
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ISSUE_PROXY_UNPLACED

MAX_BATCH: Final = 2000
MAX_BYTES: Final = 255  # an advertisement's data field cannot be longer
MAX_NAME: Final = 248
# Adverts older than this (s) when they arrive are stale news for a location system.
MAX_AGE: Final = 60.0
MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class StreamError(ValueError):
    """A batch that is refused whole; the message names the advert and the field."""


class StreamedScanner(BaseHaRemoteScanner):
    """A passive remote scanner whose adverts arrive over a websocket connection."""

    def __init__(self, source: str, name: str) -> None:
        super().__init__(source, name, None, False)


@dataclass(slots=True)
class ProxyState:
    """One Pi proxy as HA sees it: its scanner, link and counters."""

    source: str
    name: str
    adapter: str
    version: str
    scanner: StreamedScanner
    connection: ActiveConnection | None = None
    undo: CALLBACK_TYPE | None = None
    adverts: int = 0
    dropped: int = 0
    buffered: int = 0

    @property
    def online(self) -> bool:
        """A live websocket connection holds the scanner registered."""
        return self.connection is not None


def proxies(hass: HomeAssistant) -> dict[str, ProxyState]:
    """Every Pi proxy seen since HA started, by source (its adapter's address)."""
    known: dict[str, ProxyState] = hass.data.setdefault(f"{DOMAIN}_proxies", {})
    return known


@callback
def async_setup_proxy_stream(hass: HomeAssistant) -> None:
    """Register the websocket commands (once, at integration set-up)."""
    async_register_command(hass, ws_proxy_connect)
    async_register_command(hass, ws_proxy_adverts)


@require_admin
@websocket_command(
    {
        vol.Required("type"): "ble_rtls/proxy/connect",
        vol.Required("source"): vol.All(str, vol.Upper, vol.Match(MAC)),
        vol.Required("name"): vol.All(str, vol.Length(min=1, max=64)),
        vol.Optional("adapter", default=""): vol.All(str, vol.Length(max=32)),
        vol.Optional("version", default=""): vol.All(str, vol.Length(max=32)),
    }
)
@callback
def ws_proxy_connect(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Register the proxy's scanner until this connection closes (a newer one replaces it)."""
    source = msg["source"]
    known = proxies(hass)
    state = known.get(source)
    if state is None:
        other = bluetooth.async_scanner_by_source(hass, source)
        if other is not None:
            connection.send_error(
                msg["id"], "source_in_use", f"{source} is already another scanner in HA"
            )
            return
        state = known[source] = ProxyState(
            source,
            msg["name"],
            msg["adapter"],
            msg["version"],
            StreamedScanner(source, msg["name"]),
        )
    if state.undo is not None:  # it reconnects before HA noticed the old link dropped
        state.undo()
    state.name, state.adapter, state.version = msg["name"], msg["adapter"], msg["version"]
    undo_setup = state.scanner.async_setup()
    undo_register = bluetooth.async_register_scanner(hass, state.scanner)
    state.connection = connection

    @callback
    def disconnected() -> None:
        if state.connection is connection:
            undo_register()
            undo_setup()
            state.connection, state.undo = None, None

    state.undo = disconnected
    connection.subscriptions[msg["id"]] = disconnected
    connection.send_result(msg["id"], {"source": source, "max_batch": MAX_BATCH})
    _ask_to_place(hass, state)


def _ask_to_place(hass: HomeAssistant, state: ProxyState) -> None:
    """A repair issue until a site places the new proxy (its set-up deletes the issue)."""
    placed = any(
        state.source in entry.runtime_data.coordinator.receivers
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
    )
    if not placed:
        ir.async_create_issue(
            hass,
            DOMAIN,
            unplaced_issue_id(state.source),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_PROXY_UNPLACED,
            translation_placeholders={"proxy": state.name, "source": state.source},
        )


def unplaced_issue_id(source: str) -> str:
    """The repair issue of a connected proxy that no site has placed."""
    return f"{ISSUE_PROXY_UNPLACED}_{source}"


@require_admin
@websocket_command(
    {
        vol.Required("type"): "ble_rtls/proxy/adverts",
        vol.Required("source"): vol.All(str, vol.Upper),
        vol.Required("now"): vol.Coerce(float),
        vol.Required("adverts"): list,
        vol.Optional("dropped", default=0): vol.All(int, vol.Range(min=0)),
        vol.Optional("buffered", default=0): vol.All(int, vol.Range(min=0)),
    }
)
@callback
def ws_proxy_adverts(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Check a whole batch, then feed it to the proxy's scanner."""
    state = proxies(hass).get(msg["source"])
    if state is None or state.connection is not connection:
        connection.send_error(
            msg["id"], "not_connected", "send ble_rtls/proxy/connect on this connection first"
        )
        return
    try:
        adverts = parse_batch(msg["adverts"], msg["now"], monotonic_time_coarse())
    except StreamError as err:
        connection.send_error(msg["id"], "invalid_batch", str(err))
        return
    on_advertisement = state.scanner._async_on_advertisement  # the remote-scanner API
    for advert in adverts:
        on_advertisement(*advert)
    state.adverts += len(adverts)
    state.dropped, state.buffered = msg["dropped"], msg["buffered"]
    connection.send_result(msg["id"], {"accepted": len(adverts)})


type ScannerAdvert = tuple[
    str,
    int,
    str | None,
    list[str],
    dict[str, bytes],
    dict[int, bytes],
    int | None,
    dict[Any, Any],
    float,
]


def parse_batch(raw: list[Any], proxy_now: float, ha_now: float) -> list[ScannerAdvert]:
    """The batch as `_async_on_advertisement` arguments; StreamError on the first bad advert.

    Times travel as ages: the proxy's monotonic clock is not HA's, so an advert taken
    `proxy_now - time` seconds before sending is dated that long before `ha_now`.
    """
    if len(raw) > MAX_BATCH:
        raise StreamError(f"{len(raw)} adverts in one batch; at most {MAX_BATCH}")
    return [_parse_advert(index, item, proxy_now, ha_now) for index, item in enumerate(raw)]


def _bad(index: int, field: str, why: str) -> StreamError:
    return StreamError(f"advert {index}: {field} {why}")


def _parse_advert(index: int, item: Any, proxy_now: float, ha_now: float) -> ScannerAdvert:
    """One advert, checked field by field (the hot path: about 2000 a second per proxy)."""
    if type(item) is not dict:
        raise _bad(index, "", "is not an object")
    address = item.get("address")
    if type(address) is not str or not MAC.match(address):
        raise _bad(index, "address", "is not an upper-case MAC address")
    rssi = item.get("rssi")
    if type(rssi) is not int or not -127 <= rssi <= 20:
        raise _bad(index, "rssi", "is not an integer from -127 to 20")
    taken = item.get("time")
    if not isinstance(taken, int | float) or not 0 <= proxy_now - taken <= MAX_AGE:
        raise _bad(index, "time", f"is not within {MAX_AGE:.0f} s before the batch's now")
    name = item.get("name")
    if name is not None and (type(name) is not str or len(name) > MAX_NAME):
        raise _bad(index, "name", "is not a short string")
    tx_power = item.get("tx_power")
    if tx_power is not None and (type(tx_power) is not int or not -127 <= tx_power <= 20):
        raise _bad(index, "tx_power", "is not an integer from -127 to 20")
    uuids, service_data, manufacturer_data = _payload(item, index)
    return (
        address,
        rssi,
        name,
        uuids,
        service_data,
        manufacturer_data,
        tx_power,
        {},
        ha_now - (proxy_now - taken),
    )


def _payload(
    item: dict[str, Any], index: int
) -> tuple[list[str], dict[str, bytes], dict[int, bytes]]:
    """Service UUIDs, service data and manufacturer data of an advert, checked."""
    manufacturer_data: dict[int, bytes] = {}
    if raw := item.get("manufacturer_data"):
        for key, data in _hex_items(raw, index, "manufacturer_data"):
            # ASCII digits only: "²" is a digit to isdigit() but not to int().
            company = int(key) if type(key) is str and key.isascii() and key.isdigit() else -1
            if not 0 <= company <= 0xFFFF:
                raise _bad(index, "manufacturer_data", "keys are not company ids")
            manufacturer_data[company] = data
    service_data: dict[str, bytes] = {}
    if raw := item.get("service_data"):
        service_data = dict(_hex_items(raw, index, "service_data"))
    uuids = item.get("service_uuids") or []
    if uuids or service_data:
        if type(uuids) is not list or len(uuids) > 64:
            raise _bad(index, "service_uuids", "is not a list of UUIDs")
        if not all(type(u) is str and UUID.match(u) for u in [*uuids, *service_data]):
            raise _bad(index, "service_uuids", "holds something that is not a lower-case UUID")
    return uuids, service_data, manufacturer_data


def _hex_items(value: Any, index: int, field: str) -> list[tuple[Any, bytes]]:
    """An object of hex strings, decoded; StreamError when it is not one or too long."""
    if type(value) is not dict or len(value) > 32:
        raise _bad(index, field, "is not an object of hex strings")
    items = []
    for key, data in value.items():
        if type(data) is not str or len(data) > 2 * MAX_BYTES:
            raise _bad(index, field, f"is not hex strings of at most {MAX_BYTES} bytes")
        try:
            items.append((key, bytes.fromhex(data)))
        except ValueError:
            raise _bad(index, field, "is not an object of hex strings") from None
    return items

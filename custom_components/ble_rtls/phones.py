"""Companion phones: a signed webhook in; a GPS tracker, a panic alarm and check-ins out.

A panic is fired once per panic id however often the phone retries, across reloads,
restarts and crashes: its id is written to HA's storage before its event fires, and the
phone keeps every message until it is told it arrived. A request that fails any check
changes nothing, and one signed before this hub started is refused, so a captured request
cannot be played again once the nonces in memory are gone.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Final, Literal

from aiohttp import web
from homeassistant.components import persistent_notification, webhook
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    DOMAIN,
    EVENT_PANIC,
    EVENT_PANIC_ACKNOWLEDGED,
    EVENT_PANIC_CANCELLED,
)
from .coordinator import SiteCoordinator
from .ids import signal, unique_id
from .phone_protocol import MAX_BODY, MAX_SKEW, Message, ProtocolError, check_request

type Effect = Callable[[], None]

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION: Final = 1
PAIRING_VERSION: Final = 1
# Panic ids are remembered this long (s), so a phone retrying for days never fires twice.
PANIC_MEMORY: Final = 90 * 86400.0
# A fix this much older (s) than the newest one is not used, however accurate.
FRESH_FOR: Final = 60.0
# Where the state is saved when only locations changed (s): SD cards wear.
LOCATION_SAVE_DELAY: Final = 30.0

type PanicState = Literal["active", "cancelled", "acknowledged"]


@dataclass(slots=True)
class Fix:
    """A position on Earth, its 1-sigma radius (m), when (epoch s) and where it came from."""

    latitude: float
    longitude: float
    accuracy: float
    time: float
    source: Literal["gps", "ble"]
    altitude: float | None = None
    speed: float | None = None
    zone: str | None = None

    @property
    def map_url(self) -> str:
        """An OpenStreetMap link that works on any phone."""
        lat, lon = round(self.latitude, 6), round(self.longitude, 6)
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=18/{lat}/{lon}"


@dataclass(slots=True)
class Panic:
    """One alarm raised on a phone and what became of it."""

    id: str
    time: float
    received: float
    fix: Fix | None
    note: str
    state: PanicState = "active"


@dataclass(slots=True)
class PhoneView:
    """A paired phone: its credentials, last fix, battery, check-in and alarm."""

    id: str
    name: str
    webhook_id: str
    secret: str
    tag: str | None
    gps: Fix | None = None
    battery: float | None = None
    check_in: float | None = None
    panic: Panic | None = None
    panic_ids: dict[str, float] = field(default_factory=dict)
    nonces: dict[str, float] = field(default_factory=dict)
    # The newest send time accepted (stored), and the time at or before which requests are
    # refused: this hub's start, or a later time accepted before it.
    accepted_until: float = -math.inf
    signed_after: float = -math.inf


def best_fix(*fixes: Fix | None) -> Fix | None:
    """The most accurate of the fixes no older than FRESH_FOR behind the newest.

    Indoors the BLE engine is fresh and accurate to metres while GPS is stale or vague;
    outdoors the tag is missing and GPS is the only fresh fix.
    """
    candidates = [fix for fix in fixes if fix is not None]
    if not candidates:
        return None
    newest = max(fix.time for fix in candidates)
    return min(
        (fix for fix in candidates if newest - fix.time <= FRESH_FOR),
        key=lambda fix: fix.accuracy,
    )


def _fix_from(location: dict[str, Any], sent: float) -> Fix:
    return Fix(
        latitude=location["lat"],
        longitude=location["lon"],
        accuracy=location["accuracy"],
        time=sent,
        source="gps",
        altitude=location.get("altitude"),
        speed=location.get("speed"),
    )


def _fix_or_none(raw: dict[str, Any] | None) -> Fix | None:
    return None if raw is None else Fix(**raw)


PHONE_STORES: HassKey[dict[str, Store[dict[str, Any]]]] = HassKey(f"{DOMAIN}_phone_stores")


def phone_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where a site's phones keep last fixes, check-ins, alarms and panic ids.

    One Store per site for the life of HA, shared by every reload's hub: a save still
    pending from the hub before a reload can then never overwrite a newer record.
    """
    stores = hass.data.setdefault(PHONE_STORES, {})
    if entry_id not in stores:
        stores[entry_id] = Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.phones")
    return stores[entry_id]


class PhoneHub:
    """The phones of one site: webhooks, state, storage, events and notifications."""

    def __init__(
        self, hass: HomeAssistant, coordinator: SiteCoordinator, phones: list[dict[str, Any]]
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.phones = {
            item["id"]: PhoneView(
                item["id"], item["name"], item["webhook_id"], item["secret"], item.get("tag")
            )
            for item in phones
        }
        self._by_webhook = {view.webhook_id: view for view in self.phones.values()}
        self._store = phone_store(hass, coordinator.entry_id)
        self._started = time.time()

    async def async_load(self) -> None:
        """Last fixes, check-ins, alarms and panic ids from storage; bad records skipped."""
        stored = await self._store.async_load() or {}
        for phone_id, record in stored.items():
            view = self.phones.get(phone_id)
            if view is None or not isinstance(record, dict):
                continue
            try:
                view.gps = _fix_or_none(record.get("gps"))
                view.battery = record.get("battery")
                view.check_in = record.get("check_in")
                panic = record.get("panic")
                view.panic = (
                    None
                    if panic is None
                    else Panic(**{**panic, "fix": _fix_or_none(panic.get("fix"))})
                )
                view.panic_ids = {str(k): float(v) for k, v in record["panic_ids"].items()}
                view.accepted_until = float(record.get("accepted_until", -math.inf))
            except (TypeError, KeyError, ValueError, AttributeError):
                continue
        for view in self.phones.values():
            view.signed_after = max(self._started, view.accepted_until)

    async def async_flush(self) -> None:
        """Write what is pending now (on unload), so the next hub starts from it."""
        await self._store.async_save(self._stored())

    def _stored(self) -> dict[str, Any]:
        return {
            view.id: {
                "gps": None if view.gps is None else asdict(view.gps),
                "battery": view.battery,
                "check_in": view.check_in,
                "panic": None if view.panic is None else asdict(view.panic),
                "panic_ids": view.panic_ids,
                "accepted_until": view.accepted_until,
            }
            for view in self.phones.values()
        }

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Open each phone's webhook and follow its linked tag; returns the undo."""
        cancels: list[Callable[[], None]] = []
        for view in self.phones.values():
            if view.panic is not None and view.panic.state == "active":
                # Notifications do not outlive a restart; an alarm nobody answered does.
                self._notify_panic(view, view.panic)
            webhook.async_register(
                self.hass,
                DOMAIN,
                f"BLE RTLS phone {view.name}",
                view.webhook_id,
                self._async_handle_webhook,
                local_only=False,
                allowed_methods=["POST"],
            )
            cancels.append(partial(webhook.async_unregister, self.hass, view.webhook_id))
            if view.tag in self.coordinator.tags:
                cancels.append(
                    async_dispatcher_connect(
                        self.hass,
                        signal(self.coordinator.entry_id, "tag", view.tag),
                        partial(self._changed, view.id),
                    )
                )

        @callback
        def stop() -> None:
            for cancel in cancels:
                cancel()

        return stop

    @callback
    def _changed(self, phone_id: str) -> None:
        async_dispatcher_send(self.hass, signal(self.coordinator.entry_id, "phone", phone_id))

    async def _async_handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        view = self._by_webhook[webhook_id]
        if request.content_length is None:
            return _refusal(ProtocolError(411, "length_required", "send a Content-Length"))
        if request.content_length > MAX_BODY:
            return _refusal(ProtocolError(413, "too_large", f"body over {MAX_BODY} bytes"))
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            # Reading would expand it first: a small gzip body can hold megabytes.
            return _refusal(ProtocolError(415, "encoded", "send the body uncompressed"))
        body = await request.read()
        now = time.time()
        view.nonces = {n: t for n, t in view.nonces.items() if now - t <= 2 * MAX_SKEW}
        try:
            accepted = check_request(
                view.secret, request.headers, body, now, view.nonces, view.signed_after
            )
        except ProtocolError as err:
            return _refusal(err, now)
        view.nonces[accepted.nonce] = now
        before = (view.panic, dict(view.panic_ids), view.panic.state if view.panic else None)
        effects: list[Effect] = []
        for message in accepted.messages:
            effects += self._apply(view, message, now)
        view.accepted_until = max(view.accepted_until, accepted.sent)
        if effects:
            # Written before anything fires: the phone deletes an alarm once told it arrived,
            # and a retry after a crash finds its id and fires nothing.
            try:
                await self._store.async_save(self._stored())
            except (OSError, TypeError, ValueError) as err:
                view.panic, view.panic_ids = before[0], before[1]
                if view.panic is not None and before[2] is not None:
                    view.panic.state = before[2]
                _LOGGER.warning(
                    "%s: could not store %s's alarm: %s", self.coordinator.title, view.name, err
                )
                return _refusal(ProtocolError(503, "not_stored", "could not store it; send again"))
            for effect in effects:
                effect()
        else:
            self._store.async_delay_save(self._stored, LOCATION_SAVE_DELAY)
        self._changed(view.id)
        return web.json_response(
            {
                "acked": [message.id for message in accepted.messages],
                "phone": view.name,
                "panic": None
                if view.panic is None
                else {"id": view.panic.id, "state": view.panic.state},
            }
        )

    def _apply(self, view: PhoneView, message: Message, now: float) -> list[Effect]:
        """Apply one checked message; what an alarm's change fires, to run once it is stored."""
        fields = message.fields
        if "location" in fields and (view.gps is None or message.time > view.gps.time):
            view.gps = _fix_from(fields["location"], message.time)
            view.battery = fields["location"].get("battery", view.battery)
        if message.type == "check_in":
            view.check_in = max(view.check_in or 0.0, message.time)
        elif message.type == "panic":
            return self._raise_panic(view, message, now)
        elif message.type == "panic_cancel":
            return self._end_panic(view, fields["panic_id"], "cancelled", None)
        return []

    def _raise_panic(self, view: PhoneView, message: Message, now: float) -> list[Effect]:
        view.panic_ids = {
            pid: seen for pid, seen in view.panic_ids.items() if now - seen <= PANIC_MEMORY
        }
        if message.id in view.panic_ids:
            return []
        view.panic_ids[message.id] = now
        location = message.fields.get("location")
        own = None if location is None else _fix_from(location, message.time)
        fix = best_fix(own or view.gps, self.ble_fix(view))
        panic = Panic(message.id, message.time, now, fix, message.fields.get("note", ""))
        view.panic = panic
        return [partial(self._announce_panic, view, panic)]

    def _announce_panic(self, view: PhoneView, panic: Panic) -> None:
        """The panic event and its notification, once the panic is stored."""
        data = self._event_data(view, panic) | {
            "note": panic.note,
            "received": dt_util.utc_from_timestamp(panic.received).isoformat(),
        }
        self.hass.bus.async_fire(EVENT_PANIC, data)
        self._notify_panic(view, panic)

    def _notify_panic(self, view: PhoneView, panic: Panic) -> None:
        """The alarm's persistent notification, with who, when, where and the note."""
        person = self.person(view.id)
        when = dt_util.utc_from_timestamp(panic.time).isoformat()
        fix = panic.fix
        where = "unknown"
        if fix is not None:
            where = (
                f"[{fix.latitude:.5f}, {fix.longitude:.5f}]({fix.map_url}), ±{fix.accuracy:.0f} m"
            )
            where += f" ({fix.zone})" if fix.zone else ""
        persistent_notification.async_create(
            self.hass,
            f"{person or view.name} raised an alarm at {when}.\n\nLocation: {where}"
            + (f"\n\nNote: {panic.note}" if panic.note else ""),
            title=f"Panic: {person or view.name}",
            notification_id=self._notification_id(view),
        )

    def _end_panic(
        self, view: PhoneView, panic_id: str, state: PanicState, user_id: str | None
    ) -> list[Effect]:
        """Cancel (by the phone) or acknowledge (in HA) the active alarm with this id."""
        panic = view.panic
        if panic is None or panic.id != panic_id or panic.state != "active":
            return []
        panic.state = state
        event = EVENT_PANIC_CANCELLED if state == "cancelled" else EVENT_PANIC_ACKNOWLEDGED
        data = self._event_data(view, panic) | {"user_id": user_id}

        def announce() -> None:
            self.hass.bus.async_fire(event, data)
            persistent_notification.async_dismiss(self.hass, self._notification_id(view))

        return [announce]

    async def async_acknowledge(self, phone_id: str, user_id: str | None) -> bool:
        """Someone in HA has seen the alarm; the phone is told on its next request."""
        view = self.phones[phone_id]
        if view.panic is None:
            return False
        effects = self._end_panic(view, view.panic.id, "acknowledged", user_id)
        if not effects:
            return False
        await self._store.async_save(self._stored())
        for effect in effects:
            effect()
        self._changed(phone_id)
        return True

    def _event_data(self, view: PhoneView, panic: Panic) -> dict[str, Any]:
        fix = panic.fix
        return {
            "site": self.coordinator.title,
            "phone": view.id,
            "phone_name": view.name,
            "person": self.person(view.id),
            "device_id": self.coordinator.device_id(view.id, "phone"),
            "panic_id": panic.id,
            "time": dt_util.utc_from_timestamp(panic.time).isoformat(),
            "latitude": None if fix is None else fix.latitude,
            "longitude": None if fix is None else fix.longitude,
            "accuracy": None if fix is None else round(fix.accuracy, 1),
            "source": None if fix is None else fix.source,
            "zone": None if fix is None else fix.zone,
            "map_url": None if fix is None else fix.map_url,
        }

    def _notification_id(self, view: PhoneView) -> str:
        return f"{DOMAIN}_panic_{self.coordinator.entry_id}_{view.id}"

    def ble_fix(self, view: PhoneView) -> Fix | None:
        """The linked tag's published position on Earth (needs the site's geo anchor)."""
        tag = self.coordinator.tags.get(view.tag or "")
        if tag is None or tag.missing or tag.estimate is None or tag.last_seen is None:
            return None
        position = self.coordinator.lat_lon(tag.estimate)
        if position is None:
            return None
        zone = self.coordinator.zones.get(tag.zone or "")
        return Fix(
            latitude=position[0],
            longitude=position[1],
            accuracy=max(tag.estimate.accuracy, 1.0),
            time=tag.last_seen.timestamp(),
            source="ble",
            zone=zone.name if zone else None,
        )

    def fix(self, phone_id: str) -> Fix | None:
        """Where the phone's person is: the phone's GPS or the linked tag, as best_fix picks."""
        view = self.phones[phone_id]
        return best_fix(view.gps, self.ble_fix(view))

    def person(self, phone_id: str) -> str | None:
        """The name of the HA person whose trackers include this phone's tracker."""
        entity_id = er.async_get(self.hass).async_get_entity_id(
            "device_tracker",
            DOMAIN,
            unique_id(self.coordinator.entry_id, "phone", phone_id, "location"),
        )
        for state in self.hass.states.async_all("person"):
            if entity_id and entity_id in state.attributes.get("device_trackers", ()):
                return str(state.attributes.get("friendly_name", state.entity_id))
        return None


def pairing_payload(url: str, phone: dict[str, Any]) -> str:
    """What the app needs to pair: server, webhook, secret and name, as compact JSON."""
    return json.dumps(
        {
            "v": PAIRING_VERSION,
            "url": url,
            "webhook_id": phone["webhook_id"],
            "secret": phone["secret"],
            "name": phone["name"],
        },
        separators=(",", ":"),
    )


def check_in_time(view: PhoneView) -> datetime | None:
    """The last 'I'm safe' as a datetime, for the sensor."""
    return None if view.check_in is None else dt_util.utc_from_timestamp(view.check_in)


def _refusal(err: ProtocolError, now: float | None = None) -> web.Response:
    """The reason; for a stale request the server's time too, for the phone to sign by."""
    answer: dict[str, Any] = {"error": err.code, "message": str(err)}
    if err.code == "stale" and now is not None:
        answer["server_time"] = now
    return web.json_response(answer, status=err.status)

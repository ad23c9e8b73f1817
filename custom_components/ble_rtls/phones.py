"""Companion phones: a signed webhook in; a GPS tracker, a panic alarm and check-ins out.

A panic is fired exactly once per panic id however often the phone retries: the ids are
kept in HA's storage, written before the phone is told the panic arrived (the phone keeps
every message until then). A request that fails any check changes nothing.
"""

from __future__ import annotations

import json
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

from .const import (
    DOMAIN,
    EVENT_PANIC,
    EVENT_PANIC_ACKNOWLEDGED,
    EVENT_PANIC_CANCELLED,
)
from .coordinator import SiteCoordinator
from .ids import signal, unique_id
from .phone_protocol import MAX_BODY, MAX_SKEW, Message, ProtocolError, check_request

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


def phone_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where a site's phones keep last fixes, check-ins, alarms and panic ids."""
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.phones")


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
            except (TypeError, KeyError, ValueError, AttributeError):
                continue

    def _stored(self) -> dict[str, Any]:
        return {
            view.id: {
                "gps": None if view.gps is None else asdict(view.gps),
                "battery": view.battery,
                "check_in": view.check_in,
                "panic": None if view.panic is None else asdict(view.panic),
                "panic_ids": view.panic_ids,
            }
            for view in self.phones.values()
        }

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Open each phone's webhook and follow its linked tag; returns the undo."""
        cancels: list[Callable[[], None]] = []
        for view in self.phones.values():
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
        body = await request.read()
        now = time.time()
        view.nonces = {n: t for n, t in view.nonces.items() if now - t <= 2 * MAX_SKEW}
        try:
            nonce, messages = check_request(view.secret, request.headers, body, now, view.nonces)
        except ProtocolError as err:
            return _refusal(err, now)
        view.nonces[nonce] = now
        alarm = False
        for message in messages:
            alarm |= self._apply(view, message, now)
        self._changed(view.id)
        if alarm:
            # The phone deletes a panic once acknowledged: it must be on disk first.
            await self._store.async_save(self._stored())
        else:
            self._store.async_delay_save(self._stored, LOCATION_SAVE_DELAY)
        return web.json_response(
            {
                "acked": [message.id for message in messages],
                "phone": view.name,
                "panic": None
                if view.panic is None
                else {"id": view.panic.id, "state": view.panic.state},
            }
        )

    def _apply(self, view: PhoneView, message: Message, now: float) -> bool:
        """Apply one checked message; True when an alarm's state changed."""
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
        return False

    def _raise_panic(self, view: PhoneView, message: Message, now: float) -> bool:
        view.panic_ids = {
            pid: seen for pid, seen in view.panic_ids.items() if now - seen <= PANIC_MEMORY
        }
        if message.id in view.panic_ids:
            return False
        view.panic_ids[message.id] = now
        location = message.fields.get("location")
        own = None if location is None else _fix_from(location, message.time)
        fix = best_fix(own or view.gps, self.ble_fix(view))
        panic = Panic(message.id, message.time, now, fix, message.fields.get("note", ""))
        view.panic = panic
        person = self.person(view.id)
        data = self._event_data(view, panic) | {
            "note": panic.note,
            "received": dt_util.utc_from_timestamp(now).isoformat(),
        }
        self.hass.bus.async_fire(EVENT_PANIC, data)
        where = "unknown"
        if fix is not None:
            where = (
                f"[{fix.latitude:.5f}, {fix.longitude:.5f}]({fix.map_url}), ±{fix.accuracy:.0f} m"
            )
            where += f" ({fix.zone})" if fix.zone else ""
        persistent_notification.async_create(
            self.hass,
            f"{person or view.name} raised an alarm at {data['time']}.\n\nLocation: {where}"
            + (f"\n\nNote: {panic.note}" if panic.note else ""),
            title=f"Panic: {person or view.name}",
            notification_id=self._notification_id(view),
        )
        return True

    def _end_panic(
        self, view: PhoneView, panic_id: str, state: PanicState, user_id: str | None
    ) -> bool:
        """Cancel (by the phone) or acknowledge (in HA) the active alarm with this id."""
        panic = view.panic
        if panic is None or panic.id != panic_id or panic.state != "active":
            return False
        panic.state = state
        event = EVENT_PANIC_CANCELLED if state == "cancelled" else EVENT_PANIC_ACKNOWLEDGED
        self.hass.bus.async_fire(event, self._event_data(view, panic) | {"user_id": user_id})
        persistent_notification.async_dismiss(self.hass, self._notification_id(view))
        return True

    async def async_acknowledge(self, phone_id: str, user_id: str | None) -> bool:
        """Someone in HA has seen the alarm; the phone is told on its next request."""
        view = self.phones[phone_id]
        if view.panic is None or not self._end_panic(view, view.panic.id, "acknowledged", user_id):
            return False
        self._changed(phone_id)
        await self._store.async_save(self._stored())
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
    """The reason, and the server's time: a phone whose clock is off corrects by it."""
    answer: dict[str, Any] = {"error": err.code, "message": str(err)}
    if now is not None:
        answer["server_time"] = now
    return web.json_response(answer, status=err.status)

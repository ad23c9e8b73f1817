"""Companion phones: a signed webhook in; a GPS tracker, alarms and check-ins out.

A panic is fired once per panic id however often the phone retries, across reloads,
restarts and crashes: its id is written to HA's storage before its event fires, and the
phone keeps every message until it is told it arrived. A check-in timer's deadline is kept
here too, so a phone that falls silent still raises its alarm, once, when it passes. A
request that fails any check changes nothing, and one signed before this hub started is
refused, so a captured request cannot be played again once the nonces in memory are gone.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any, Final, Literal

from aiohttp import web
from homeassistant.components import persistent_notification, webhook
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    ACKNOWLEDGE_ACTION,
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

# What Home Assistant's companion apps fire when a notification's action is pressed.
NOTIFICATION_ACTION_EVENT: Final = "mobile_app_notification_action"

type PanicState = Literal["active", "cancelled", "acknowledged"]
type PanicReason = Literal["panic", "missed_check_in"]
type TimerState = Literal["running", "checked_in", "expired"]


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
    reason: PanicReason = "panic"
    acknowledged_by: str | None = None


@dataclass(slots=True)
class CheckInTimer:
    """A check-in timer ("expect me within 20 minutes"): an alarm when it runs out.

    Times are the phone's clock as signed (within the protocol's skew of this one).
    """

    id: str
    started: float
    deadline: float
    state: TimerState = "running"

    @property
    def alarm_id(self) -> str:
        """The id of the alarm it raises, apart from every panic id the phone makes."""
        return f"timer-{self.id}"


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
    timer: CheckInTimer | None = None
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
        self._timer_cancels: dict[str, CALLBACK_TYPE] = {}

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
                timer = record.get("timer")
                view.timer = None if timer is None else CheckInTimer(**timer)
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
                "timer": None if view.timer is None else asdict(view.timer),
                "panic_ids": view.panic_ids,
                "accepted_until": view.accepted_until,
            }
            for view in self.phones.values()
        }

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Open the phones' webhooks, follow their tags, timers and notification actions.

        Returns the undo.
        """
        cancels: list[Callable[[], None]] = [
            self.hass.bus.async_listen(NOTIFICATION_ACTION_EVENT, self._async_notification_action)
        ]
        for view in self.phones.values():
            if view.panic is not None and view.panic.state == "active":
                # Notifications do not outlive a restart; an alarm nobody answered does.
                self._notify_panic(view, view.panic)
            self._schedule(view)  # a deadline that passed while HA was down fires now
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
            for cancel in (*cancels, *self._timer_cancels.values()):
                cancel()
            self._timer_cancels.clear()

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
        before = _alarm_state(view)
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
                view.panic, view.panic_ids, view.timer = before
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
                else {
                    "id": view.panic.id,
                    "state": view.panic.state,
                    "reason": view.panic.reason,
                    "by": view.panic.acknowledged_by,
                },
                "timer": None
                if view.timer is None
                else {
                    "id": view.timer.id,
                    "state": view.timer.state,
                    "deadline": view.timer.deadline,
                },
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
            return self._check_in(view, message.time)
        if message.type == "timer_start":
            return self._start_timer(view, message)
        if message.type == "panic":
            location = message.fields.get("location")
            own = None if location is None else _fix_from(location, message.time)
            note = message.fields.get("note", "")
            return self._raise_alarm(view, message.id, message.time, now, own, note, "panic")
        if message.type == "panic_cancel":
            return self._end_panic(view, fields["panic_id"], "cancelled", None)
        return []

    def _raise_alarm(
        self,
        view: PhoneView,
        alarm_id: str,
        when: float,
        now: float,
        own: Fix | None,
        note: str,
        reason: PanicReason,
    ) -> list[Effect]:
        """A new alarm (once per id), where the phone or its tag was last known."""
        view.panic_ids = {
            pid: seen for pid, seen in view.panic_ids.items() if now - seen <= PANIC_MEMORY
        }
        if alarm_id in view.panic_ids:
            return []
        view.panic_ids[alarm_id] = now
        fix = best_fix(own or view.gps, self.ble_fix(view))
        panic = Panic(alarm_id, when, now, fix, note, reason=reason)
        view.panic = panic
        return [partial(self._announce_panic, view, panic)]

    def _start_timer(self, view: PhoneView, message: Message) -> list[Effect]:
        """A new timer replaces the running one; a retry or an older start changes nothing."""
        timer = view.timer
        if timer is not None and (timer.id == message.id or timer.started > message.time):
            return []
        deadline = message.time + message.fields["duration"]
        view.timer = CheckInTimer(message.id, message.time, deadline)
        return [partial(self._schedule, view)]

    def _check_in(self, view: PhoneView, at: float) -> list[Effect]:
        """A check-in ends the running timer; a late one ends the alarm its timer raised."""
        timer = view.timer
        if timer is None or at < timer.started:
            return []
        if timer.state == "running":
            timer.state = "checked_in"
            return [partial(self._schedule, view)]
        if timer.state == "expired":
            return self._end_panic(view, timer.alarm_id, "cancelled", None)
        return []

    @callback
    def _schedule(self, view: PhoneView) -> None:
        """Follow the phone's running timer (and only it) to its deadline."""
        if (cancel := self._timer_cancels.pop(view.id, None)) is not None:
            cancel()
        timer = view.timer
        if timer is not None and timer.state == "running":
            self._timer_cancels[view.id] = async_track_point_in_utc_time(
                self.hass,
                partial(self._async_expire, view.id),
                dt_util.utc_from_timestamp(timer.deadline),
            )

    async def _async_expire(self, phone_id: str, _now: datetime) -> None:
        """The deadline passed without a check-in: the alarm, stored before it fires."""
        self._timer_cancels.pop(phone_id, None)
        view = self.phones[phone_id]
        timer = view.timer
        if timer is None or timer.state != "running":
            return
        timer.state = "expired"
        note = f"No check-in by the end of a {_minutes(timer.deadline - timer.started)} timer"
        effects = self._raise_alarm(
            view, timer.alarm_id, timer.deadline, time.time(), None, note, "missed_check_in"
        )
        try:
            await self._store.async_save(self._stored())
        except (OSError, TypeError, ValueError) as err:
            # Raised all the same: a second alarm after a restart beats none.
            _LOGGER.warning(
                "%s: could not store %s's missed check-in: %s",
                self.coordinator.title,
                view.name,
                err,
            )
        for effect in effects:
            effect()
        self._changed(view.id)

    def _announce_panic(self, view: PhoneView, panic: Panic) -> None:
        """The panic event and its notification, once the panic is stored."""
        data = self._event_data(view, panic) | {
            "note": panic.note,
            "received": dt_util.utc_from_timestamp(panic.received).isoformat(),
        }
        self.hass.bus.async_fire(EVENT_PANIC, data)
        self._notify_panic(view, panic)

    def _notify_panic(self, view: PhoneView, panic: Panic) -> None:
        """The alarm's persistent notification: who, what, when (local time), where."""
        who = self.person(view.id) or view.name
        what = "did not check in by" if panic.reason == "missed_check_in" else "raised an alarm at"
        persistent_notification.async_create(
            self.hass,
            f"{who} {what} {_local_time(panic.time)}.\n\nWhere: {_where(panic.fix)}"
            + (f"\n\nNote: {panic.note}" if panic.note else "")
            + f"\n\nPress *Acknowledge* on the {view.name} device, or on the alarm's notification"
            " on your phone: the app then shows that help knows.",
            title=f"{'Missed check-in' if panic.reason == 'missed_check_in' else 'Panic'}: {who}",
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
        user = await self.hass.auth.async_get_user(user_id) if user_id else None
        view = self.phones[phone_id]
        if view.panic is None:
            return False
        effects = self._end_panic(view, view.panic.id, "acknowledged", user_id)
        if not effects:
            return False
        view.panic.acknowledged_by = user.name if user else None
        await self._store.async_save(self._stored())
        for effect in effects:
            effect()
        self._changed(phone_id)
        return True

    @callback
    def _async_notification_action(self, event: Event) -> None:
        """Acknowledge pressed on an alarm's notification on a phone with HA's companion app."""
        action = event.data.get("action")
        if not isinstance(action, str) or not action.startswith(ACKNOWLEDGE_ACTION):
            return
        panic_id = action.removeprefix(ACKNOWLEDGE_ACTION)
        for view in self.phones.values():
            if view.panic is not None and view.panic.id == panic_id:
                self.hass.async_create_task(
                    self.async_acknowledge(view.id, event.context.user_id),
                    f"{DOMAIN} acknowledge {view.id}",
                )

    def _event_data(self, view: PhoneView, panic: Panic) -> dict[str, Any]:
        fix = panic.fix
        return {
            "site": self.coordinator.title,
            "reason": panic.reason,
            "acknowledge_action": f"{ACKNOWLEDGE_ACTION}{panic.id}",
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


def check_in_due(view: PhoneView) -> datetime | None:
    """When a running check-in timer raises its alarm, for the sensor."""
    timer = view.timer
    if timer is None or timer.state != "running":
        return None
    return dt_util.utc_from_timestamp(timer.deadline)


def _alarm_state(view: PhoneView) -> tuple[Panic | None, dict[str, float], CheckInTimer | None]:
    """A copy of what an alarm's messages change, to put back if it cannot be stored."""
    return (
        None if view.panic is None else replace(view.panic),
        dict(view.panic_ids),
        None if view.timer is None else replace(view.timer),
    )


def _local_time(timestamp: float) -> str:
    """A time as people read it: 14:05:03 on Mon 7 Dec 2026, in HA's time zone."""
    return dt_util.as_local(dt_util.utc_from_timestamp(timestamp)).strftime(
        "%H:%M:%S on %a %-d %b %Y"
    )


def _minutes(seconds: float) -> str:
    return f"{round(seconds / 60)}-minute"


def _where(fix: Fix | None) -> str:
    """The zone indoors, a map link (coordinates only, no address looked up) and accuracy."""
    if fix is None:
        return "not known"
    place = f"{fix.zone}, " if fix.zone else ""
    source = "indoors" if fix.source == "ble" else "GPS"
    return f"{place}[map]({fix.map_url}) ±{fix.accuracy:.0f} m ({source})"


def _refusal(err: ProtocolError, now: float | None = None) -> web.Response:
    """The reason; for a stale request the server's time too, for the phone to sign by."""
    answer: dict[str, Any] = {"error": err.code, "message": str(err)}
    if err.code == "stale" and now is not None:
        answer["server_time"] = now
    return web.json_response(answer, status=err.status)

"""One site's shared state: reads HA's bluetooth scanners, drives the engine, publishes.

Data path: scanners (ESPHome, Pi and local proxies) -> `_ingest` (new adverts of tracked
tags, per scanner) -> engine (filter, distance, position, track, zone) -> `_apply`
(rate-limited publishing, zone events) -> entities via dispatcher signals.

HA's bluetooth callbacks only carry the best scanner's advert, and only when its payload
changed, so they serve to learn which addresses belong to our tags (wake-up); the RSSI each
receiver heard is read from each placed receiver's scanner once a tick. A new advert is a
new advertisement object in that scanner's table, so each is fed once and the cost grows
with tracked tags, never with untracked traffic.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bleak.backends.scanner import AdvertisementData
from homeassistant.components import bluetooth
from homeassistant.components.bluetooth.match import BluetoothCallbackMatcher
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .compat import device_by_identifier
from .const import (
    CALIBRATION_SAVE_PERIOD,
    CONF_LOCATE_INTERVAL,
    CONF_MISSING_AFTER,
    CONF_PUBLISH_INTERVAL,
    CONF_RECEIVER_SILENT_AFTER,
    CONF_RSSI_FILTER,
    CONF_SELF_CALIBRATE,
    CONF_WINDOW,
    CONF_ZONE_DWELL,
    CONF_ZONE_MARGIN,
    DOMAIN,
    EVENT_TAG_MISSING,
    EVENT_ZONE_CHANGED,
    EXPORT_BUFFER,
    HEALTH_PERIOD,
    INGEST_BATCH,
    ISSUE_RECEIVER_SILENT,
    LOCATE_BATCH,
    PUBLISH_MIN_MOVE,
    PUBLISH_MOVE_SHARE,
    RATE_PERIOD,
    TICK_INTERVAL,
    TRAIL,
)
from .engine import RSSI_RANGE_DBM, Advert, Engine, EngineConfig, Estimate, TagMark
from .identity import APPLE_COMPANY_ID, IdentityResolver
from .ids import device_identifier, signal
from .site_config import SiteDocument, engine_site, names, tag_identities, to_lat_lon

type Settings = dict[str, Any]

_LOGGER = logging.getLogger(__name__)
CALIBRATION_STORAGE_VERSION = 1


@dataclass(slots=True)
class TagView:
    """What the tag's entities show: the last published estimate, not every fix."""

    id: str
    name: str
    estimate: Estimate | None = None
    zone: str | None = None
    missing: bool = False
    last_seen: datetime | None = None
    last_heard: float = -math.inf
    published_at: float = -math.inf
    distances: dict[str, float] = field(default_factory=dict)
    trail: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=TRAIL))

    @property
    def nearest_receiver(self) -> str | None:
        """The placed receiver closest to the published position."""
        return min(self.distances, key=self.distances.__getitem__) if self.distances else None


@dataclass(slots=True)
class ZoneView:
    """A zone and the tags in it now."""

    id: str
    name: str
    floor: int
    area_id: str | None
    occupants: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ReceiverView:
    """A placed receiver's health: online from its scanner, rate from our tags' adverts."""

    id: str
    name: str
    online: bool | None = None
    rate: float = 0.0
    count: int = 0


def calibration_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where a site's learnt self-calibration is kept between restarts."""
    return Store(hass, CALIBRATION_STORAGE_VERSION, f"{DOMAIN}.{entry_id}.calibration")


class SiteCoordinator:
    """Owns the engine, the bluetooth subscriptions and the views of one site."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        title: str,
        document: SiteDocument,
        settings: Settings,
    ) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.title = title
        self.document = document
        self.settings = settings
        self.site = engine_site(document)
        area_ids = {item["id"]: item.get("area_id") for item in document["zones"]}
        self.engine = (
            Engine(
                self.site,
                EngineConfig(
                    rssi_filter=settings[CONF_RSSI_FILTER],
                    window=float(settings[CONF_WINDOW]),
                    emit_interval=float(settings[CONF_LOCATE_INTERVAL]),
                    self_calibrate=bool(settings[CONF_SELF_CALIBRATE]),
                    zone_margin=float(settings[CONF_ZONE_MARGIN]),
                    zone_dwell=float(settings[CONF_ZONE_DWELL]),
                ),
            )
            if self.site.receivers
            else None
        )
        self.resolver = IdentityResolver(tag_identities(document))
        self.tags = {
            tag_id: TagView(tag_id, name) for tag_id, name in names(document, "tags").items()
        }
        zone_names = names(document, "zones")
        self.zones = {
            zone.id: ZoneView(zone.id, zone_names[zone.id], zone.floor, area_ids.get(zone.id))
            for zone in self.site.zones
        }
        self.receivers = {
            receiver_id: ReceiverView(receiver_id, name)
            for receiver_id, name in names(document, "receivers").items()
        }
        self.recent_adverts: deque[Advert] = deque(maxlen=EXPORT_BUFFER)
        self._positions = {r.id: (r.x, r.y, r.floor) for r in self.site.receivers}
        # A receiver's own adverts (its beacon) are read like a tag's; the engine tells them
        # apart and measures the receivers' biases from them.
        beacons = {r.beacon: r.beacon for r in self.site.receivers if r.beacon}
        self._fixed_addresses = set(self.resolver.addresses) | set(beacons)
        self._addresses = self.resolver.addresses | beacons
        self._last_adverts: dict[tuple[str, str], AdvertisementData] = {}
        self._started = time.monotonic()
        self._rate_started = self._health_checked = self._started
        self._calibration_store = calibration_store(hass, entry_id)
        self.calibration_resumed: bool | None = None
        self._calibration_due = self._started + CALIBRATION_SAVE_PERIOD
        self._device_ids: dict[str, str | None] = {}
        self._busy = False
        self._stopped = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Subscribe to the bluetooth stack and start ticking; returns the undo."""
        matchers: list[BluetoothCallbackMatcher] = [
            BluetoothCallbackMatcher(address=address, connectable=False)
            for address in self._fixed_addresses
        ]
        if self.resolver.wants_ibeacons:
            matchers.append(
                BluetoothCallbackMatcher(manufacturer_id=APPLE_COMPANY_ID, connectable=False)
            )
        if self.resolver.wants_all:
            matchers.append(BluetoothCallbackMatcher(connectable=False))
        cancels = [
            bluetooth.async_register_callback(
                self.hass,
                self._async_on_advertisement,
                matcher,
                bluetooth.BluetoothScanningMode.PASSIVE,
            )
            for matcher in matchers
        ]
        cancels.append(
            async_track_time_interval(
                self.hass, self._async_tick, TICK_INTERVAL, name=f"{DOMAIN} tick {self.title}"
            )
        )
        cancels.append(
            self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._save_calibration_soon)
        )

        @callback
        def stop() -> None:
            self._stopped = True  # a tick in progress ends at its next batch
            for cancel in cancels:
                cancel()
            for receiver_id in self.receivers:
                ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(receiver_id))

        return stop

    async def async_load_calibration(self) -> None:
        """Resume from the self-calibration learnt before the restart, if it fits the site.

        `calibration_resumed` tells diagnostics which happened: None when nothing was stored.
        """
        saved = await self._calibration_store.async_load()
        if self.engine is None or saved is None:
            return
        self.calibration_resumed = self.engine.restore_calibration(saved)
        if not self.calibration_resumed:
            _LOGGER.info(
                "%s: the stored self-calibration does not fit the site; "
                "learning again from the declared path loss",
                self.title,
            )

    async def async_save_calibration(self) -> None:
        """Store what the self-calibration learnt (on unload and reload)."""
        if self.engine is not None:
            await self._calibration_store.async_save(self.engine.saved_calibration())

    @callback
    def _save_calibration_soon(self, _event: Event | None = None) -> None:
        """Store the self-calibration in the background, each period and when HA stops.

        While HA stops, the store writes it at its final write.
        """
        if self.engine is not None:
            self._calibration_store.async_delay_save(self.engine.saved_calibration)

    @callback
    def _async_on_advertisement(
        self, info: bluetooth.BluetoothServiceInfoBleak, _change: bluetooth.BluetoothChange
    ) -> None:
        if info.address in self._addresses:
            return
        tag_id = self.resolver.resolve(info.address, info.manufacturer_data)
        if tag_id is not None:
            self._addresses[info.address] = tag_id

    async def _async_tick(self, _now: datetime | None = None) -> None:
        await self.async_process(time.monotonic())

    async def async_process(self, now: float) -> None:
        """Read new adverts, locate the due tags and publish what changed.

        Tags are located in batches with a yield to the event loop between them, so a large
        site never holds Home Assistant for long; a tick that comes while one is still
        running is skipped rather than piled up.
        """
        if self._busy:
            return
        self._busy = True
        try:
            await self._process(now)
        finally:
            self._busy = False

    async def _process(self, now: float) -> None:
        await self._ingest(now)
        engine = self.engine
        if engine is not None:
            while True:
                estimates = engine.update(now, LOCATE_BATCH)
                for estimate in estimates:
                    self._apply(estimate, now)
                if len(estimates) < LOCATE_BATCH:
                    break
                await asyncio.sleep(0)
                if self._stopped:
                    return
        self._check_missing(now)
        if now - self._health_checked >= HEALTH_PERIOD:
            self._check_receivers(now)
        if now >= self._calibration_due:
            self._calibration_due = now + CALIBRATION_SAVE_PERIOD
            self._save_calibration_soon()

    async def _ingest(self, now: float) -> None:
        """Feed the engine each placed receiver's new adverts of the tracked addresses.

        Each placed receiver's scanner is asked for each tracked address: a table look-up,
        so the cost is receivers x tracked addresses, whatever else is on the air.
        """
        engine = self.engine
        if engine is None:
            return
        last_adverts = self._last_adverts
        low, high = RSSI_RANGE_DBM
        addresses = list(self._addresses.items())
        present: set[str] = set()
        heard: set[str] = set()
        lookups = 0
        for source, receiver in self.receivers.items():
            scanner = bluetooth.async_scanner_by_source(self.hass, source)
            if scanner is None:
                continue
            lookup = scanner.get_discovered_device_advertisement_data
            for address, tag_id in addresses:
                found = lookup(address)
                if found is None:
                    continue
                present.add(address)
                advertisement = found[1]
                key = (source, address)
                previous = last_adverts.get(key)
                if previous is advertisement:
                    continue
                last_adverts[key] = advertisement
                # What a scanner already held when we started may be minutes old; an RSSI of
                # 127 is the controller's "not available" (HCI 0x7F), no reading.
                if previous is None or not low <= advertisement.rssi <= high:
                    continue
                advert = Advert(now, source, tag_id, float(advertisement.rssi))
                engine.observe(advert)
                self.recent_adverts.append(advert)
                receiver.count += 1
                heard.add(tag_id)
            lookups += len(addresses)
            if lookups >= INGEST_BATCH:
                lookups = 0
                await asyncio.sleep(0)
                if self._stopped:
                    return
        for address, _ in addresses:
            if address not in present and address not in self._fixed_addresses:
                self._forget(address)
        wall = dt_util.utcnow()
        for tag_id in heard.intersection(self.tags):
            view = self.tags[tag_id]
            view.last_heard = now
            view.last_seen = wall

    def _forget(self, address: str) -> None:
        """A rotated-away private address no placed receiver holds: stop polling it."""
        del self._addresses[address]
        for key in [key for key in self._last_adverts if key[1] == address]:
            del self._last_adverts[key]

    def _apply(self, estimate: Estimate, now: float) -> None:
        view = self.tags[estimate.tag]
        zone_changed = estimate.zone != view.zone
        if zone_changed:
            self._change_zone(view, estimate.zone, estimate)
        interval = float(self.settings[CONF_PUBLISH_INTERVAL])
        due = now - view.published_at >= interval
        heartbeat = now - view.published_at >= max(interval, 60.0)
        published = view.estimate
        moved = published is None or published.floor != estimate.floor
        if published is not None and not moved:
            # Beyond the error circle is news within the interval; a smaller move waits for
            # the minute's heartbeat, so a tag that settled is shown where it settled.
            news = (
                PUBLISH_MIN_MOVE
                if heartbeat
                else max(PUBLISH_MIN_MOVE, PUBLISH_MOVE_SHARE * published.accuracy)
            )
            moved = (
                math.hypot(published.x - estimate.x, published.y - estimate.y) >= news
                or abs(published.accuracy - estimate.accuracy) >= news
            )
        if not (zone_changed or view.missing or (due and moved) or heartbeat):
            return
        view.missing = False
        if moved or zone_changed:
            if view.estimate is not None:
                view.trail.append((view.estimate.x, view.estimate.y))
            view.estimate = estimate
            view.distances = {
                receiver_id: round(math.hypot(x - estimate.x, y - estimate.y), 1)
                for receiver_id, (x, y, floor) in self._positions.items()
                if floor == estimate.floor
            }
        view.published_at = now
        async_dispatcher_send(self.hass, signal(self.entry_id, "tag", view.id))
        async_dispatcher_send(self.hass, signal(self.entry_id, "map", str(estimate.floor)))

    def _change_zone(self, view: TagView, zone: str | None, estimate: Estimate | None) -> None:
        previous = view.zone
        view.zone = zone
        for zone_id, entering in ((previous, False), (zone, True)):
            if zone_id is None or zone_id not in self.zones:
                continue
            occupants = self.zones[zone_id].occupants
            if entering:
                occupants.add(view.id)
            else:
                occupants.discard(view.id)
            async_dispatcher_send(self.hass, signal(self.entry_id, "zone", zone_id))
        data: dict[str, Any] = {
            "site": self.title,
            "tag": view.id,
            "tag_name": view.name,
            "device_id": self.device_id(view.id),
            "from_zone": previous,
            "from_zone_name": self.zones[previous].name if previous in self.zones else None,
            "to_zone": zone,
            "to_zone_name": self.zones[zone].name if zone in self.zones else None,
            "x": None if estimate is None else round(estimate.x, 2),
            "y": None if estimate is None else round(estimate.y, 2),
            "floor": None if estimate is None else estimate.floor,
            "time": dt_util.utcnow().isoformat(),
        }
        self.hass.bus.async_fire(EVENT_ZONE_CHANGED, data)

    def _check_missing(self, now: float) -> None:
        missing_after = float(self.settings[CONF_MISSING_AFTER])
        for view in self.tags.values():
            if view.missing or now - max(view.last_heard, self._started) < missing_after:
                continue
            view.missing = True
            if view.zone is not None:
                self._change_zone(view, None, None)
            self.hass.bus.async_fire(
                EVENT_TAG_MISSING,
                {
                    "site": self.title,
                    "tag": view.id,
                    "tag_name": view.name,
                    "device_id": self.device_id(view.id),
                    "last_seen": view.last_seen.isoformat() if view.last_seen else None,
                },
            )
            async_dispatcher_send(self.hass, signal(self.entry_id, "tag", view.id))
            if view.estimate is not None:
                async_dispatcher_send(
                    self.hass, signal(self.entry_id, "map", str(view.estimate.floor))
                )

    def _check_receivers(self, now: float) -> None:
        self._health_checked = now
        elapsed = now - self._rate_started
        new_rates = elapsed >= RATE_PERIOD
        if new_rates:
            self._rate_started = now
        silent_after = float(self.settings[CONF_RECEIVER_SILENT_AFTER])
        for view in self.receivers.values():
            rate = view.rate
            if new_rates:
                rate = round(view.count / elapsed, 2)
                view.count = 0
            scanner = bluetooth.async_scanner_by_source(self.hass, view.id)
            if scanner is not None:
                online: bool | None = scanner.time_since_last_detection() < silent_after
            elif now - self._started >= silent_after:
                online = False
            else:
                online = view.online
            if online is not None and online != view.online:
                self._set_issue(view, online)
            if online != view.online or rate != view.rate:
                view.online, view.rate = online, rate
                async_dispatcher_send(self.hass, signal(self.entry_id, "receiver", view.id))

    def _set_issue(self, view: ReceiverView, online: bool) -> None:
        """Raise or clear the receiver's repair issue, logging once each way."""
        if online:
            if view.online is False:
                _LOGGER.info("%s: receiver %s is heard again", self.title, view.name)
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id(view.id))
            return
        _LOGGER.info("%s: receiver %s is silent; positions use the others", self.title, view.name)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id(view.id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_RECEIVER_SILENT,
            translation_placeholders={"receiver": view.name, "site": self.title},
        )

    def _issue_id(self, receiver_id: str) -> str:
        return f"{ISSUE_RECEIVER_SILENT}_{self.entry_id}_{receiver_id}"

    def device_id(self, item_id: str, kind: str = "tag") -> str | None:
        """The HA device of a tag or phone (cached: events carry it for device triggers)."""
        key = f"{kind}_{item_id}"
        if self._device_ids.get(key) is None:
            device = device_by_identifier(
                dr.async_get(self.hass),
                device_identifier(self.entry_id, kind, item_id),
                self.entry_id,
            )
            self._device_ids[key] = device.id if device else None
        return self._device_ids[key]

    @callback
    def async_restore(self, tag_id: str, estimate: Estimate) -> None:
        """Show the last known position after a restart, without firing a zone event.

        The engine starts the tag in that zone too, so first fixes on the other side of a
        wall do not fire a change the tag never made.
        """
        view = self.tags[tag_id]
        if view.estimate is not None:
            return
        view.estimate = estimate
        view.zone = estimate.zone
        if self.engine is not None:
            self.engine.restore_zone(tag_id, estimate.zone)
        if estimate.zone is not None and estimate.zone in self.zones:
            self.zones[estimate.zone].occupants.add(tag_id)
            async_dispatcher_send(self.hass, signal(self.entry_id, "zone", estimate.zone))
        async_dispatcher_send(self.hass, signal(self.entry_id, "tag", tag_id))

    def item_name(self, kind: str, item_id: str) -> str:
        """Display name of a tag, zone or receiver."""
        views: dict[str, TagView] | dict[str, ZoneView] | dict[str, ReceiverView] = (
            self.tags if kind == "tag" else self.zones if kind == "zone" else self.receivers
        )
        return views[item_id].name

    def map_marks(self, floor: int) -> list[TagMark]:
        """The tags to draw on a floor's map: published, not missing."""
        return [
            TagMark(view.name, view.estimate.x, view.estimate.y, view.estimate.accuracy, view.trail)
            for view in self.tags.values()
            if view.estimate is not None and view.estimate.floor == floor and not view.missing
        ]

    def lat_lon(self, estimate: Estimate) -> tuple[float, float] | None:
        """Latitude and longitude when the site has a geo anchor."""
        anchor = self.document.get("geo_anchor")
        return None if anchor is None else to_lat_lon(anchor, estimate.x, estimate.y)

    def address_of(self, tag_id: str) -> str | None:
        """The address the tag was last learned under (its MAC, or its latest private one)."""
        return next((a for a, t in reversed(self._addresses.items()) if t == tag_id), None)

    def tracked_addresses(self) -> dict[str, str]:
        """Address -> tag id currently read from the scanners (diagnostics)."""
        return dict(self._addresses)

"""Tag battery over GATT: read the Battery Service through HA's connectable proxies.

Once a minute the reader looks for a tag whose reading is due and connects to it with
bleak-retry-connector's `establish_connection` (HA routes the connection through the
best connectable proxy in range). One connection at a time: proxies have few slots and
positions matter more. A failed read is retried after 10 minutes, then doubling up to
the normal interval; tags with battery reading off are never connected to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection
from homeassistant.components import bluetooth
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import DOMAIN, EVENT_BATTERY_LOW
from .coordinator import SiteCoordinator
from .ids import signal

BATTERY_LEVEL: Final = "00002a19-0000-1000-8000-00805f9b34fb"
READ_EVERY: Final = 6 * 3600.0
RETRY_FIRST: Final = 600.0
LOW_BATTERY: Final = 20
CHECK_EVERY: Final = timedelta(minutes=1)
CONNECT_ATTEMPTS: Final = 2
# The client class HA's bluetooth routes through its proxies (bleak's BleakClient,
# wrapped by HA); the tests put a fake device here, at the hardware boundary.
CLIENT_CLASS: type[BleakClientWithServiceCache] = BleakClientWithServiceCache


@dataclass(slots=True)
class BatteryView:
    """A tag's last battery reading and when to try next."""

    level: int | None = None
    read_at: datetime | None = None
    due: float = 0.0
    failures: int = 0
    last_error: str | None = None


def battery_enabled(item: dict[str, Any]) -> bool:
    """Whether to read a tag's battery: its own setting, else only for MAC-address tags.

    Asset tags known by their MAC are usually connectable; iBeacon and IRK tags are
    phones and watches, which should not be connected to.
    """
    return bool(item.get("battery", "address" in item))


class BatteryReader:
    """Reads the battery of the site's tags that have it enabled, one at a time."""

    def __init__(self, coordinator: SiteCoordinator, tag_ids: list[str]) -> None:
        self.coordinator = coordinator
        self.views = {tag_id: BatteryView() for tag_id in tag_ids}
        self._busy = False

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Check once a minute for a due reading; returns the undo."""
        return async_track_time_interval(
            self.coordinator.hass,
            self._async_check,
            CHECK_EVERY,
            name=f"{DOMAIN} battery {self.coordinator.title}",
        )

    async def _async_check(self, _now: datetime | None = None) -> None:
        await self.async_read_due(time.monotonic())

    async def async_read_due(self, now: float) -> None:
        """Read the most overdue tag, if any is due and no read is running."""
        due = [(view.due, tag) for tag, view in self.views.items() if view.due <= now]
        if self._busy or not due:
            return
        self._busy = True
        try:
            await self._read(min(due)[1], now)
        finally:
            self._busy = False

    async def _read(self, tag_id: str, now: float) -> None:
        view = self.views[tag_id]
        device = None
        address = self.coordinator.address_of(tag_id)
        if address is not None:
            device = bluetooth.async_ble_device_from_address(
                self.coordinator.hass, address, connectable=True
            )
        if device is None:
            self._failed(view, now, "no connectable proxy hears the tag")
            return
        try:
            client = await establish_connection(
                CLIENT_CLASS,
                device,
                self.coordinator.item_name("tag", tag_id),
                max_attempts=CONNECT_ATTEMPTS,
            )
            try:
                data = await client.read_gatt_char(BATTERY_LEVEL)
            finally:
                await client.disconnect()
        except (BleakError, TimeoutError, OSError) as err:
            self._failed(view, now, f"{type(err).__name__}: {err}")
            return
        if len(data) != 1 or data[0] > 100:
            self._failed(view, now, f"not a battery level: {bytes(data).hex()}")
            return
        self._update(tag_id, view, int(data[0]), now)

    def _failed(self, view: BatteryView, now: float, reason: str) -> None:
        view.failures += 1
        view.last_error = reason
        view.due = now + min(READ_EVERY, RETRY_FIRST * 2 ** (view.failures - 1))

    def _update(self, tag_id: str, view: BatteryView, level: int, now: float) -> None:
        was_low = view.level is not None and view.level <= LOW_BATTERY
        view.level, view.read_at = level, dt_util.utcnow()
        view.failures, view.last_error, view.due = 0, None, now + READ_EVERY
        coordinator = self.coordinator
        if level <= LOW_BATTERY and not was_low:
            coordinator.hass.bus.async_fire(
                EVENT_BATTERY_LOW,
                {
                    "site": coordinator.title,
                    "tag": tag_id,
                    "tag_name": coordinator.item_name("tag", tag_id),
                    "device_id": coordinator.device_id(tag_id),
                    "level": level,
                },
            )
        async_dispatcher_send(coordinator.hass, signal(coordinator.entry_id, "tag", tag_id))

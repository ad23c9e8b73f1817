"""A map per floor: the plan with zones and their occupancy, receivers and tags.

Rendered only when someone looks at it and something changed since, and marked changed at
most every MAP_MIN_INTERVAL seconds, so a busy site costs a few renders a minute.
"""

from __future__ import annotations

from datetime import datetime

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import DOMAIN, MAP_MIN_INTERVAL
from .coordinator import SiteCoordinator
from .engine import render_map
from .ids import signal
from .runtime import BleRtlsConfigEntry

# Pushed by the coordinator; nothing is polled or fetched per entity.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BleRtlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One map per floor that has receivers."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(SiteMap(hass, coordinator, floor) for floor in coordinator.site.floors)


class SiteMap(ImageEntity):
    """The floor plan as a PNG image entity."""

    _attr_has_entity_name = True
    _attr_translation_key = "map"
    _attr_content_type = "image/png"

    def __init__(self, hass: HomeAssistant, coordinator: SiteCoordinator, floor: int) -> None:
        super().__init__(hass)
        self.coordinator = coordinator
        self.floor = floor
        self._attr_unique_id = f"{coordinator.entry_id}_map_{floor}"
        self._attr_translation_placeholders = {"floor": str(floor)}
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, coordinator.entry_id)})
        self._updated = dt_util.utcnow()
        self._png: bytes | None = None
        self._pending = False

    @property
    def image_last_updated(self) -> datetime:
        """When the plan last changed (at most every MAP_MIN_INTERVAL seconds)."""
        return self._updated

    async def async_added_to_hass(self) -> None:
        """Follow the floor's changes; unloading disconnects and cancels a pending refresh."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal(self.coordinator.entry_id, "map", str(self.floor)),
                self._async_changed,
            )
        )

    @callback
    def _async_changed(self) -> None:
        if self._pending:
            return
        waited = (dt_util.utcnow() - self._updated).total_seconds()
        if waited >= MAP_MIN_INTERVAL:
            self._async_mark_changed()
            return
        self._pending = True
        self.async_on_remove(
            async_call_later(self.hass, MAP_MIN_INTERVAL - waited, self._async_deferred)
        )

    @callback
    def _async_deferred(self, _now: object) -> None:
        self._pending = False
        self._async_mark_changed()

    @callback
    def _async_mark_changed(self) -> None:
        self._png = None
        self._updated = dt_util.utcnow()
        self.async_write_ha_state()

    async def async_image(self) -> bytes | None:
        """The PNG, drawn in the executor when the plan changed since the last one."""
        if self._png is None:
            coordinator = self.coordinator
            occupancy = {zone_id: len(z.occupants) for zone_id, z in coordinator.zones.items()}
            self._png = await self.hass.async_add_executor_job(
                render_map,
                coordinator.site,
                self.floor,
                coordinator.map_marks(self.floor),
                occupancy,
                f"{coordinator.title}, floor {self.floor}",
            )
        return self._png

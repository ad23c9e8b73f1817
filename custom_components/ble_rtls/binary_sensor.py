"""Binary sensors: a zone is occupied; a receiver is online; a phone's alarm is raised."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .entity import BleRtlsEntity
from .phones import PhoneView
from .runtime import BleRtlsConfigEntry, SiteRuntime

# Pushed by the coordinator; nothing is polled or fetched per entity.
PARALLEL_UPDATES = 0

OCCUPIED = BinarySensorEntityDescription(
    key="occupied", translation_key="occupied", device_class=BinarySensorDeviceClass.OCCUPANCY
)
ONLINE = BinarySensorEntityDescription(
    key="online",
    translation_key="online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)
PANIC = BinarySensorEntityDescription(
    key="panic", translation_key="panic", device_class=BinarySensorDeviceClass.SAFETY
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BleRtlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Occupied per zone, online per receiver, panic per phone."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    entities: list[BinarySensorEntity] = [
        ZoneOccupied(runtime, zone_id) for zone_id in coordinator.zones
    ]
    entities += [ReceiverOnline(runtime, rid) for rid in coordinator.receivers]
    entities += [PhonePanic(runtime, phone_id) for phone_id in runtime.phones.phones]
    async_add_entities(entities)


class ZoneOccupied(BleRtlsEntity, BinarySensorEntity):
    """On while at least one tag is in the zone."""

    def __init__(self, runtime: SiteRuntime, zone_id: str) -> None:
        super().__init__(runtime, "zone", zone_id, OCCUPIED)

    @property
    def is_on(self) -> bool:
        """Any tag in the zone."""
        return bool(self.coordinator.zones[self._item_id].occupants)


class ReceiverOnline(BleRtlsEntity, BinarySensorEntity):
    """On while the receiver's scanner is registered and hears something."""

    def __init__(self, runtime: SiteRuntime, receiver_id: str) -> None:
        super().__init__(runtime, "receiver", receiver_id, ONLINE)

    @property
    def is_on(self) -> bool | None:
        """Unknown until the first health check after the silence threshold."""
        return self.coordinator.receivers[self._item_id].online


class PhonePanic(BleRtlsEntity, BinarySensorEntity):
    """On (unsafe) from a panic until the phone cancels it or someone acknowledges it."""

    def __init__(self, runtime: SiteRuntime, phone_id: str) -> None:
        super().__init__(runtime, "phone", phone_id, PANIC)
        self._view: PhoneView = runtime.phones.phones[phone_id]

    @property
    def is_on(self) -> bool:
        """An alarm is active."""
        return self._view.panic is not None and self._view.panic.state == "active"

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """The last alarm: its id, state, why, who answered it, time, note and where."""
        panic = self._view.panic
        if panic is None:
            return {}
        fix = panic.fix
        return {
            "panic_id": panic.id,
            "panic_state": panic.state,
            "reason": panic.reason,
            "acknowledged_by": panic.acknowledged_by,
            "time": dt_util.utc_from_timestamp(panic.time).isoformat(),
            "note": panic.note,
            "latitude": None if fix is None else fix.latitude,
            "longitude": None if fix is None else fix.longitude,
            "map_url": None if fix is None else fix.map_url,
        }

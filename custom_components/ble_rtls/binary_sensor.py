"""Binary sensors: a zone is occupied; a receiver is online."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import BleRtlsConfigEntry
from .coordinator import SiteCoordinator
from .entity import BleRtlsEntity

OCCUPIED = BinarySensorEntityDescription(
    key="occupied", translation_key="occupied", device_class=BinarySensorDeviceClass.OCCUPANCY
)
ONLINE = BinarySensorEntityDescription(
    key="online",
    translation_key="online",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BleRtlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Occupied per zone, online per receiver."""
    coordinator = entry.runtime_data
    entities: list[BinarySensorEntity] = [
        ZoneOccupied(coordinator, zone_id) for zone_id in coordinator.zones
    ]
    entities += [ReceiverOnline(coordinator, rid) for rid in coordinator.receivers]
    async_add_entities(entities)


class ZoneOccupied(BleRtlsEntity, BinarySensorEntity):
    """On while at least one tag is in the zone."""

    def __init__(self, coordinator: SiteCoordinator, zone_id: str) -> None:
        super().__init__(coordinator, "zone", zone_id, OCCUPIED)

    @property
    def is_on(self) -> bool:
        """Any tag in the zone."""
        return bool(self.coordinator.zones[self._item_id].occupants)


class ReceiverOnline(BleRtlsEntity, BinarySensorEntity):
    """On while the receiver's scanner is registered and hears something."""

    def __init__(self, coordinator: SiteCoordinator, receiver_id: str) -> None:
        super().__init__(coordinator, "receiver", receiver_id, ONLINE)

    @property
    def is_on(self) -> bool | None:
        """Unknown until the first health check after the silence threshold."""
        return self.coordinator.receivers[self._item_id].online

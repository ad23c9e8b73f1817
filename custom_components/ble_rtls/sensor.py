"""Sensors of tags, zones, receivers and companion phones.

Tag and phone sensors are rows in description tuples; zone occupancy and receiver rate are
one each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfLength
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import ReceiverView, TagView, ZoneView
from .entity import BleRtlsEntity
from .ids import unique_id
from .phones import PhoneView, check_in_due, check_in_time
from .proxy_stream import proxies
from .runtime import BleRtlsConfigEntry, SiteRuntime

# Pushed by the coordinator; nothing is polled or fetched per entity.
PARALLEL_UPDATES = 0

NO_ZONE = "none"

type SensorValue = str | int | float | datetime | None


@dataclass(frozen=True, kw_only=True)
class TagSensorDescription(SensorEntityDescription):
    """A tag sensor and how to read it from the tag's view."""

    value_fn: Callable[[SiteRuntime, TagView], SensorValue]
    exists_fn: Callable[[SiteRuntime, str], bool] = lambda _runtime, _tag: True
    # What the tag last reported (seen, battery) stays true while it is missing; where it
    # is does not.
    kept_while_missing: bool = False


TAG_SENSORS: tuple[TagSensorDescription, ...] = (
    TagSensorDescription(
        key="zone",
        translation_key="zone",
        device_class=SensorDeviceClass.ENUM,
        value_fn=lambda runtime, view: (
            None
            if view.estimate is None
            else runtime.coordinator.zones[view.zone].name
            if view.zone in runtime.coordinator.zones
            else NO_ZONE
        ),
    ),
    TagSensorDescription(
        key="accuracy",
        translation_key="accuracy",
        device_class=SensorDeviceClass.DISTANCE,
        native_unit_of_measurement=UnitOfLength.METERS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda _, view: (
            None if view.estimate is None else round(view.estimate.accuracy, 1)
        ),
    ),
    TagSensorDescription(
        key="last_seen",
        translation_key="last_seen",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        # To the minute: a tag in view is seen every second, and a state per publish (every
        # few seconds) was a third of the site's state writes, each a recorder row.
        value_fn=lambda _, view: (
            None if view.last_seen is None else view.last_seen.replace(second=0, microsecond=0)
        ),
        kept_while_missing=True,
    ),
    TagSensorDescription(
        key="battery",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda runtime, view: runtime.battery.views[view.id].level,
        exists_fn=lambda runtime, tag_id: tag_id in runtime.battery.views,
        kept_while_missing=True,
    ),
    TagSensorDescription(
        key="nearest_receiver",
        translation_key="nearest_receiver",
        value_fn=lambda runtime, view: (
            None
            if view.nearest_receiver is None
            else runtime.coordinator.receivers[view.nearest_receiver].name
        ),
    ),
)


@dataclass(frozen=True, kw_only=True)
class PhoneSensorDescription(SensorEntityDescription):
    """A phone sensor and how to read it from the phone's view."""

    value_fn: Callable[[PhoneView], SensorValue]


PHONE_SENSORS: tuple[PhoneSensorDescription, ...] = (
    PhoneSensorDescription(
        key="check_in",
        translation_key="check_in",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=check_in_time,
    ),
    PhoneSensorDescription(
        key="check_in_due",
        translation_key="check_in_due",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=check_in_due,
    ),
    PhoneSensorDescription(
        key="battery",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda view: None if view.battery is None else round(view.battery),
    ),
)

DISTANCE = SensorEntityDescription(
    key="distance",
    translation_key="distance",
    device_class=SensorDeviceClass.DISTANCE,
    native_unit_of_measurement=UnitOfLength.METERS,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
)
OCCUPANCY = SensorEntityDescription(
    key="occupancy",
    translation_key="occupancy",
    state_class=SensorStateClass.MEASUREMENT,
)
ADVERT_RATE = SensorEntityDescription(
    key="advert_rate",
    translation_key="advert_rate",
    native_unit_of_measurement="adverts/s",
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BleRtlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Sensors for every tag, zone, receiver and phone of the site."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    entities: list[SensorEntity] = []
    registry = er.async_get(hass)
    for tag_id in coordinator.tags:
        for description in TAG_SENSORS:
            if description.exists_fn(runtime, tag_id):
                entities.append(TagSensor(runtime, tag_id, description))
                continue
            # A sensor turned off in the options (battery reading) goes from the registry.
            turned_off = unique_id(entry.entry_id, "tag", tag_id, description.key)
            if entity_id := registry.async_get_entity_id("sensor", DOMAIN, turned_off):
                registry.async_remove(entity_id)
    entities += [
        DistanceSensor(runtime, tag_id, receiver_id)
        for tag_id in coordinator.tags
        for receiver_id in coordinator.receivers
    ]
    entities += [ZoneOccupancySensor(runtime, zone_id) for zone_id in coordinator.zones]
    entities += [ReceiverRateSensor(runtime, rid) for rid in coordinator.receivers]
    entities += [
        PhoneSensor(runtime, phone_id, description)
        for phone_id in runtime.phones.phones
        for description in PHONE_SENSORS
    ]
    async_add_entities(entities)


class TagSensor(BleRtlsEntity, SensorEntity):
    """One described value of a tag."""

    entity_description: TagSensorDescription

    def __init__(
        self, runtime: SiteRuntime, tag_id: str, description: TagSensorDescription
    ) -> None:
        super().__init__(runtime, "tag", tag_id, description)
        self._view = runtime.coordinator.tags[tag_id]
        if description.device_class is SensorDeviceClass.ENUM:
            self._attr_options = [zone.name for zone in runtime.coordinator.zones.values()] + [
                NO_ZONE
            ]

    @property
    def available(self) -> bool:
        """Unavailable while the tag is missing, unless the value outlives its position."""
        return self.entity_description.kept_while_missing or not self._view.missing

    @property
    def native_value(self) -> SensorValue:
        """Read from the tag's published view."""
        return self.entity_description.value_fn(self.runtime, self._view)


class DistanceSensor(BleRtlsEntity, SensorEntity):
    """Horizontal distance from a tag's position to one receiver (disabled by default)."""

    def __init__(self, runtime: SiteRuntime, tag_id: str, receiver_id: str) -> None:
        super().__init__(runtime, "tag", tag_id, DISTANCE, f"_{receiver_id}")
        self._view = runtime.coordinator.tags[tag_id]
        self._receiver_id = receiver_id
        self._attr_translation_placeholders = {
            "receiver": runtime.coordinator.receivers[receiver_id].name
        }

    @property
    def available(self) -> bool:
        """Unavailable while the tag is missing."""
        return not self._view.missing

    @property
    def native_value(self) -> float | None:
        """None while the tag is on another floor than the receiver."""
        return self._view.distances.get(self._receiver_id)


class ZoneOccupancySensor(BleRtlsEntity, SensorEntity):
    """How many tags are in the zone."""

    def __init__(self, runtime: SiteRuntime, zone_id: str) -> None:
        super().__init__(runtime, "zone", zone_id, OCCUPANCY)
        self._view: ZoneView = runtime.coordinator.zones[zone_id]

    @property
    def native_value(self) -> int:
        """Count of tags whose published zone is this one."""
        return len(self._view.occupants)

    @property
    def extra_state_attributes(self) -> dict[str, list[str]]:
        """Names of the tags in the zone."""
        return {"tags": sorted(self.coordinator.tags[t].name for t in self._view.occupants)}


class ReceiverRateSensor(BleRtlsEntity, SensorEntity):
    """Adverts of tracked tags per second heard by the receiver."""

    def __init__(self, runtime: SiteRuntime, receiver_id: str) -> None:
        super().__init__(runtime, "receiver", receiver_id, ADVERT_RATE)
        self._view: ReceiverView = runtime.coordinator.receivers[receiver_id]

    @property
    def available(self) -> bool:
        """Unavailable while the receiver is silent; its online sensor says so."""
        return self._view.online is not False

    @property
    def native_value(self) -> float:
        """Averaged over the last rate period."""
        return self._view.rate

    @property
    def extra_state_attributes(self) -> dict[str, object] | None:
        """For a Pi proxy: everything it streamed, what it dropped while HA was away."""
        proxy = proxies(self.hass).get(self._item_id)
        if proxy is None:
            return None
        return {
            "pi_proxy_version": proxy.version,
            "adverts_streamed": proxy.adverts,
            "dropped_by_proxy": proxy.dropped,
        }


class PhoneSensor(BleRtlsEntity, SensorEntity):
    """One described value of a companion phone."""

    entity_description: PhoneSensorDescription

    def __init__(
        self, runtime: SiteRuntime, phone_id: str, description: PhoneSensorDescription
    ) -> None:
        super().__init__(runtime, "phone", phone_id, description)
        self._view = runtime.phones.phones[phone_id]

    @property
    def native_value(self) -> SensorValue:
        """Read from the phone's view."""
        return self.entity_description.value_fn(self._view)

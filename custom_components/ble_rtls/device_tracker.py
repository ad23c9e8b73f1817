"""Trackers per tag (state: home on site, not_home when missing) and per companion phone.

A tag's room is its Zone sensor: a tracker's state names only zones HA knows. A phone's
tracker shows its GPS, or indoors the person's tag when that is fresher and finer.
"""

from __future__ import annotations

import math

from homeassistant.components.device_tracker.const import SourceType
from homeassistant.components.zone import ENTITY_ID_HOME
from homeassistant.const import STATE_HOME, STATE_NOT_HOME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.util import dt as dt_util

from .compat import TRACKER_HAS_IN_ZONES, TrackerEntity
from .const import ATTR_FLOOR, ATTR_X, ATTR_Y, ATTR_ZONE
from .engine import Estimate
from .entity import BleRtlsEntity
from .runtime import BleRtlsConfigEntry, SiteRuntime

# Pushed by the coordinator; nothing is polled or fetched per entity.
PARALLEL_UPDATES = 0

TRACKER = EntityDescription(key="location", translation_key="location", name=None)
PHONE_TRACKER = EntityDescription(key="location", translation_key="phone_location", name=None)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BleRtlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One tracker per tag and per phone of the site."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    entities: list[TrackerEntity] = [TagTracker(runtime, tag_id) for tag_id in coordinator.tags]
    entities += [PhoneTracker(runtime, phone_id) for phone_id in runtime.phones.phones]
    async_add_entities(entities)


class TagTracker(BleRtlsEntity, TrackerEntity, RestoreEntity):
    """Where a tag is on the site plan (and on Earth, when the site is anchored)."""

    _attr_source_type = SourceType.BLUETOOTH_LE

    def __init__(self, runtime: SiteRuntime, tag_id: str) -> None:
        super().__init__(runtime, "tag", tag_id, TRACKER)
        self._view = runtime.coordinator.tags[tag_id]

    async def async_added_to_hass(self) -> None:
        """Restore the last known position until the engine has a new one."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or last.attributes.get(ATTR_X) is None:
            return
        attributes = last.attributes
        try:
            x, y = float(attributes[ATTR_X]), float(attributes[ATTR_Y])
            floor = int(attributes.get(ATTR_FLOOR, 0))
            accuracy = float(attributes.get("accuracy_m", 0.0))
        except (KeyError, TypeError, ValueError, OverflowError):
            return  # a damaged restore file: the tag waits for its first fix instead
        if not all(math.isfinite(value) for value in (x, y, accuracy)):
            return
        zone = attributes.get(ATTR_ZONE)
        self.coordinator.async_restore(
            self._item_id,
            Estimate(
                time=0.0,
                tag=self._item_id,
                x=x,
                y=y,
                floor=floor,
                accuracy=accuracy,
                zone=zone if isinstance(zone, str) and zone in self.coordinator.zones else None,
                receivers=0,
                method="baseline",
            ),
        )

    def _on_site(self) -> bool | None:
        """Whether the tag is on site; None before its first fix or on an anchored site.

        An anchored site's tags are placed by their latitude and longitude.
        """
        view = self._view
        if view.missing:
            return False
        if view.estimate is None or self._lat_lon() is not None:
            return None
        return True

    if TRACKER_HAS_IN_ZONES:

        @property
        def in_zones(self) -> list[str] | None:
            """Home while on site, no zone when missing."""
            on_site = self._on_site()
            return None if on_site is None else [ENTITY_ID_HOME] if on_site else []

    else:

        @property
        def location_name(self) -> str | None:
            """Home while on site, not_home when missing (before HA had `in_zones`)."""
            on_site = self._on_site()
            return None if on_site is None else STATE_HOME if on_site else STATE_NOT_HOME

    @property
    def latitude(self) -> float | None:
        """Latitude when the site has a geo anchor."""
        position = self._lat_lon()
        return None if position is None else position[0]

    @property
    def longitude(self) -> float | None:
        """Longitude when the site has a geo anchor."""
        position = self._lat_lon()
        return None if position is None else position[1]

    @property
    def location_accuracy(self) -> int:
        """The engine's 1-sigma radius, whole metres as HA expects."""
        estimate = self._view.estimate
        return 0 if estimate is None else max(1, round(estimate.accuracy))

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """Site coordinates and zone id, for automations and the map."""
        estimate = self._view.estimate
        if estimate is None:
            return {}
        return {
            ATTR_X: round(estimate.x, 2),
            ATTR_Y: round(estimate.y, 2),
            ATTR_FLOOR: estimate.floor,
            ATTR_ZONE: self._view.zone,
            "accuracy_m": round(estimate.accuracy, 2),
        }

    def _lat_lon(self) -> tuple[float, float] | None:
        estimate = self._view.estimate
        return None if estimate is None else self.coordinator.lat_lon(estimate)


class PhoneTracker(BleRtlsEntity, TrackerEntity):
    """Where the phone's person is: GPS outdoors, the linked tag indoors (fresher and finer).

    Its state is kept in the phones' storage, so a restart shows the last fix at once.
    """

    _attr_source_type = SourceType.GPS

    def __init__(self, runtime: SiteRuntime, phone_id: str) -> None:
        super().__init__(runtime, "phone", phone_id, PHONE_TRACKER)
        self._phones = runtime.phones

    @property
    def latitude(self) -> float | None:
        """Latitude of the best fix."""
        fix = self._phones.fix(self._item_id)
        return None if fix is None else fix.latitude

    @property
    def longitude(self) -> float | None:
        """Longitude of the best fix."""
        fix = self._phones.fix(self._item_id)
        return None if fix is None else fix.longitude

    @property
    def location_accuracy(self) -> int:
        """1-sigma radius of the best fix, whole metres."""
        fix = self._phones.fix(self._item_id)
        return 0 if fix is None else max(1, round(fix.accuracy))

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """Which source won, when the fix was taken, and the site zone indoors."""
        fix = self._phones.fix(self._item_id)
        if fix is None:
            return {}
        return {
            "source": fix.source,
            "fix_time": dt_util.utc_from_timestamp(fix.time).isoformat(),
            "altitude": fix.altitude,
            "speed": fix.speed,
            ATTR_ZONE: fix.zone,
        }

"""Shims for the Home Assistant releases this integration supports, 2025.4 to the newest.

Each uses the newer API where the running release has it and names what an older release
lacks, so it can go once the oldest supported release has the newer API too.
"""

from __future__ import annotations

from typing import cast

# The tracker's base class from the package, as 2027.6 wants it (2025.4 does not list it in
# the package's exports, hence the ignore).
from homeassistant.components.device_tracker import (  # type: ignore[attr-defined,unused-ignore]
    TrackerEntity,
)
from homeassistant.helpers import device_registry as dr

__all__ = ["TRACKER_HAS_IN_ZONES", "TrackerEntity", "device_by_identifier", "via_device"]

# 2026.7: a tracker says where it is by the HA zones it is in; `location_name` is
# unsupported from 2027.7.
TRACKER_HAS_IN_ZONES = "in_zones" in vars(TrackerEntity)

# 2026.8: a device names its parent by the parent's device id; `via_device` goes in 2027.8,
# and `async_get_device` with it (identifiers are unique per config entry only).
_VIA_DEVICE_ID = "via_device_id" in dr.DeviceInfo.__annotations__


def via_device(parent: dr.DeviceEntry) -> dr.DeviceInfo:
    """The DeviceInfo part that makes `parent` the device's parent."""
    if _VIA_DEVICE_ID:
        return cast(dr.DeviceInfo, {"via_device_id": parent.id})
    (identifier,) = parent.identifiers
    return dr.DeviceInfo(via_device=identifier)


def device_by_identifier(
    registry: dr.DeviceRegistry, identifier: tuple[str, str], entry_id: str
) -> dr.DeviceEntry | None:
    """The config entry's device with this identifier."""
    lookup = getattr(registry, "async_get_device_by_identifier", None)
    if lookup is not None:
        return cast(dr.DeviceEntry | None, lookup(identifier, entry_id))
    return registry.async_get_device(identifiers={identifier})

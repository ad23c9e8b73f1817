"""One site's parts, wired together as its config entry's `runtime_data`.

The coordinator locates tags; the phones and the battery reader follow its tags. None of
them knows the others' owner, so no module imports back into another.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.helpers.device_registry import DeviceEntry

from .battery import BatteryReader
from .coordinator import SiteCoordinator
from .phones import PhoneHub

type BleRtlsConfigEntry = ConfigEntry[SiteRuntime]


@dataclass(frozen=True, slots=True)
class SiteRuntime:
    """The site's coordinator, phones, tags' battery reader and device (its items' parent)."""

    coordinator: SiteCoordinator
    phones: PhoneHub
    battery: BatteryReader
    site_device: DeviceEntry

    def item_name(self, kind: str, item_id: str) -> str:
        """Display name of a tag, zone, receiver or phone."""
        if kind == "phone":
            return self.phones.phones[item_id].name
        return self.coordinator.item_name(kind, item_id)

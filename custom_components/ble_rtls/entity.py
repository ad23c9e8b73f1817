"""What every BLE RTLS entity shares: naming, device, unique id and signal wiring."""

from __future__ import annotations

from typing import Literal

from homeassistant.core import callback
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription

from .compat import via_device
from .ids import device_identifier, signal, unique_id
from .runtime import SiteRuntime

type ItemKind = Literal["tag", "zone", "receiver", "phone"]

MODELS: dict[ItemKind, str] = {
    "tag": "Tag",
    "zone": "Zone",
    "receiver": "Receiver",
    "phone": "Companion phone",
}


class BleRtlsEntity(Entity):
    """An entity of one tag, zone, receiver or phone; refreshed when its signal fires."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _written: tuple[object, object, object] | None = None

    def __init__(
        self,
        runtime: SiteRuntime,
        kind: ItemKind,
        item_id: str,
        description: EntityDescription,
        unique_suffix: str = "",
    ) -> None:
        self.runtime = runtime
        self.coordinator = coordinator = runtime.coordinator
        self.entity_description = description
        self._kind = kind
        self._item_id = item_id
        area_id = coordinator.zones[item_id].area_id if kind == "zone" else None
        area = ar.async_get(coordinator.hass).async_get_area(area_id) if area_id else None
        self._attr_unique_id = (
            unique_id(coordinator.entry_id, kind, item_id, description.key) + unique_suffix
        )
        self._attr_device_info = DeviceInfo(
            identifiers={device_identifier(coordinator.entry_id, kind, item_id)},
            name=runtime.item_name(kind, item_id),
            manufacturer="BLE RTLS",
            model=MODELS[kind],
            suggested_area=area.name if area else None,
        )
        self._attr_device_info.update(via_device(runtime.site_device))

    async def async_added_to_hass(self) -> None:
        """Follow the coordinator's signal for this item; unloading disconnects it."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal(self.coordinator.entry_id, self._kind, self._item_id),
                self._async_refresh,
            )
        )

    @callback
    def _async_refresh(self) -> None:
        """Write only what changed: a tag's signal reaches all its entities, most unchanged."""
        snapshot = (self.available, self.state, self.extra_state_attributes)
        if snapshot == self._written:
            return
        self._written = snapshot
        self.async_write_ha_state()

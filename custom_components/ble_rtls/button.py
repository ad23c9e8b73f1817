"""Buttons: acknowledge a companion phone's alarm from its device page or a dashboard."""

from __future__ import annotations

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .entity import BleRtlsEntity
from .runtime import BleRtlsConfigEntry, SiteRuntime

ACKNOWLEDGE = ButtonEntityDescription(key="acknowledge", translation_key="acknowledge")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BleRtlsConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """An Acknowledge button per phone."""
    runtime = entry.runtime_data
    async_add_entities(AcknowledgeButton(runtime, phone_id) for phone_id in runtime.phones.phones)


class AcknowledgeButton(BleRtlsEntity, ButtonEntity):
    """Ends the phone's active alarm as answered by whoever pressed it; the phone is told."""

    def __init__(self, runtime: SiteRuntime, phone_id: str) -> None:
        super().__init__(runtime, "phone", phone_id, ACKNOWLEDGE)

    async def async_press(self) -> None:
        """Acknowledge, or say there is no alarm to answer."""
        user_id = self._context.user_id if self._context is not None else None
        if not await self.runtime.phones.async_acknowledge(self._item_id, user_id):
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_alarm")

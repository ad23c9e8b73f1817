"""Device triggers on a tag: entered a zone, left a zone, went missing."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
    CONF_ZONE,
)
from homeassistant.core import CALLBACK_TYPE, Context, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType

from .const import CONF_SITE, DOMAIN, EVENT_TAG_MISSING, EVENT_ZONE_CHANGED
from .ids import device_item
from .site_config import empty_document, names

ENTERED, LEFT, MISSING = "entered_zone", "left_zone", "missing"
TRIGGER_TYPES = (ENTERED, LEFT, MISSING)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES), vol.Optional(CONF_ZONE): str}
)


def _tag_zones(hass: HomeAssistant, device_id: str) -> dict[str, str] | None:
    """Zone id -> name of the site the tag device belongs to; None if not a tag."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None
    for entry in hass.config_entries.async_entries(DOMAIN):
        if device_item(entry.entry_id, "tag", device.identifiers) is not None:
            return names(entry.options.get(CONF_SITE) or empty_document(), "zones")
    return None


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, str]]:
    """The three triggers, for tag devices only."""
    if _tag_zones(hass, device_id) is None:
        return []
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: kind}
        for kind in TRIGGER_TYPES
    ]


async def async_get_trigger_capabilities(
    hass: HomeAssistant, config: ConfigType
) -> dict[str, vol.Schema]:
    """Zone triggers may be narrowed to one zone of the tag's site."""
    zones = _tag_zones(hass, config[CONF_DEVICE_ID]) or {}
    if config[CONF_TYPE] == MISSING or not zones:
        return {}
    return {"extra_fields": vol.Schema({vol.Optional(CONF_ZONE): vol.In(zones)})}


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """An event trigger on our events, filtered to this device (and zone)."""
    kind = config[CONF_TYPE]
    event_data: dict[str, Any] = {"device_id": config[CONF_DEVICE_ID]}
    if kind != MISSING and CONF_ZONE in config:
        event_data["to_zone" if kind == ENTERED else "from_zone"] = config[CONF_ZONE]
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_TAG_MISSING
            if kind == MISSING
            else EVENT_ZONE_CHANGED,
            CONF_EVENT_DATA: event_data,
        }
    )
    if kind != MISSING and CONF_ZONE not in config:
        return await _attach_any_zone(hass, event_config, action, trigger_info, kind)
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )


async def _attach_any_zone(
    hass: HomeAssistant,
    event_config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
    kind: str,
) -> CALLBACK_TYPE:
    """Entered any zone: the event must have a to_zone; left any: a from_zone."""
    key = "to_zone" if kind == ENTERED else "from_zone"

    async def filtered(run_variables: dict[str, Any], context: Context | None = None) -> None:
        if run_variables["trigger"]["event"].data.get(key) is None:
            return
        result = action(run_variables, context)
        if result is not None:
            await result

    return await event_trigger.async_attach_trigger(
        hass, event_config, filtered, trigger_info, platform_type="device"
    )

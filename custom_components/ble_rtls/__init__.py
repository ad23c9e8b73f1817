"""BLE RTLS: Bluetooth real-time location on a site plan, and companion phones' alarms."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.typing import ConfigType

from .battery import BatteryReader, battery_enabled
from .const import CONF_PHONES, CONF_SETTINGS, CONF_SITE, DEFAULT_SETTINGS, DOMAIN
from .coordinator import SiteCoordinator, calibration_store
from .engine import SiteError
from .ids import device_identifier, site_loaded_signal
from .panel import async_register_panel
from .phones import PHONE_STORES, PhoneHub, phone_store
from .plans import PlanView
from .proxy_stream import async_setup_proxy_stream, unplaced_issue_id
from .runtime import BleRtlsConfigEntry, SiteRuntime
from .services import async_setup_services
from .site_api import async_setup_site_api
from .site_config import empty_document, validate_document

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.DEVICE_TRACKER,
    Platform.IMAGE,
    Platform.SENSOR,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, the websocket commands, the plans' address and the panel, once."""
    async_setup_services(hass)
    async_setup_proxy_stream(hass)
    async_setup_site_api(hass)
    hass.http.register_view(PlanView())
    await async_register_panel(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BleRtlsConfigEntry) -> bool:
    """Start locating one site."""
    try:
        document = validate_document(entry.options.get(CONF_SITE) or empty_document(), entry.title)
    except SiteError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_site",
            translation_placeholders={"error": str(err)},
        ) from err
    settings = {**DEFAULT_SETTINGS, **entry.options.get(CONF_SETTINGS, {})}
    coordinator = SiteCoordinator(hass, entry.entry_id, entry.title, document, settings)
    phones = PhoneHub(hass, coordinator, entry.options.get(CONF_PHONES, []))
    battery = BatteryReader(
        coordinator, [item["id"] for item in document["tags"] if battery_enabled(item)]
    )
    await phones.async_load()
    await coordinator.async_load_calibration()
    site_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.entry_id)},
        name=entry.title,
        manufacturer="BLE RTLS",
        model="Site",
    )
    entry.runtime_data = runtime = SiteRuntime(coordinator, phones, battery, site_device)
    _remove_stale_devices(hass, entry, runtime)
    for receiver_id in coordinator.receivers:  # a Pi proxy placed here is no longer unplaced
        ir.async_delete_issue(hass, DOMAIN, unplaced_issue_id(receiver_id))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(coordinator.async_start())
    entry.async_on_unload(phones.async_start())
    entry.async_on_unload(battery.async_start())
    entry.async_on_unload(entry.add_update_listener(_async_reload))
    async_dispatcher_send(hass, site_loaded_signal(entry.entry_id))  # live maps follow it
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BleRtlsConfigEntry) -> bool:
    """Stop locating, keeping what the self-calibration learnt and the phones' records.

    The coordinator's undo runs through `async_on_unload`.
    """
    await entry.runtime_data.coordinator.async_save_calibration()
    await entry.runtime_data.phones.async_flush()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BleRtlsConfigEntry) -> None:
    """A removed site leaves nothing in storage: its calibration and its phones' records."""
    await calibration_store(hass, entry.entry_id).async_remove()
    await phone_store(hass, entry.entry_id).async_remove()
    hass.data[PHONE_STORES].pop(entry.entry_id, None)


async def _async_reload(hass: HomeAssistant, entry: BleRtlsConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


def _remove_stale_devices(
    hass: HomeAssistant, entry: BleRtlsConfigEntry, runtime: SiteRuntime
) -> None:
    """Devices of tags, zones, receivers and phones removed from the site go with them."""
    coordinator = runtime.coordinator
    current = {(DOMAIN, entry.entry_id)} | {
        device_identifier(entry.entry_id, kind, item_id)
        for kind, items in (
            ("tag", coordinator.tags),
            ("zone", coordinator.zones),
            ("receiver", coordinator.receivers),
            ("phone", runtime.phones.phones),
        )
        for item_id in items
    }
    registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not device.identifiers & current:
            registry.async_remove_device(device.id)

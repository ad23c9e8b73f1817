"""Diagnostics: the site, settings and live state, with identities and addresses redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .proxy_stream import proxies
from .runtime import BleRtlsConfigEntry

TO_REDACT = {
    "address",
    "beacon",
    "last_error",
    "ibeacon",
    "irk",
    "geo_anchor",
    "tracked_addresses",
    "secret",
    "webhook_id",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BleRtlsConfigEntry
) -> dict[str, Any]:
    """What support needs to see how a site is set up and behaving."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    engine = coordinator.engine
    return async_redact_data(
        {
            "options": dict(entry.options),
            "tracked_addresses": coordinator.tracked_addresses(),
            "tags": {
                tag_id: {
                    "zone": view.zone,
                    "missing": view.missing,
                    "battery": None
                    if (reading := runtime.battery.views.get(tag_id)) is None
                    else {
                        "level": reading.level,
                        "failures": reading.failures,
                        "last_error": reading.last_error,
                    },
                    "estimate": None
                    if view.estimate is None
                    else {
                        "x": view.estimate.x,
                        "y": view.estimate.y,
                        "floor": view.estimate.floor,
                        "accuracy": view.estimate.accuracy,
                        "receivers": view.estimate.receivers,
                        "method": view.estimate.method,
                    },
                }
                for tag_id, view in coordinator.tags.items()
            },
            "receivers": {
                rid: {"online": view.online, "rate": view.rate}
                for rid, view in coordinator.receivers.items()
            },
            "engine": None
            if engine is None
            else {"calibration_resumed": coordinator.calibration_resumed, **engine.diagnostics()},
            "recent_adverts": len(coordinator.recent_adverts),
            "pi_proxies": {
                source: {
                    "name": proxy.name,
                    "online": proxy.online,
                    "version": proxy.version,
                    "adverts": proxy.adverts,
                    "dropped": proxy.dropped,
                    "buffered": proxy.buffered,
                }
                for source, proxy in proxies(hass).items()
            },
            # Whether phones report, never where their people are.
            "phones": {
                phone_id: {
                    "has_fix": view.gps is not None,
                    "battery": view.battery,
                    "panic": None if view.panic is None else view.panic.state,
                    "panic_ids_kept": len(view.panic_ids),
                    "timer": None if view.timer is None else view.timer.state,
                }
                for phone_id, view in runtime.phones.phones.items()
            },
        },
        TO_REDACT,
    )

"""Diagnostics: the site, settings and live state, with identities and addresses redacted."""

from __future__ import annotations

from typing import Any

import numpy as np
from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from . import BleRtlsConfigEntry
from .proxy_stream import proxies

TO_REDACT = {
    "address",
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
    coordinator = entry.runtime_data
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
                    if (reading := coordinator.battery.views.get(tag_id)) is None
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
            else {
                "calibration_resumed": coordinator.calibration_resumed,
                "exponent": engine.calibration.exponent,
                "noise_db": engine.calibration.noise_db,
                "receiver_bias_db": {
                    receiver.id: round(float(bias), 2)
                    for receiver, bias in zip(
                        coordinator.site.receivers, engine.calibration.biases, strict=True
                    )
                },
                # Receivers whose bias their pairs measure (they hear each other's beacons).
                "bias_measured": [
                    coordinator.site.receivers[index].id
                    for index in sorted(engine.calibration.measured)
                ],
                "tag_ref_rssi_1m": engine.calibration.tag_ref,
                # Per floor, how finely positions are weighed, how many walls the zones
                # marked as rooms give (a room left unmarked shows as missing walls), the
                # survey points and how far they move the model (RMS dB, None before use).
                "grid": {
                    str(floor): {
                        "step_m": round(grid.step, 2),
                        "points": int(grid.xs.size),
                        "walls": len(grid.wall_segments),
                        "survey_points": sum(p.floor == floor for p in coordinator.site.survey),
                        "survey_correction_db": None
                        if grid.correction is None
                        else round(float(np.sqrt(np.mean(grid.correction**2))), 2),
                    }
                    for floor, grid in engine.grids.items()
                },
                "unknown_receivers": engine.unknown_receivers,
            },
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
                }
                for phone_id, view in coordinator.phones.phones.items()
            },
        },
        TO_REDACT,
    )

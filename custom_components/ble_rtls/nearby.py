"""The strongest devices Home Assistant hears now that are not yet a site's tags.

A new tag is picked from them, in the options flow and over the websocket API.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant

from .identity import Identity, ibeacon_id, identity_of, normalize
from .site_config import SiteDocument

NEARBY_COUNT = 20


@dataclass(frozen=True, slots=True)
class NearbyDevice:
    """A device heard now: how it would be tracked, its name ("" if none) and its signal."""

    identity: Identity
    name: str
    address: str
    rssi: int
    ibeacon: str | None


def nearby_devices(hass: HomeAssistant, document: SiteDocument) -> list[NearbyDevice]:
    """Strongest first, one per identity (an iBeacon over its rotating addresses)."""
    taken = {identity_of(item) for item in document["tags"]}
    found: dict[Identity, NearbyDevice] = {}
    infos = sorted(
        bluetooth.async_discovered_service_info(hass, connectable=False),
        key=lambda info: info.rssi,
        reverse=True,
    )
    for info in infos:
        beacon = ibeacon_id(info.manufacturer_data)
        identity = normalize("ibeacon", beacon) if beacon else normalize("address", info.address)
        if identity in taken or identity in found:
            continue
        name = info.name if info.name != info.address else ""
        found[identity] = NearbyDevice(identity, name, info.address, info.rssi, beacon)
        if len(found) == NEARBY_COUNT:
            break
    return list(found.values())

"""Bleak devices for the simulated radios that feed a Pi proxy, on bleak 0.22 and 3.

Bleak 0.22 (Home Assistant 2025.4's pin) takes a device's RSSI; bleak 1 and later take none
(it is in the advertisement data) and warn when given one.
"""

from __future__ import annotations

import inspect

from bleak.backends.device import BLEDevice

_TAKES_RSSI = "rssi" in inspect.signature(BLEDevice.__init__).parameters


def ble_device(address: str, rssi: int) -> BLEDevice:
    """A device as bleak's scanner reports it."""
    if _TAKES_RSSI:
        return BLEDevice(address, None, None, rssi)  # type: ignore[call-arg,unused-ignore]
    return BLEDevice(address, None, None)  # type: ignore[call-arg,unused-ignore]

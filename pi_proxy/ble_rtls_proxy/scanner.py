"""Scanning with bleak: passive where BlueZ allows it, else active; adverts into the buffer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from .buffer import AdvertBuffer

_LOGGER = logging.getLogger(__name__)
SYS_BLUETOOTH: Final = Path("/sys/class/bluetooth")


class AdapterError(RuntimeError):
    """The Bluetooth adapter is missing or cannot scan; the message says what to check."""


class Scanner(Protocol):
    """What the proxy needs of bleak's BleakScanner (tests give a fake backend)."""

    async def start(self) -> None:
        """Start scanning."""

    async def stop(self) -> None:
        """Stop scanning."""


type ScannerFactory = Callable[..., Scanner]


def adapter_address(adapter: str, root: Path = SYS_BLUETOOTH) -> str:
    """The adapter's MAC address (the proxy's identity in HA), from sysfs."""
    try:
        return (root / adapter / "address").read_text().strip().upper()
    except OSError:
        raise AdapterError(
            f"Bluetooth adapter {adapter} not found: list adapters with `bluetoothctl list`,"
            " or set `adapter` (and `source`) in the configuration"
        ) from None


def passive_arguments() -> dict[str, Any]:
    """BlueZ passive scanning needs patterns; these match every advert that has flags."""
    from bleak.assigned_numbers import AdvertisementDataType  # noqa: PLC0415

    try:  # bleak 1 and later
        from bleak.args.bluez import (  # type: ignore[import-not-found,unused-ignore] # noqa: PLC0415
            BlueZScannerArgs,
            OrPattern,
        )
    except ImportError:  # bleak 0.22, as Home Assistant 2025.4 pins it
        from bleak.backends.bluezdbus.advertisement_monitor import (  # noqa: PLC0415
            OrPattern,
        )
        from bleak.backends.bluezdbus.scanner import BlueZScannerArgs  # noqa: PLC0415

    patterns: list[OrPattern | tuple[int, AdvertisementDataType, bytes]] = [
        OrPattern(0, AdvertisementDataType.FLAGS, bytes([flags])) for flags in (2, 6, 0x1A)
    ]
    return {"bluez": BlueZScannerArgs(or_patterns=patterns)}


def to_advert(device: BLEDevice, data: AdvertisementData, monotonic: float) -> dict[str, Any]:
    """The wire form HA's `ble_rtls/proxy/adverts` command reads."""
    advert: dict[str, Any] = {
        "address": device.address.upper(),
        "rssi": data.rssi,
        "time": monotonic,
        "wall": time.time(),
    }
    if data.local_name:
        advert["name"] = data.local_name
    if data.tx_power is not None:
        advert["tx_power"] = data.tx_power
    if data.manufacturer_data:
        advert["manufacturer_data"] = {str(k): v.hex() for k, v in data.manufacturer_data.items()}
    if data.service_data:
        advert["service_data"] = {k.lower(): v.hex() for k, v in data.service_data.items()}
    if data.service_uuids:
        advert["service_uuids"] = [u.lower() for u in data.service_uuids]
    return advert


class AdvertScanner:
    """Owns the bleak scanner; each detection becomes an advert in the buffer."""

    def __init__(
        self,
        adapter: str,
        mode: str,
        buffer: AdvertBuffer,
        factory: ScannerFactory = BleakScanner,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.adapter = adapter
        self.mode = mode
        self.buffer = buffer
        self.seen = 0
        self._factory = factory
        self._clock = clock
        self._scanner: Scanner | None = None

    def _detected(self, device: BLEDevice, data: AdvertisementData) -> None:
        self.seen += 1
        self.buffer.add(to_advert(device, data, self._clock()))

    async def start(self) -> str:
        """Start scanning; returns the mode used. AdapterError when nothing works."""
        modes = ["passive", "active"] if self.mode == "auto" else [self.mode]
        errors = []
        for mode in modes:
            extra = passive_arguments() if mode == "passive" else {}
            scanner = self._factory(
                detection_callback=self._detected,
                scanning_mode=mode,
                adapter=self.adapter,
                **extra,
            )
            try:
                await scanner.start()
            except (BleakError, OSError) as err:
                errors.append(f"{mode}: {err}")
                _LOGGER.warning("%s scanning on %s failed: %s", mode, self.adapter, err)
                continue
            self._scanner, self.mode = scanner, mode
            return mode
        raise AdapterError(
            f"cannot scan on {self.adapter} ({'; '.join(errors)}); is bluetoothd running"
            " and the adapter up (`bluetoothctl show`)?"
        )

    async def stop(self) -> None:
        """Stop scanning."""
        if self._scanner is not None:
            await self._scanner.stop()
            self._scanner = None

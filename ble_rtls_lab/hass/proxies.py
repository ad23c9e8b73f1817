"""Simulated proxies: remote scanners in HA's real bluetooth manager.

Each receiver of a site becomes a `BaseHaRemoteScanner`, registered like an ESPHome proxy,
so adverts take the path real proxies take. The radio model is the engine's log-distance
law with Gaussian noise; only the radio is simulated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from bluetooth_data_tools import monotonic_time_coarse
from habluetooth import BaseHaRemoteScanner
from homeassistant.components import bluetooth
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from custom_components.ble_rtls.engine import Receiver, expected_rssi


class SimulatedProxy(BaseHaRemoteScanner):
    """A remote scanner (passive unless `connectable`) whose adverts come from `hear`."""

    def __init__(self, source: str, name: str, connectable: bool = False) -> None:
        super().__init__(source, name, None, connectable)
        self._detach: list[CALLBACK_TYPE] = []

    @callback
    def attach(self, hass: HomeAssistant) -> None:
        """Connect to HA, as a proxy does when it comes online."""
        self._detach = [self.async_setup(), bluetooth.async_register_scanner(hass, self)]

    @callback
    def detach(self) -> None:
        """Disconnect from HA (idempotent)."""
        while self._detach:
            self._detach.pop()()

    @callback
    def hear(
        self,
        address: str,
        rssi: int,
        manufacturer_data: Mapping[int, bytes] | None = None,
        name: str | None = None,
    ) -> None:
        """One advertisement heard now, as a proxy would report it."""
        self._async_on_advertisement(
            address,
            rssi,
            name,
            [],
            {},
            dict(manufacturer_data or {}),
            None,
            {},
            monotonic_time_coarse(),
        )


@callback
def register_proxies(
    hass: HomeAssistant, receivers: Iterable[Receiver]
) -> tuple[dict[str, SimulatedProxy], CALLBACK_TYPE]:
    """Register one proxy per receiver; returns them by id and the undo."""
    proxies: dict[str, SimulatedProxy] = {}
    for receiver in receivers:
        proxy = SimulatedProxy(receiver.id, f"proxy-{receiver.id[-5:]}")
        proxy.attach(hass)
        proxies[receiver.id] = proxy

    @callback
    def unregister() -> None:
        for proxy in proxies.values():
            proxy.detach()

    return proxies, unregister


class Radio:
    """RSSI a receiver hears from a tag at (x, y): log-distance law plus noise."""

    def __init__(
        self,
        ref_rssi_1m: float = -59.0,
        exponent: float = 2.2,
        noise_db: float = 2.0,
        tag_height: float = 1.0,
        seed: int = 1,
    ) -> None:
        self.ref_rssi_1m = ref_rssi_1m
        self.exponent = exponent
        self.noise_db = noise_db
        self.tag_height = tag_height
        self.rng = np.random.default_rng(seed)

    def rssi(self, receiver: Receiver, x: float, y: float) -> int:
        """Whole dBm, as proxies report."""
        dist = math.dist((receiver.x, receiver.y, receiver.z), (x, y, self.tag_height))
        level = expected_rssi(dist, self.ref_rssi_1m, self.exponent)
        return round(level + float(self.rng.normal(0.0, self.noise_db)))

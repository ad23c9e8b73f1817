"""A Pi proxy process for the throughput benchmark: the real proxy (buffer, streamer,
websocket) fed by a synthetic radio at a fixed rate; prints its own CPU time as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from ble_rtls_proxy.cli import Proxy
from ble_rtls_proxy.config import ProxyConfig
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from ble_rtls_lab.hass.bleak_devices import ble_device

TICK = 0.01


class SyntheticRadio:
    """Stands in for bleak's scanner: `rate` adverts per second from `tags` devices."""

    def __init__(
        self,
        detection_callback: Callable[[BLEDevice, AdvertisementData], None],
        rate: float,
        tags: int,
        **_: Any,
    ) -> None:
        self.callback = detection_callback
        self.rate = rate
        self.devices = [
            ble_device(f"C0:FF:EE:00:{i // 256:02X}:{i % 256:02X}", -70) for i in range(tags)
        ]
        self.generated = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._emit())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _emit(self) -> None:
        started = time.monotonic()
        payload = {0x004C: bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010007c5")}
        while True:
            due = int((time.monotonic() - started) * self.rate)
            for _ in range(due - self.generated):
                device = self.devices[self.generated % len(self.devices)]
                rssi = -60 - self.generated % 30
                self.callback(
                    device,
                    AdvertisementData(None, payload, {}, [], None, rssi, ()),
                )
                self.generated += 1
            await asyncio.sleep(TICK)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    radio: SyntheticRadio | None = None

    def factory(**kwargs: Any) -> SyntheticRadio:
        nonlocal radio
        radio = SyntheticRadio(rate=args.rate, tags=args.tags, **kwargs)
        return radio

    config = ProxyConfig(
        server=args.server,
        token=args.token,
        name="bench",
        source="AA:00:00:00:0B:01",
        scanning="active",
        batch_interval=0.05,
        buffer=200_000,
    )
    proxy = Proxy(config, factory)
    stop = asyncio.Event()
    cpu = time.process_time()
    task = asyncio.create_task(proxy.run(stop))
    await asyncio.sleep(args.seconds)
    assert radio is not None
    await radio.stop()
    deadline = time.monotonic() + 30
    status = proxy.streamer.status
    while (len(proxy.buffer) or status.accepted < status.sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    return {
        "cpu_s": time.process_time() - cpu,
        "generated": radio.generated,
        "sent": proxy.streamer.status.sent,
        "refused_batches": proxy.streamer.status.refused_batches,
        "dropped": proxy.buffer.dropped,
        "left": len(proxy.buffer),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tags", type=int, default=300)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()

"""Pi proxy throughput: adverts per second one websocket connection carries into HA's
bluetooth manager, and the CPU per 1000 adverts on each side.

The proxy runs as its own process (the real proxy package; a synthetic radio stands in
for bleak's scanner) at increasing rates for a few seconds each; HA is a real test
instance with its HTTP server on loopback. Baseline, in the same HA process: the same
number of adverts handed straight to a remote scanner (what an ESPHome proxy's adverts
cost HA once decoded). HA's idle CPU over the same time is subtracted. The proxy sends
what it buffered every 0.5 s (its default), in batches of at most HA's `max_batch`
(2000). Run with `scripts/bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from bluetooth_data_tools import monotonic_time_coarse
from homeassistant.core import HomeAssistant

from ble_rtls_lab.hass.proxies import SimulatedProxy
from custom_components.ble_rtls.proxy_stream import proxies
from tests.integration.conftest import setup_site, two_room_site

RATES = [int(r) for r in os.environ.get("BENCH_PROXY_RATES", "1000,10000,60000,120000").split(",")]
SECONDS = 5.0
SOURCE = "AA:00:00:00:0B:01"


def _baseline(hass: HomeAssistant, count: int) -> float:
    """HA CPU seconds for `count` adverts handed straight to a remote scanner."""
    scanner = SimulatedProxy("AA:00:00:00:0B:02", "baseline")
    scanner.attach(hass)
    payload = {0x004C: bytes.fromhex("0215e2c56db5dffb48d2b060d0f5a71096e000010007c5")}
    started = time.process_time()
    for index in range(count):
        scanner._async_on_advertisement(  # the remote-scanner API
            f"C0:FF:EE:00:{index % 300 // 256:02X}:{index % 256:02X}",
            -60 - index % 30,
            None,
            [],
            {},
            payload,
            None,
            {},
            monotonic_time_coarse(),
        )
    cpu = time.process_time() - started
    scanner.detach()
    return cpu


async def test_proxy_throughput(
    hass: HomeAssistant, served: str, enable_bluetooth: None, hass_access_token: str
) -> None:
    await setup_site(hass, two_room_site(), {})
    print(f"\nPi proxy -> HA over one websocket, {SECONDS:.0f} s per rate, 300 tags:")
    print(
        f"  {'offered/s':>9} {'delivered/s':>11} {'dropped':>8} "
        f"{'HA ms CPU/1000':>14} {'baseline':>9} {'ratio':>6} {'proxy ms CPU/1000':>17}"
    )
    # What the HA test process burns with no proxy (timers, the test loop), per second.
    idle_cpu, idle_wall = time.process_time(), time.monotonic()
    await asyncio.sleep(SECONDS)
    idle = (time.process_time() - idle_cpu) / (time.monotonic() - idle_wall)
    print(f"  (HA idle: {1000 * idle:.1f} ms CPU per s, subtracted)")
    for rate in RATES:
        before = proxies(hass)[SOURCE].adverts if SOURCE in proxies(hass) else 0
        cpu = time.process_time()
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ble_rtls_lab.benchmarks.proxy_driver",
            "--server",
            served,
            "--token",
            hass_access_token,
            "--rate",
            str(rate),
            "--seconds",
            str(SECONDS),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await process.communicate()
        elapsed = time.monotonic() - started
        ha_cpu = time.process_time() - cpu - idle * elapsed
        proxy = json.loads(out.decode().strip().splitlines()[-1])
        received = proxies(hass)[SOURCE].adverts - before
        baseline = _baseline(hass, received)
        drain = max(SECONDS, elapsed - 1.0)  # the process start and handshake excluded
        print(
            f"  {rate:>9} {received / drain:>11.0f} {proxy['dropped']:>8} "
            f"{1e6 * ha_cpu / received:>14.1f} {1e6 * baseline / received:>9.1f} "
            f"{ha_cpu / baseline:>6.1f} {1e6 * proxy['cpu_s'] / proxy['sent']:>17.1f}"
        )
        assert received == proxy["sent"]

"""CPU the integration adds to a real Home Assistant, per 1000 adverts and per tag-second.

The same simulated stream goes through HA's real bluetooth manager (simulated proxies are
real remote scanners) five times per round: once without our integration, three times with
it set up, each simulated second followed by one coordinator tick as the 1 s timer would
do, and once with an engine that locates nothing. The figure is the process CPU time of the
second pass with it minus the pass without, median over rounds in the same process, with
asyncio's debug mode off as in a real Home Assistant. Printed beside it: the first pass,
just after set-up (the engine still learning the site's radio), and the last, what the
integration costs before it locates anything. Event-loop lag is how late a 1 ms timer fires
while a tick runs, watched in the third pass alone, as the watching costs CPU too. Run with
`scripts/bench`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ble_rtls_lab.hass.load import HOUSE, WAREHOUSE, Heard, Load, LoadSite
from ble_rtls_lab.hass.proxies import SimulatedProxy, register_proxies
from custom_components.ble_rtls.const import (
    CONF_LOCATE_INTERVAL,
    CONF_SETTINGS,
    CONF_SITE,
    DOMAIN,
)
from custom_components.ble_rtls.coordinator import SiteCoordinator
from custom_components.ble_rtls.engine import Advert, Engine, Estimate

SECONDS = {"house": 120, "warehouse": 30}
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


async def _run(
    hass: HomeAssistant,
    proxies: dict[str, SimulatedProxy],
    stream: list[list[Heard]],
    coordinator: SiteCoordinator | None,
    start: float,
    watch: bool = False,
) -> tuple[float, list[float]]:
    """Feed the stream, its seconds ticking from `start`; returns process CPU seconds and,
    when watching, the event-loop lags during ticks (the watching costs CPU of its own).
    """
    lags: list[float] = []
    now = start
    started = time.process_time()
    for second in stream:
        for receiver, address, rssi in second:
            proxies[receiver].hear(address, rssi)
        now += 1.0
        if coordinator is not None:
            if watch:
                watching = asyncio.Event()
                monitor = asyncio.create_task(_watch_loop(lags, watching))
                await asyncio.sleep(0)
            await coordinator.async_process(now)
            if watch:
                watching.set()
                await monitor
        await hass.async_block_till_done()
    return time.process_time() - started, lags


class AdapterOnly(Engine):
    """An engine that takes adverts and locates nothing: what the rest of the integration
    (reading HA's scanners, health, the tick) costs without it.
    """

    def observe(self, advert: Advert) -> bool:
        return True

    def update(self, now: float, limit: int | None = None) -> list[Estimate]:
        return []


async def _watch_loop(lags: list[float], done: asyncio.Event) -> None:
    """How late a 1 ms timer fires while a tick runs: how long the loop was held."""
    loop = asyncio.get_running_loop()
    while not done.is_set():
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        lags.append(max(loop.time() - due, 0.0))


@pytest.mark.parametrize(
    ("load", "locate_interval"),
    [(HOUSE, 1.0), (HOUSE, 2.0), (WAREHOUSE, 1.0)],
    ids=["house", "house-every-2s", "warehouse"],
)
async def test_added_cpu(
    hass: HomeAssistant, enable_bluetooth: None, load: Load, locate_interval: float
) -> None:
    """The default settings, and the house with each tag located every 2 s (the setting
    for a small machine).
    """
    site = LoadSite(load)
    document: dict[str, Any] = site.document()
    proxies, unregister = register_proxies(hass, site.receivers)
    stream = list(site.seconds(SECONDS[load.name]))
    adverts = sum(len(second) for second in stream)
    tracked = sum(1 for second in stream for _, address, _ in second if address.startswith("C0"))
    start = time.monotonic() + 10_000.0  # ahead of the real 1 s timer: it finds nothing due
    await _run(hass, proxies, stream[:5], None, start)  # warm HA's caches
    without, settling, with_, adapter, lags = [], [], [], [], []
    for round_ in range(ROUNDS):
        without.append((await _run(hass, proxies, stream, None, start))[0])
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=f"{load.name} {round_}",
            options={CONF_SITE: document, CONF_SETTINGS: {CONF_LOCATE_INTERVAL: locate_interval}},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        # The stream twice: just after set-up (learning the site's radio from the declared
        # values), then going on, as a site runs for days.
        settling.append(
            (await _run(hass, proxies, stream, entry.runtime_data.coordinator, start))[0]
        )
        coordinator: SiteCoordinator = entry.runtime_data.coordinator
        with_.append((await _run(hass, proxies, stream, coordinator, start + len(stream)))[0])
        lags += (await _run(hass, proxies, stream, coordinator, start + 2 * len(stream), True))[1]
        coordinator.engine = AdapterOnly(coordinator.site)
        adapter.append((await _run(hass, proxies, stream, coordinator, start + 3 * len(stream)))[0])
        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
    unregister()
    added = statistics.median(w - b for w, b in zip(with_, without, strict=True))
    after_set_up = statistics.median(w - b for w, b in zip(settling, without, strict=True))
    adapter_only = statistics.median(w - b for w, b in zip(adapter, without, strict=True))
    tag_seconds = load.tags * len(stream)
    lags.sort()
    print(
        f"\n{load.name}, each tag located every {locate_interval:.0f} s: "
        f"{len(site.receivers)} proxies, {load.tags} tags, "
        f"{adverts / len(stream):.0f} adverts/s ({tracked / len(stream):.0f} from tracked tags), "
        f"{len(stream)} s x {ROUNDS} rounds\n"
        f"  HA without integration: "
        f"{statistics.median(without) / adverts * 1e6:.1f} ms CPU per 1000 adverts\n"
        f"  added by the integration: {added / adverts * 1e6:.1f} ms CPU per 1000 adverts, "
        f"{added / tag_seconds * 1e6:.0f} us per tracked tag per second "
        f"({added / len(stream) * 100:.1f} % of one core, "
        f"{added / statistics.median(without):.1f}x HA's own for the same adverts); "
        f"in the first {len(stream)} s after set-up: {after_set_up / adverts * 1e6:.1f} ms\n"
        f"  of which the adapter alone (reading the scanners, an engine that locates nothing): "
        f"{adapter_only / adverts * 1e6:.1f} ms per 1000 adverts\n"
        f"  event-loop lag while ticking: p99 {lags[int(len(lags) * 0.99)] * 1e3:.1f} ms, "
        f"max {lags[-1] * 1e3:.1f} ms"
    )
    assert added > 0

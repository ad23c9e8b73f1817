"""Property: whatever the network and the app go through, every panic arrives exactly once.

Hypothesis draws what the person does (panics, locations, check-ins, app restarts) and what
the network does to each request (down, HTTP 500, timeout, reset after HA committed); the
app's real outbox and sender thread talk to HA's real webhook through a fault proxy.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import Fix, FixedLocationSource
from ble_rtls_companion.pairing import parse_pairing, save_pairing
from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ble_rtls.phones import pairing_payload

from .conftest import ALICE, until
from .fault_proxy import FAULTS, FaultProxy

ACTIONS = ("panic", "location", "check_in", "restart")
SENDER = {"backoff_base": 0.005, "backoff_max": 0.02, "timeout": 0.3}


@pytest.fixture
async def proxy(server: str, phone_entry: MockConfigEntry) -> AsyncIterator[FaultProxy]:
    fault_proxy = FaultProxy(int(server.rsplit(":", 1)[1]))
    await fault_proxy.start()
    yield fault_proxy
    await fault_proxy.stop()


def _app(folder: Path) -> Companion:
    return Companion(folder, FixedLocationSource(52.0, 5.0), sender_options=SENDER)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=8),
    faults=st.lists(st.sampled_from(FAULTS), max_size=10),
    note=st.text(max_size=40),
)
async def test_every_panic_arrives_exactly_once(
    hass: HomeAssistant,
    proxy: FaultProxy,
    events: Callable[[str], list[dict[str, Any]]],
    tmp_path_factory: pytest.TempPathFactory,
    actions: list[str],
    faults: list[str],
    note: str,
) -> None:
    panics = events("ble_rtls_panic")
    folder = tmp_path_factory.mktemp("phone")
    save_pairing(folder / "pairing.json", parse_pairing(pairing_payload(proxy.url, ALICE)))
    proxy.schedule.clear()
    proxy.schedule.extend(faults)
    app = _app(folder)
    app.start()
    raised: list[str] = []
    try:
        for action in actions:
            if action == "panic":
                raised.append(app.raise_panic(note))
            elif action == "location":
                app.on_fix(Fix(52.0, 5.0, 10.0, time.time() + len(raised)))
            elif action == "check_in":
                app.check_in()
            else:  # the app is killed and started again, whatever it was doing
                await hass.async_add_executor_job(app.close)
                app = _app(folder)
                app.start()
            await asyncio.sleep(0.01)
        await until(lambda: not app.outbox.counts().queued, timeout=30)
        await hass.async_block_till_done()
        assert app.outbox.counts().rejected == 0
    finally:
        await hass.async_add_executor_job(app.close)
    arrived = Counter(event["panic_id"] for event in panics if event["panic_id"] in raised)
    assert arrived == Counter(raised)  # each raised panic once; none lost, none twice


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "ok"])
async def test_a_failed_send_is_retried_and_counted_once(
    hass: HomeAssistant,
    proxy: FaultProxy,
    events: Callable[[str], list[dict[str, Any]]],
    tmp_path: Path,
    fault: str,
) -> None:
    panics = events("ble_rtls_panic")
    save_pairing(tmp_path / "pairing.json", parse_pairing(pairing_payload(proxy.url, ALICE)))
    proxy.schedule.extend([fault, fault])
    app = _app(tmp_path)
    app.start()
    panic_id = app.raise_panic()
    await until(lambda: not app.outbox.counts().queued, timeout=30)
    await hass.async_block_till_done()
    await hass.async_add_executor_job(app.close)
    assert proxy.seen[:3] == [fault, fault, "ok"]  # two failures, then the retry that landed
    assert [event["panic_id"] for event in panics] == [panic_id]

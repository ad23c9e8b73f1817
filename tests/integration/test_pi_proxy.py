"""Pi proxies end to end: the proxy's real scanner wrapper, buffer and websocket streamer
against HA's real websocket API over loopback; bleak's scanner is replaced at the hardware
boundary by a backend whose radio the test controls.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from ble_rtls_proxy.buffer import AdvertBuffer
from ble_rtls_proxy.cli import EXIT_ADAPTER, EXIT_CONFIG, Proxy, main
from ble_rtls_proxy.config import ProxyConfig
from ble_rtls_proxy.stream import AuthError
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from homeassistant.components import bluetooth
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util.async_ import get_scheduled_timer_handles
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ble_rtls_lab.hass.bleak_devices import ble_device
from ble_rtls_lab.hass.proxies import Radio, SimulatedProxy
from custom_components.ble_rtls.const import CONF_SITE, DOMAIN
from custom_components.ble_rtls.coordinator import SiteCoordinator
from custom_components.ble_rtls.diagnostics import async_get_config_entry_diagnostics
from custom_components.ble_rtls.proxy_stream import (
    StreamError,
    parse_batch,
    proxies,
    unplaced_issue_id,
)
from tests.mutations import mutated

from .conftest import TAG_MAC, serve_http, setup_site, two_room_site, until

FAST = (0.01, 0.05)
UUID_TEXT = "0000feaa-0000-1000-8000-00805f9b34fb"


class FakeBackend:
    """bleak's scanner at the hardware boundary: the test says what the radio hears."""

    def __init__(
        self,
        detection_callback: Callable[[BLEDevice, AdvertisementData], None],
        scanning_mode: str,
        adapter: str,
        **bluez: Any,
    ) -> None:
        self.callback = detection_callback
        self.mode = scanning_mode
        self.adapter = adapter
        self.bluez = bluez
        self.scanning = False

    async def start(self) -> None:
        self.scanning = True

    async def stop(self) -> None:
        self.scanning = False

    def hear(
        self, address: str, rssi: int, manufacturer_data: dict[int, bytes] | None = None
    ) -> None:
        assert self.scanning
        data = AdvertisementData(
            local_name=None,
            manufacturer_data=manufacturer_data or {},
            service_data={"0000feaa-0000-1000-8000-00805f9b34fb": b"\x10\x00"},
            service_uuids=["0000feaa-0000-1000-8000-00805f9b34fb"],
            tx_power=-8,
            rssi=rssi,
            platform_data=(),
        )
        self.callback(ble_device(address, rssi), data)


class NoPassiveBackend(FakeBackend):
    """A BlueZ without passive scanning (older than 5.56, or experimental features off)."""

    async def start(self) -> None:
        if self.mode == "passive":
            raise BleakError("passive scanning on Linux requires BlueZ >= 5.56")
        await super().start()


class Running:
    """A proxy task in HA's event loop, as the Pi would run it."""

    proxy: Proxy

    def __init__(self, backend: type[FakeBackend]) -> None:
        self.kind = backend
        self.backend: FakeBackend | None = None
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def factory(self, **kwargs: Any) -> FakeBackend:
        self.backend = self.kind(**kwargs)
        return self.backend

    async def finish(self) -> None:
        self.stop.set()
        if self.task is not None:  # a task that already failed was checked by its test
            await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 10)


# aiohttp 3.14's websocket heartbeat timers.
_HEARTBEATS = ("ClientWebSocketResponse._send_heartbeat", "WebSocketResponse._send_heartbeat")


@pytest.fixture(autouse=True)
async def _closed_websockets_rearmed_heartbeats() -> AsyncIterator[None]:
    """Cancel aiohttp 3.14's heartbeat timers of closed websockets after each test.

    A reset queued before a websocket closed runs after it and arms its heartbeat again: the
    timer is aiohttp's, not the proxy's or HA's; any other lingering timer still fails.
    """
    yield
    await asyncio.sleep(0)
    for handle in get_scheduled_timer_handles(asyncio.get_running_loop()):
        callback = getattr(handle, "_callback", None)
        if getattr(callback, "__qualname__", "") in _HEARTBEATS:
            handle.cancel()


@pytest.fixture
async def site(hass: HomeAssistant, server: str, enable_bluetooth: None) -> MockConfigEntry:
    """The two-room site whose four receivers will be Pi proxies (none connected yet)."""
    return await setup_site(hass, two_room_site(), {})


@pytest.fixture
async def start_proxy(
    hass: HomeAssistant, server: str, hass_access_token: str
) -> AsyncIterator[Callable[..., Running]]:
    running: list[Running] = []

    def start(source: str, backend: type[FakeBackend] = FakeBackend, **options: Any) -> Running:
        defaults: dict[str, Any] = {
            "server": server,
            "token": hass_access_token,
            "name": f"pi-{source[-2:]}",
            "source": source,
            "batch_interval": 0.05,
            "scanning": "auto",
        }
        config = ProxyConfig(**(defaults | options))
        holder = Running(backend)
        holder.proxy = Proxy(config, holder.factory, backoff=FAST)
        holder.task = hass.async_create_background_task(
            holder.proxy.run(holder.stop), f"proxy {source}"
        )
        running.append(holder)
        return holder

    yield start
    for holder in running:
        await holder.finish()


async def test_adverts_from_pi_proxies_reach_the_bluetooth_manager_and_the_engine(
    hass: HomeAssistant, site: MockConfigEntry, start_proxy: Callable[..., Running]
) -> None:
    coordinator: SiteCoordinator = site.runtime_data.coordinator
    receivers = list(coordinator.site.receivers)
    running = {r.id: start_proxy(r.id) for r in receivers}
    await until(
        lambda: all(
            p.source in proxies(hass) and proxies(hass)[p.source].online
            for p in (h.proxy for h in running.values())
        )
    )
    assert all(h.backend is not None and h.backend.mode == "passive" for h in running.values())
    scanner = bluetooth.async_scanner_by_source(hass, receivers[0].id)
    assert scanner is not None and scanner.name.startswith(f"pi-{receivers[0].id[-2:]}")

    radio = Radio(noise_db=1.5, seed=3)
    now = time.monotonic()
    for _ in range(12):
        for receiver in receivers:
            backend = running[receiver.id].backend
            assert backend is not None
            backend.hear(TAG_MAC, radio.rssi(receiver, 5.0, 5.0))
        await until(
            lambda: (
                all(len(h.proxy.buffer) == 0 for h in running.values())
                and sum(proxies(hass)[r.id].adverts for r in receivers) >= 4
            )
        )
        await asyncio.sleep(0.06)
        now += 1.0
        await coordinator.async_process(now)
        await hass.async_block_till_done()

    heard_by = {
        device.scanner.source
        for device in bluetooth.async_scanner_devices_by_address(hass, TAG_MAC, connectable=False)
    }
    assert heard_by == {r.id for r in receivers}
    state = hass.states.get("device_tracker.forklift")
    assert state is not None and state.state == "home" and state.attributes["zone"] == "left"
    assert abs(state.attributes["x"] - 5.0) < 2.5 and abs(state.attributes["y"] - 5.0) < 2.5
    assert sum(proxies(hass)[r.id].adverts for r in receivers) == 48
    rate = hass.states.get("sensor.proxy_1_tag_adverts_per_second")
    assert rate is not None and rate.attributes["adverts_streamed"] > 0
    assert rate.attributes["dropped_by_proxy"] == 0
    online = hass.states.get("binary_sensor.proxy_1_online")
    assert online is not None and online.state == "on"
    diagnostics = await async_get_config_entry_diagnostics(hass, site)
    assert diagnostics["pi_proxies"][receivers[0].id]["adverts"] == 12


async def test_an_unplaced_proxy_asks_to_be_placed(
    hass: HomeAssistant, site: MockConfigEntry, start_proxy: Callable[..., Running]
) -> None:
    source = "AA:00:00:00:00:09"
    start_proxy(source)
    issues = ir.async_get(hass)
    await until(lambda: issues.async_get_issue(DOMAIN, unplaced_issue_id(source)) is not None)
    document = two_room_site()
    document["receivers"].append({"id": source, "name": "Pi 9", "x": 10, "y": 5, "z": 2.5})
    hass.config_entries.async_update_entry(site, options={**site.options, CONF_SITE: document})
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, unplaced_issue_id(source)) is None


async def test_falls_back_to_active_scanning(
    hass: HomeAssistant, site: MockConfigEntry, start_proxy: Callable[..., Running]
) -> None:
    holder = start_proxy("AA:00:00:00:00:01", NoPassiveBackend)
    await until(lambda: holder.proxy.streamer.status.connected)
    assert holder.proxy.scanner.mode == "active"


async def test_reconnects_after_ha_restarts_with_a_bounded_buffer_and_a_drop_count(
    hass: HomeAssistant, site: MockConfigEntry, start_proxy: Callable[..., Running]
) -> None:
    source = "AA:00:00:00:00:02"
    holder = start_proxy(source, buffer=100)
    await until(lambda: proxies(hass).get(source) is not None and proxies(hass)[source].online)
    # HA's web server goes away and the websocket drops. (HA waits up to 10 s for open
    # connections when it stops its server; the test does not need to wait that long.)
    hass.http.runner._shutdown_timeout = 0.5  # type: ignore[union-attr]
    await hass.http.stop()
    await until(lambda: not proxies(hass)[source].online)
    assert bluetooth.async_scanner_by_source(hass, source) is None
    await until(lambda: not holder.proxy.streamer.status.connected)
    backend = holder.backend
    assert backend is not None
    for index in range(150):
        backend.hear(f"C0:FF:EE:00:01:{index % 100:02X}", -70)
    assert len(holder.proxy.buffer) == 100 and holder.proxy.buffer.dropped == 50

    await serve_http(hass)
    await until(lambda: proxies(hass)[source].online and proxies(hass)[source].adverts == 100)
    state = proxies(hass)[source]
    assert state.dropped == 50
    assert holder.proxy.streamer.status.connections == 2
    assert bluetooth.async_scanner_by_source(hass, source) is not None


def test_buffer_drops_the_oldest_and_what_is_too_old() -> None:
    clock = [1000.0]
    buffer = AdvertBuffer(3, clock=lambda: clock[0])
    for second in range(5):
        buffer.add({"address": "x", "time": 990.0 + second})
    assert len(buffer) == 3 and buffer.dropped == 2
    clock[0] = 1043.5  # the two oldest left are now more than 50 s old
    taken = buffer.take(10)
    assert [a["time"] for a in taken] == [994.0]
    assert buffer.dropped == 4
    buffer.put_back(taken + [{"address": "y", "time": 1043.0}] * 3)
    assert len(buffer) == 3 and buffer.dropped == 5


async def test_a_bad_token_is_a_clear_error(
    hass: HomeAssistant, site: MockConfigEntry, start_proxy: Callable[..., Running]
) -> None:
    holder = start_proxy("AA:00:00:00:00:03", token="not-a-token")
    assert holder.task is not None
    with pytest.raises(AuthError, match="refused the token"):
        await asyncio.wait_for(holder.task, 10)
    assert "AA:00:00:00:00:03" not in proxies(hass)


async def test_a_user_who_is_not_an_administrator_is_refused(
    hass: HomeAssistant,
    site: MockConfigEntry,
    start_proxy: Callable[..., Running],
    hass_read_only_access_token: str,
) -> None:
    holder = start_proxy("AA:00:00:00:00:03", token=hass_read_only_access_token)
    assert holder.task is not None
    with pytest.raises(AuthError, match="not an administrator"):
        await asyncio.wait_for(holder.task, 10)


async def _raw(server: str, token: str) -> tuple[aiohttp.ClientSession, Any]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(server.replace("http", "ws") + "/api/websocket")
    await ws.receive_json()
    await ws.send_json({"type": "auth", "access_token": token})
    assert (await ws.receive_json())["type"] == "auth_ok"
    return session, ws


async def test_malformed_and_hostile_frames_are_refused_without_harming_other_proxies(
    hass: HomeAssistant,
    site: MockConfigEntry,
    server: str,
    hass_access_token: str,
    start_proxy: Callable[..., Running],
) -> None:
    good = start_proxy("AA:00:00:00:00:01")
    await until(lambda: good.proxy.streamer.status.connected)
    session, ws = await _raw(server, hass_access_token)
    ids = iter(range(1, 1000))

    async def ask(payload: dict[str, Any]) -> dict[str, Any]:
        await ws.send_json({"id": next(ids)} | payload)
        answer: dict[str, Any] = await ws.receive_json()
        return answer

    try:
        source = "AA:00:00:00:00:04"
        advert = {"address": "C0:FF:EE:00:00:09", "rssi": -60, "time": 100.0}
        batch = {"type": "ble_rtls/proxy/adverts", "source": source, "now": 100.5}
        answer = await ask(batch | {"adverts": [advert]})
        assert answer["error"]["code"] == "not_connected"
        hostile_source = {"type": "ble_rtls/proxy/connect", "source": "not a mac", "name": "x"}
        assert (await ask(hostile_source))["error"]["code"] == "invalid_format"
        # A simulated ESPHome-like scanner already owns this source.
        other = SimulatedProxy("AA:00:00:00:00:05", "esphome")
        other.attach(hass)
        taken = {"type": "ble_rtls/proxy/connect", "source": "AA:00:00:00:00:05", "name": "x"}
        assert (await ask(taken))["error"]["code"] == "source_in_use"
        other.detach()
        connect = {"type": "ble_rtls/proxy/connect", "source": source, "name": "raw"}
        assert (await ask(connect))["success"]

        for bad, field in (
            ({"address": "c0:ff:ee:00:00:09"}, "address"),
            ({"rssi": "-60"}, "rssi"),
            ({"rssi": 500}, "rssi"),
            ({"time": 10.0}, "time"),
            ({"manufacturer_data": {"76": "zz"}}, "manufacturer_data"),
            ({"manufacturer_data": {"apple": "00"}}, "manufacturer_data"),
            ({"manufacturer_data": {"\u00b2": "00"}}, "manufacturer_data"),  # a digit to isdigit
            ({"manufacturer_data": {"76": "00" * 300}}, "manufacturer_data"),
            ({"service_uuids": ["not-a-uuid"]}, "service_uuids"),
            ({"name": "x" * 1000}, "name"),
        ):
            answer = await ask(batch | {"adverts": [advert, advert | bad]})
            assert answer["error"]["code"] == "invalid_batch", bad
            assert f"advert 1: {field}" in answer["error"]["message"]
        answer = await ask(batch | {"adverts": [advert] * 2001})
        assert "at most 2000" in answer["error"]["message"]
        assert proxies(hass)[source].adverts == 0  # nothing of a refused batch got in
        answer = await ask(batch | {"adverts": [advert]})
        assert answer["result"] == {"accepted": 1}

        await ws.send_str("{not json")
        with contextlib.suppress(Exception):
            await ws.receive_json(timeout=2)
    finally:
        await ws.close()
        await session.close()
    await until(lambda: not proxies(hass)[source].online)
    # The well-behaved proxy streamed on throughout.
    backend = good.backend
    assert backend is not None
    before = proxies(hass)["AA:00:00:00:00:01"].adverts
    backend.hear(TAG_MAC, -65)
    await until(lambda: proxies(hass)["AA:00:00:00:00:01"].adverts == before + 1)
    assert good.proxy.streamer.status.refused_batches == 0


def test_cli_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "proxy.toml"
    assert main(["--config", str(tmp_path / "missing.toml")]) == EXIT_CONFIG
    assert "not found" in capsys.readouterr().err
    config.write_text('server = "ftp://x"\ntoken = "t"\n')
    assert main(["--config", str(config)]) == EXIT_CONFIG
    assert "not an http(s) URL" in capsys.readouterr().err
    config.write_text('server = "http://x"\ntoken = "t"\nbuffer = "big"\n')
    assert main(["--config", str(config)]) == EXIT_CONFIG
    assert "buffer has the wrong type" in capsys.readouterr().err
    config.write_text('server = "http://x"\ntoken = "t"\ncolour = "red"\n')
    assert main(["--config", str(config)]) == EXIT_CONFIG
    assert "unknown key 'colour'" in capsys.readouterr().err
    config.write_text('server = "http://x"\ntoken = "t"\nadapter = "hci-missing-42"\n')
    assert main(["--config", str(config), "--check"]) == EXIT_ADAPTER
    assert "Bluetooth adapter hci-missing-42 not found" in capsys.readouterr().err
    for text, message in (
        ('token = "t"\n', "server is required"),
        ('server = "http://x"\ntoken = "t"\nscanning = "loud"\n', "scanning must be"),
        ('server = "http://x"\ntoken = "t"\nbatch_interval = 99\n', "batch_interval must"),
        ('server = "http://x"\ntoken = "t"\nbuffer = 5\n', "buffer must be"),
        ("server = [", "not valid TOML"),
    ):
        config.write_text(text)
        assert main(["--config", str(config)]) == EXIT_CONFIG
        assert message in capsys.readouterr().err
    config.write_text('server = "http://x"\ntoken = "t"\nsource = "aa:00:00:00:00:09"\n')
    assert main(["--config", str(config), "--check"]) == 0
    assert "AA:00:00:00:00:09" in capsys.readouterr().out
    # The real bleak on a machine where this adapter does not exist: a clear error, exit 3.
    config.write_text(
        'server = "http://127.0.0.1:9"\ntoken = "t"\nadapter = "hci-missing-42"\n'
        'source = "AA:00:00:00:00:09"\n'
    )
    # As a process of its own, as systemd runs it (bleak talks to BlueZ over D-Bus).
    command = "import sys; from ble_rtls_proxy.cli import main; sys.exit(main())"
    run = subprocess.run(
        [sys.executable, "-c", command, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == EXIT_ADAPTER
    assert "cannot scan on hci-missing-42" in run.stderr
    assert ProxyConfig("https://ha:8123/", "t").websocket_url == "wss://ha:8123/api/websocket"


async def test_an_unreachable_server_is_retried_and_named(
    hass: HomeAssistant, start_proxy: Callable[..., Running]
) -> None:
    holder = start_proxy("AA:00:00:00:00:07", server="http://127.0.0.1:9")
    status = holder.proxy.streamer.status
    await until(lambda: status.last_error is not None)
    await asyncio.sleep(0.3)
    assert "Cannot connect to host 127.0.0.1:9" in (status.last_error or "")
    assert status.connections == 0 and holder.task is not None and not holder.task.done()
    backend = holder.backend
    assert backend is not None
    backend.hear(TAG_MAC, -60)
    assert len(holder.proxy.buffer) == 1  # kept for when the server is back


async def test_a_home_assistant_without_the_integration_is_named(
    hass: HomeAssistant, server: str, hass_access_token: str, start_proxy: Callable[..., Running]
) -> None:
    assert await async_setup_component(hass, "websocket_api", {})
    holder = start_proxy("AA:00:00:00:00:08")
    status = holder.proxy.streamer.status
    await until(lambda: status.last_error is not None)
    assert "BLE RTLS integration is not set up" in (status.last_error or "")


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_any_change_to_a_good_batch_is_taken_or_refused_with_a_reason(
    data: st.DataObject,
) -> None:
    """A value replaced, removed or repeated anywhere in a batch: StreamError, naming the
    advert and field, or adverts for the scanner; never another exception."""
    advert = {
        "address": TAG_MAC,
        "rssi": -60,
        "time": 99.5,
        "name": "Tag",
        "tx_power": -4,
        "manufacturer_data": {"76": "0215aabb"},
        "service_data": {UUID_TEXT: "00"},
        "service_uuids": [UUID_TEXT],
    }
    batch = mutated(data, {"adverts": [advert, advert]}).get("adverts")
    try:
        adverts = parse_batch(batch if isinstance(batch, list) else [batch], 100.0, 5000.0)
    except StreamError as err:
        assert str(err).startswith("advert ") or "at most" in str(err)
        return
    for address, rssi, *_, seen in adverts:
        assert isinstance(address, str) and isinstance(rssi, int) and 4940.0 <= seen <= 5000.0

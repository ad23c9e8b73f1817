"""A real HA with bluetooth, our integration, and a small two-room site with 4 proxies."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import FixedLocationSource
from ble_rtls_companion.outbox import Outbox
from ble_rtls_companion.pairing import Pairing, parse_pairing
from homeassistant.components.http import HomeAssistantHTTP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ble_rtls_lab.hass.proxies import Radio, SimulatedProxy, register_proxies
from ble_rtls_lab.hass.screenshot import free_port
from custom_components.ble_rtls.const import CONF_PHONES, CONF_SETTINGS, CONF_SITE, DOMAIN
from custom_components.ble_rtls.coordinator import SiteCoordinator
from custom_components.ble_rtls.engine.site import Receiver
from custom_components.ble_rtls.ids import unique_id
from custom_components.ble_rtls.phones import pairing_payload
from custom_components.ble_rtls.site_config import engine_site

TAG_MAC = "C0:FF:EE:00:00:01"
BEACON = "e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:7"
IRK = "0123456789abcdef0123456789abcdef"


def box(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A rectangle's vertices."""
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def two_room_site() -> dict[str, Any]:
    """20 x 10 m, a left and a right room, receivers in the corners at 2.5 m."""
    corners = [(0.0, 0.0), (20.0, 0.0), (20.0, 10.0), (0.0, 10.0)]
    return {
        "receivers": [
            {"id": f"AA:00:00:00:00:0{i}", "name": f"Proxy {i}", "x": x, "y": y, "z": 2.5}
            for i, (x, y) in enumerate(corners, start=1)
        ],
        "tags": [
            {"id": "forklift", "name": "Forklift", "address": TAG_MAC, "motion": "vehicle"},
            {"id": "phone", "name": "Phone", "ibeacon": BEACON, "motion": "person"},
            {"id": "watch", "name": "Watch", "irk": IRK, "motion": "person"},
        ],
        "zones": [
            {
                "id": "left",
                "name": "Left room",
                "floor": 0,
                "polygon": [[0, 0], [10, 0], [10, 10], [0, 10]],
            },
            {
                "id": "right",
                "name": "Right room",
                "floor": 0,
                "polygon": [[10, 0], [20, 0], [20, 10], [10, 10]],
            },
        ],
        "path_loss": {"exponent": 2.2, "ref_rssi_1m": -59},
    }


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ from this repository."""


@pytest.fixture(autouse=True)
def no_deprecation_names_the_integration(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Home Assistant logs no deprecation of ours: what it deprecates breaks in a later
    release (on the newest stack this is where it shows)."""
    yield
    named = [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and "ble_rtls" in (message := record.getMessage())
        and ("deprecat" in message.lower() or "Detected that custom integration" in message)
    ]
    assert not named, named


@pytest.fixture
def site_document() -> dict[str, Any]:
    return two_room_site()


@pytest.fixture
def settings() -> dict[str, Any]:
    return {}


@pytest.fixture
async def proxies(
    hass: HomeAssistant, enable_bluetooth: None, site_document: dict[str, Any]
) -> AsyncIterator[dict[str, SimulatedProxy]]:
    """The site's receivers as remote scanners in HA's bluetooth manager."""
    registered, unregister = register_proxies(hass, engine_site(site_document).receivers)
    yield registered
    unregister()


async def setup_site(
    hass: HomeAssistant,
    document: dict[str, Any],
    settings: dict[str, Any],
    phones: list[dict[str, Any]] | None = None,
    entry_id: str | None = None,
) -> MockConfigEntry:
    """A site (with its phones) set up in HA; `entry_id` to find what it stores."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title="Test site",
        unique_id="test_site",
        options={CONF_SITE: document, CONF_SETTINGS: settings, CONF_PHONES: phones or []},
        entry_id=entry_id,
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    proxies: dict[str, SimulatedProxy],
    site_document: dict[str, Any],
    settings: dict[str, Any],
) -> MockConfigEntry:
    """The site set up in HA."""
    return await setup_site(hass, site_document, settings)


# Since 2026.x the test plugin patches the HTTP server's binding and start out of every
# test; these are the real ones, taken before any test runs. 2025.4 binds in `start`.
_BIND = getattr(HomeAssistantHTTP, "async_bind", None)
_START = HomeAssistantHTTP.start


async def start_http(hass: HomeAssistant) -> str:
    """HA's real HTTP server on a free loopback port; its URL. Call it before anything that
    depends on http (the site, bluetooth) sets http up on port 8123."""
    port = free_port()
    config = {"http": {"server_host": ["127.0.0.1"], "server_port": port}}
    assert await async_setup_component(hass, "http", config)
    await serve_http(hass)
    return f"http://127.0.0.1:{port}"


async def serve_http(hass: HomeAssistant) -> None:
    """Bind (where the release binds apart) and start HA's HTTP server, again after a stop."""
    if _BIND is not None:
        await _BIND(hass.http)
    await _START(hass.http)


async def until(
    condition: Callable[[], bool], timeout: float = 15, between: Callable[[], object] = list
) -> None:
    """Let HA, proxies and the app's threads run until the condition holds (`between` runs
    on each wait, to pump Kivy's frames)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        between()
        await asyncio.sleep(0.01)


@pytest.fixture
async def server(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[str]:
    """HA's real HTTP server on loopback, for the app, the proxies and the site."""
    yield await start_http(hass)
    await hass.http.stop()


ALICE = {
    "id": "alice",
    "name": "Alice's phone",
    "webhook_id": "webhook-alice-0123456789",
    "secret": "alice-secret-0123456789abcdefghijklmnopqrstu",
    "tag": "phone",
}
ANCHOR = {"latitude": 52.0, "longitude": 5.0, "bearing": 0.0}


@pytest.fixture
async def phone_entry(
    hass: HomeAssistant,
    server: str,
    proxies: dict[str, SimulatedProxy],
    site_document: dict[str, Any],
) -> MockConfigEntry:
    """The site with a geo anchor and Alice's phone (she carries the iBeacon tag 'phone')."""
    return await setup_site(hass, site_document | {"geo_anchor": ANCHOR}, {}, [ALICE])


@pytest.fixture
def pairing(server: str) -> Pairing:
    """What Alice's app holds after pairing: HA's payload, parsed by the app."""
    return parse_pairing(pairing_payload(server, ALICE))


class Walker:
    """Drives a site: tags at positions, each proxy hears each tag once per simulated second."""

    def __init__(
        self, hass: HomeAssistant, entry: MockConfigEntry, proxies: dict[str, SimulatedProxy]
    ) -> None:
        self.hass = hass
        self.coordinator: SiteCoordinator = entry.runtime_data.coordinator
        self.proxies = proxies
        self.receivers: list[Receiver] = list(self.coordinator.site.receivers)
        self.radio = Radio(noise_db=1.5, seed=7)
        self.now = time.monotonic()

    def hear(self, address: str, x: float, y: float, **extra: Any) -> None:
        for receiver in self.receivers:
            self.proxies[receiver.id].hear(address, self.radio.rssi(receiver, x, y), **extra)

    async def step(self, tags: dict[str, tuple[float, float]], **extra: Any) -> None:
        """One second: every proxy hears every tag (by address) at its position; one tick."""
        for address, (x, y) in tags.items():
            self.hear(address, x, y, **extra)
        self.now += 1.0
        await self.coordinator.async_process(self.now)
        await self.hass.async_block_till_done()

    async def walk(
        self,
        address: str,
        start: tuple[float, float],
        end: tuple[float, float],
        seconds: int,
        **extra: Any,
    ) -> None:
        """From `start` to `end` at constant speed over `seconds` (stand still if equal)."""
        for second in range(seconds + 1):
            share = second / seconds
            x = start[0] + share * (end[0] - start[0])
            y = start[1] + share * (end[1] - start[1])
            await self.step({address: (x, y)}, **extra)


@pytest.fixture
def walker(
    hass: HomeAssistant, entry: MockConfigEntry, proxies: dict[str, SimulatedProxy]
) -> Walker:
    return Walker(hass, entry, proxies)


@pytest.fixture
def events(hass: HomeAssistant) -> Callable[[str], list[dict[str, Any]]]:
    """Collect the data of fired events by type."""
    seen: dict[str, list[dict[str, Any]]] = {}

    def collect(event_type: str) -> list[dict[str, Any]]:
        if event_type not in seen:
            seen[event_type] = []
            hass.bus.async_listen(
                event_type, lambda event: seen[event_type].append(dict(event.data))
            )
        return seen[event_type]

    return collect


@pytest.fixture
def written(hass: HomeAssistant) -> Callable[[str], list[str]]:
    """Collect the states written to an entity (a state change each, a recorder row each)."""

    def collect(entity_id: str) -> list[str]:
        states: list[str] = []
        hass.bus.async_listen(
            "state_changed",
            lambda event: (
                states.append(event.data["new_state"].state)
                if event.data["entity_id"] == entity_id
                else None
            ),
        )
        return states

    return collect


FAST: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 3.0}


def entity_id(hass: HomeAssistant, entry: MockConfigEntry, domain: str, key: str) -> str:
    found = er.async_get(hass).async_get_entity_id(
        domain, DOMAIN, unique_id(entry.entry_id, "phone", "alice", key)
    )
    assert found is not None
    return found


@pytest.fixture
async def app(
    hass: HomeAssistant, phone_entry: MockConfigEntry, server: str, tmp_path: Path
) -> AsyncIterator[Companion]:
    """Alice's app, paired through its real pairing screen logic, sender running."""
    companion = Companion(
        tmp_path / "phone", FixedLocationSource(52.0003, 5.0004, 12.0), sender_options=FAST
    )
    name = await hass.async_add_executor_job(companion.pair, pairing_payload(server, ALICE))
    assert name == "Alice's phone"
    companion.start()
    yield companion
    await hass.async_add_executor_job(companion.close)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Callable[[str], Outbox]]:
    """Outboxes for hand-driven senders, closed after the test."""
    opened: list[Outbox] = []

    def open_outbox(name: str) -> Outbox:
        opened.append(Outbox(tmp_path / name))
        return opened[-1]

    yield open_outbox
    for box in opened:
        box.close()

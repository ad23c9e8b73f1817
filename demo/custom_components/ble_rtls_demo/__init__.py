"""The demo's radio: a recorded simulation played through simulated proxies, in a loop.

The proxies are remote scanners in HA's bluetooth manager, so the demo takes the path real
proxies take; only the radio is simulated (`ble-rtls simulate`'s model), played forward and
backward in turn so tags never jump. On first start it also creates the BLE RTLS site.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from ble_rtls_lab.hass.proxies import register_proxies
from custom_components.ble_rtls.engine import Advert, Receiver, read_adverts

DOMAIN = "ble_rtls_demo"
SITE_NAME = "Demo warehouse"
CONFIG_SCHEMA = vol.Schema(
    {DOMAIN: vol.Schema({vol.Required("simulation"): cv.string})}, extra=vol.ALLOW_EXTRA
)
STEP_S = 0.2


def receiver_source(index: int) -> str:
    """The simulated proxy's Bluetooth address."""
    return f"DE:AD:00:00:00:{index:02X}"


def tag_address(index: int) -> str:
    """The simulated tag's Bluetooth address."""
    return f"C0:DE:00:00:00:{index:02X}"


def demo_site(
    simulation: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The BLE RTLS site, and the simulation's receiver and tag ids mapped to addresses."""
    receivers = {r["id"]: receiver_source(i) for i, r in enumerate(simulation["receivers"])}
    tags = {t["id"]: tag_address(i) for i, t in enumerate(simulation["tags"])}
    document = {
        "receivers": [
            {**r, "id": receivers[r["id"]], "name": f"Proxy {i + 1}"}
            for i, r in enumerate(simulation["receivers"])
        ],
        "tags": [
            {
                "id": t["id"].replace("-", "_"),
                "name": t["id"].replace("-", " ").capitalize(),
                "address": tags[t["id"]],
                "motion": t["motion"],
            }
            for t in simulation["tags"]
        ],
        "zones": simulation["zones"],
        # As if the installer had calibrated: the simulated radio's true exponent. (The
        # benchmark starts from wrong values instead, to test self-calibration.)
        "path_loss": {
            **simulation["path_loss"],
            "exponent": simulation["simulation"]["true_exponent"],
        },
        # Where x = y = 0 is on Earth (the demo's home), so the tags are on HA's map too.
        "geo_anchor": {"latitude": 52.37, "longitude": 4.89, "bearing": 0.0},
    }
    return document, receivers, tags


def ping_pong(adverts: list[Advert]) -> Iterator[tuple[float, Advert]]:
    """The recording forward, then backward, forever: (seconds from the start, advert).

    Played backward, every tag walks its path back, so the loop has no jump.
    """
    start, end = adverts[0].time, adverts[-1].time
    span = end - start
    for lap in itertools.count():
        if lap % 2 == 0:
            for advert in adverts:
                yield lap * span + advert.time - start, advert
        else:
            for advert in reversed(adverts):
                yield lap * span + end - advert.time, advert


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the proxies and play the simulation; create the site on first start."""
    folder = Path(config[DOMAIN]["simulation"])
    simulation = json.loads(await hass.async_add_executor_job((folder / "SITE.json").read_text))
    adverts: list[Advert] = await hass.async_add_executor_job(
        lambda: list(read_adverts(folder / "ADVERTS.csv"))
    )
    document, receivers, tags = demo_site(simulation)
    proxies, _ = register_proxies(
        hass, [Receiver(source, 0.0, 0.0) for source in receivers.values()]
    )

    async def create_site(_event: Event) -> None:
        if not hass.config_entries.async_entries("ble_rtls"):
            await hass.config_entries.flow.async_init(
                "ble_rtls",
                context={"source": SOURCE_USER},
                data={"name": SITE_NAME, "site_json": json.dumps(document)},
            )

    async def play() -> None:
        began = time.monotonic()
        upcoming = ping_pong(adverts)
        offset, advert = next(upcoming)
        while True:
            elapsed = time.monotonic() - began
            while offset <= elapsed:
                proxies[receivers[advert.receiver]].hear(tags[advert.tag], round(advert.rssi))
                offset, advert = next(upcoming)
            await asyncio.sleep(STEP_S)

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STARTED, create_site)
    hass.async_create_background_task(play(), "ble_rtls_demo radio")
    return True

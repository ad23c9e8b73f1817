"""What every benchmark runs in: this repository's integration in a Home Assistant whose
event loop runs as users run it, with logs quiet enough to read the figures.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from homeassistant.core import HomeAssistant

from tests.integration.conftest import start_http


@pytest.fixture(autouse=True)
def home_assistant_as_users_run_it(hass: HomeAssistant, enable_custom_integrations: None) -> None:
    """Load custom_components/ from here, quiet the logs, and turn asyncio's debug mode off.

    The test plugin turns debug mode on (a traceback recorded for every task, every callback
    timed); Home Assistant does not run that way, and it inflated and scattered the CPU
    figures (house load: 48.6 ms per 1000 adverts instead of 38.0, rounds twice as spread).
    """
    for name in ("homeassistant", "aiohttp.access", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
    hass.loop.set_debug(False)


@pytest.fixture
async def served(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[str]:
    """HA's HTTP server on loopback (set up before bluetooth, which would take port 8123)."""
    yield await start_http(hass)
    await hass.http.stop()

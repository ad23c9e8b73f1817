"""The BLE RTLS sidebar panel and dashboard card, served by the integration itself.

Their scripts ship in `frontend/` and load nothing from the internet; they talk to Home
Assistant only through the site's websocket commands and plan address (site_api.py,
plans.py), which check every change. The card's script is loaded on every dashboard, so it
is in the card picker without a resource added by hand.
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.components import panel_custom
from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

PANEL_URL = "ble-rtls"
STATIC_URL = f"/{DOMAIN}_frontend"
PANEL_SCRIPT = "ble-rtls-panel.js"
CARD_SCRIPT = "ble-rtls-card.js"


async def async_register_panel(hass: HomeAssistant) -> None:
    """Serve the scripts, add the panel to the sidebar and the card to dashboards.

    Only where Home Assistant has a frontend.
    """
    if "frontend" not in hass.config.components:
        return
    folder = Path(__file__).parent / "frontend"
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_URL, str(folder), cache_headers=False)]
    )
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=PANEL_URL,
        webcomponent_name="ble-rtls-panel",
        sidebar_title="BLE RTLS",
        sidebar_icon="mdi:floor-plan",
        module_url=f"{STATIC_URL}/{PANEL_SCRIPT}",
        require_admin=False,
    )
    add_extra_js_url(hass, f"{STATIC_URL}/{CARD_SCRIPT}")

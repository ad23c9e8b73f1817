"""The BLE RTLS sidebar panel: each site on its floor plan, served by the integration itself.

Its script ships in `frontend/` and loads nothing from the internet; it talks to Home
Assistant only through the site's websocket commands and plan address (site_api.py,
plans.py), which check every change.
"""

from __future__ import annotations

from pathlib import Path

from homeassistant.components import panel_custom
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN

PANEL_URL = "ble-rtls"
STATIC_URL = f"/{DOMAIN}_frontend"
SCRIPT = "ble-rtls-panel.js"


async def async_register_panel(hass: HomeAssistant) -> None:
    """Serve the panel's script and add the panel to the sidebar (where HA has a frontend)."""
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
        module_url=f"{STATIC_URL}/{SCRIPT}",
        require_admin=False,
    )

"""The app's screens against a real HA: pair by pasting the code, share, press panic, see
it answered, start a check-in timer and check in.

With BLE_RTLS_SCREENSHOT=<path> it also saves the home screen (scripts/screenshot).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import FixedLocationSource
from ble_rtls_companion.ui import CompanionUI
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from kivy.core.window import Window
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ble_rtls.phones import pairing_payload
from tests.companion.conftest import FakeClock, frames

from .conftest import ALICE, entity_id, until


def _frame() -> None:
    """One Kivy frame, between the checks of `until`."""
    frames(1)


async def test_pair_share_panic_and_check_in_from_the_screens(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    server: str,
    tmp_path: Path,
    events: Callable[[str], list[dict[str, Any]]],
    hass_admin_user: User,
) -> None:
    panics = events("ble_rtls_panic")
    clock = FakeClock()
    companion = Companion(
        tmp_path / "phone",
        FixedLocationSource(52.00031, 5.00042, 9.0),
        sender_options={"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 3.0},
    )
    Window.size = (420, 760)
    ui = CompanionUI(companion, clock=clock)
    Window.add_widget(ui)
    try:
        pairing = ui.get_screen("pairing")
        pairing.ids.payload.text = pairing_payload(server, ALICE)
        pairing.ids.pair_button.dispatch("on_release")
        await until(lambda: ui.current == "home", between=_frame)
        home = ui.get_screen("home")
        await until(lambda: companion.status().link.last_location_time is not None, between=_frame)
        home.refresh()
        assert home.ids.link.text == "Home Assistant: reachable"
        assert "Paired as Alice's phone" in home.ids.paired.text
        assert "none yet" not in home.ids.last_location.text
        if target := os.environ.get("BLE_RTLS_SCREENSHOT"):
            frames()
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            ui.export_to_png(target)

        home.ids.panic.dispatch("on_release")
        frames()
        clock.now += 3.01
        await until(lambda: len(panics) == 1, between=_frame)
        await until(
            lambda: "DELIVERED" in home.ids.alarm.text and "NOT" not in home.ids.alarm.text,
            between=_frame,
        )
        assert panics[0]["latitude"] == 52.00031
        assert panics[0]["panic_id"] == companion.status().active_panic

        # Answered in Home Assistant: the screen says so, the app sending nothing of its own.
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": entity_id(hass, phone_entry, "button", "acknowledge")},
            blocking=True,
            context=Context(user_id=hass_admin_user.id),
        )
        await until(lambda: "help knows" in home.ids.alarm.text, between=_frame)
        assert home.ids.alarm.text == f"Alarm seen by {hass_admin_user.name}: help knows"

        # "Expect me within 20 minutes", then "I'm safe".
        due = entity_id(hass, phone_entry, "sensor", "check_in_due")
        home.ids.timer_minutes.text = "20 min"
        home.ids.start_timer.dispatch("on_release")
        await until(lambda: hass.states.get(due).state != "unknown", between=_frame)  # type: ignore[union-attr]
        await until(lambda: "not yet" not in home.ids.timer.text, between=_frame)
        deadline = companion.status().check_in_by
        assert deadline is not None and abs(deadline - time.time() - 1200) < 5
        assert home.ids.timer.text == time.strftime("Check in by %H:%M", time.localtime(deadline))
        home.ids.safe.dispatch("on_release")
        await until(lambda: hass.states.get(due).state == "unknown", between=_frame)  # type: ignore[union-attr]
        assert home.ids.timer.text == "No check-in timer"
    finally:
        Window.remove_widget(ui)
        ui.close()
        await hass.async_add_executor_job(companion.close)

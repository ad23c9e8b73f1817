"""The alarm's other half, end to end through the real webhook and app: someone answers it
(a button, a notification's action), the phone learns it within seconds, an unanswered alarm
escalates, and a missed check-in raises the alarm even with the phone silent, once.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import Fix, FixedLocationSource
from ble_rtls_companion.outbox import Outbox
from ble_rtls_companion.pairing import Pairing
from ble_rtls_companion.protocol import message
from ble_rtls_companion.sender import ALARM_POLL, Sender
from homeassistant.auth.models import User
from homeassistant.components import persistent_notification
from homeassistant.core import Context, HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.ble_rtls.compat import device_by_identifier
from custom_components.ble_rtls.const import ACKNOWLEDGE_ACTION
from custom_components.ble_rtls.ids import device_identifier
from custom_components.ble_rtls.phones import (
    NOTIFICATION_ACTION_EVENT,
    pairing_payload,
    phone_store,
)

from .conftest import ALICE, FAST, entity_id, until
from .test_package import ROOT

type Events = Callable[[str], list[dict[str, Any]]]


def _state(hass: HomeAssistant, entity: str) -> str:
    state = hass.states.get(entity)
    assert state is not None
    return state.state


def _panic(app: Companion) -> dict[str, Any]:
    """What Home Assistant last told the app about its alarm."""
    return app.status().link.panic or {}


async def _later(hass: HomeAssistant, seconds: float) -> None:
    """Home Assistant's clock `seconds` from now (its timers due by then run)."""
    await _at(hass, time.time() + seconds)


async def _at(hass: HomeAssistant, timestamp: float) -> None:
    """Home Assistant's clock at `timestamp`, and what its timers started had its turn.

    Not async_block_till_done: it would wait for an automation waiting for an answer.
    """
    async_fire_time_changed(hass, dt_util.utc_from_timestamp(timestamp))
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_the_acknowledge_button_answers_and_the_phone_learns_it_within_seconds(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    events: Events,
    hass_admin_user: User,
) -> None:
    acknowledged = events("ble_rtls_panic_acknowledged")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    button = entity_id(hass, phone_entry, "button", "acknowledge")
    panic_id = app.raise_panic()
    await until(lambda: _panic(app).get("state") == "active")
    await hass.services.async_call(
        "button",
        "press",
        {"entity_id": button},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert _state(hass, sensor) == "off"
    await until(lambda: len(acknowledged) == 1)
    assert acknowledged[0]["panic_id"] == panic_id
    assert acknowledged[0]["user_id"] == hass_admin_user.id
    state = hass.states.get(sensor)
    assert state is not None and state.attributes["acknowledged_by"] == hass_admin_user.name
    # Nothing sent by the app after the press: it asks while its alarm is open.
    pressed = time.monotonic()
    await until(lambda: _panic(app).get("state") == "acknowledged", timeout=3 * ALARM_POLL)
    assert time.monotonic() - pressed < 2 * ALARM_POLL
    assert _panic(app)["by"] == hass_admin_user.name
    assert not persistent_notification._async_get_or_create_notifications(hass)
    with pytest.raises(HomeAssistantError, match="no alarm to acknowledge"):
        await hass.services.async_call("button", "press", {"entity_id": button}, blocking=True)


async def test_acknowledge_on_a_notification_answers_that_alarm_only(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    events: Events,
    hass_admin_user: User,
) -> None:
    panics, acknowledged = events("ble_rtls_panic"), events("ble_rtls_panic_acknowledged")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    panic_id = app.raise_panic()
    await until(lambda: len(panics) == 1)
    action = panics[0]["acknowledge_action"]
    assert action == f"{ACKNOWLEDGE_ACTION}{panic_id}"
    for other in (f"{ACKNOWLEDGE_ACTION}someone-else", "OPEN_MAP", None):
        hass.bus.async_fire(NOTIFICATION_ACTION_EVENT, {"action": other})
    await hass.async_block_till_done()
    assert _state(hass, sensor) == "on" and not acknowledged
    # What HA's companion app fires when its notification's button is pressed.
    hass.bus.async_fire(
        NOTIFICATION_ACTION_EVENT, {"action": action}, context=Context(user_id=hass_admin_user.id)
    )
    await until(lambda: len(acknowledged) == 1)
    assert _state(hass, sensor) == "off"
    assert acknowledged[0]["user_id"] == hass_admin_user.id


async def test_the_blueprint_escalates_until_someone_acknowledges(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    tmp_path: Path,
    hass_admin_user: User,
) -> None:
    shutil.copytree(ROOT / "blueprints", tmp_path / "blueprints")
    hass.config.config_dir = str(tmp_path)
    dad = async_mock_service(hass, "notify", "dad")
    guard = async_mock_service(hass, "notify", "guard")
    phone = device_by_identifier(
        dr.async_get(hass),
        device_identifier(phone_entry.entry_id, "phone", "alice"),
        phone_entry.entry_id,
    )
    assert phone is not None
    inputs = {
        "phones": [phone.id],
        "notify_actions": ["notify.dad"],
        "escalate_to": ["notify.guard"],
        "escalate_after": 1,
    }
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {"use_blueprint": {"path": "ble_rtls/panic_notify.yaml", "input": inputs}}
            ]
        },
    )
    app.on_fix(Fix(52.0003, 5.0004, 12.0, time.time()))
    panic_id = app.raise_panic("near the station")
    await until(lambda: len(dad) == 1)
    await _later(hass, 0)
    assert guard == []  # not yet: the first list has a minute to answer
    first = dad[0].data
    assert first["title"] == "PANIC: Alice's phone"
    assert "openstreetmap.org/?mlat=52.0003" in first["message"]
    assert "Note: near the station" in first["message"]
    assert first["data"]["push"]["interruption-level"] == "critical"
    assert first["data"]["actions"] == [
        {"action": f"{ACKNOWLEDGE_ACTION}{panic_id}", "title": "Acknowledge"}
    ]

    await _later(hass, 61)  # nobody answered: again, and to the next list too
    assert [c.data["title"] for c in (*dad, *guard)] == [
        "PANIC: Alice's phone",
        "STILL UNANSWERED: PANIC: Alice's phone",
        "STILL UNANSWERED: PANIC: Alice's phone",
    ]
    await _later(hass, 61)
    assert len(dad) == 3 and len(guard) == 2

    hass.bus.async_fire(
        NOTIFICATION_ACTION_EVENT,
        {"action": first["data"]["actions"][0]["action"]},
        context=Context(user_id=hass_admin_user.id),
    )
    await until(lambda: len(dad) == 4 and len(guard) == 3)
    answered: list[ServiceCall] = [dad[-1], guard[-1]]
    assert all(c.data["title"] == "Answered: Alice's phone" for c in answered)
    assert all("alarm was acknowledged" in c.data["message"] for c in answered)
    await _later(hass, 200)
    assert len(dad) == 4 and len(guard) == 3  # no more once answered


async def test_a_missed_check_in_raises_the_alarm_once_with_the_phone_silent(
    hass: HomeAssistant, phone_entry: MockConfigEntry, app: Companion, events: Events
) -> None:
    panics = events("ble_rtls_panic")
    due = entity_id(hass, phone_entry, "sensor", "check_in_due")
    app.on_fix(Fix(52.0003, 5.0004, 12.0, time.time()))
    deadline = app.start_timer(1)
    await until(lambda: (app.status().link.timer or {}).get("state") == "running")
    assert dt_util.parse_datetime(_state(hass, due)).timestamp() == pytest.approx(deadline, abs=1)  # type: ignore[union-attr]
    await hass.async_add_executor_job(app.close)  # phone taken, or its battery gone

    await _at(hass, deadline - 1)
    assert panics == []
    await _at(hass, deadline + 1)
    (alarm,) = panics
    assert alarm["reason"] == "missed_check_in"
    assert alarm["latitude"] == pytest.approx(52.0003)
    assert alarm["time"] == dt_util.utc_from_timestamp(deadline).isoformat()
    assert _state(hass, entity_id(hass, phone_entry, "binary_sensor", "panic")) == "on"
    assert _state(hass, due) == "unknown"
    (notification,) = persistent_notification._async_get_or_create_notifications(hass).values()
    assert notification["title"] == "Missed check-in: Alice's phone"
    assert "Alice's phone did not check in by " in notification["message"]
    assert (
        "openstreetmap.org" in notification["message"] and "±12 m (GPS)" in notification["message"]
    )
    await _at(hass, deadline + 180)  # (an hour on would fire HA 2026's HTTP settings revert)
    assert len(panics) == 1


async def test_a_check_in_ends_the_timer_and_a_late_one_ends_its_alarm(
    hass: HomeAssistant, phone_entry: MockConfigEntry, app: Companion, events: Events
) -> None:
    panics, cancels = events("ble_rtls_panic"), events("ble_rtls_panic_cancelled")
    ended = app.start_timer(1)
    app.check_in()
    await until(lambda: (app.status().link.timer or {}).get("state") == "checked_in")
    assert app.status().check_in_by is None
    await _at(hass, ended + 60)
    assert panics == []

    deadline = app.start_timer(1)
    await until(lambda: (app.status().link.timer or {}).get("state") == "running")
    await _at(hass, deadline + 1)
    assert len(panics) == 1
    app.set_sharing(True, interval=0.0)
    app.on_fix(Fix(52.0003, 5.0004, 12.0, time.time()))  # its next message is answered...
    await until(lambda: _panic(app).get("reason") == "missed_check_in")  # ...with the alarm
    assert app.status().link.timer["state"] == "expired"  # type: ignore[index]
    app.check_in()  # late, but safe
    await until(lambda: len(cancels) == 1)
    assert cancels[0]["panic_id"] == panics[0]["panic_id"]
    assert _state(hass, entity_id(hass, phone_entry, "binary_sensor", "panic")) == "off"


async def test_a_timer_outlives_restarts_of_home_assistant_and_the_app(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    server: str,
    tmp_path: Path,
    events: Events,
) -> None:
    panics = events("ble_rtls_panic")
    folder = tmp_path / "restarted-phone"
    first = Companion(folder, FixedLocationSource(52.0, 5.0), sender_options=FAST)
    await hass.async_add_executor_job(first.pair, pairing_payload(server, ALICE))
    first.start()
    deadline = first.start_timer(1)
    await until(lambda: (first.status().link.timer or {}).get("state") == "running")
    await hass.async_add_executor_job(first.close)
    second = Companion(folder, FixedLocationSource(52.0, 5.0), sender_options=FAST)
    assert second.status().check_in_by == deadline  # the app shows it after a restart
    await hass.async_add_executor_job(second.outbox.close)

    assert await hass.config_entries.async_reload(phone_entry.entry_id)
    await hass.async_block_till_done()
    due = entity_id(hass, phone_entry, "sensor", "check_in_due")
    assert dt_util.parse_datetime(_state(hass, due)).timestamp() == pytest.approx(deadline, abs=1)  # type: ignore[union-attr]

    # Home Assistant down across the deadline: its clock reads past the deadline when it is
    # back (here the stored deadline is moved back instead), and the alarm is raised then.
    assert await hass.config_entries.async_unload(phone_entry.entry_id)
    store = phone_store(hass, phone_entry.entry_id)
    stored = await store.async_load()
    assert stored is not None and stored["alice"]["timer"]["state"] == "running"
    stored["alice"]["timer"]["deadline"] = time.time() - 30
    await store.async_save(stored)
    assert panics == []
    assert await hass.config_entries.async_setup(phone_entry.entry_id)
    await hass.async_block_till_done()
    await _later(hass, 1)
    assert len(panics) == 1 and panics[0]["reason"] == "missed_check_in"
    assert await hass.config_entries.async_reload(phone_entry.entry_id)
    await hass.async_block_till_done()
    await _at(hass, deadline + 120)
    assert len(panics) == 1  # once


async def test_no_log_line_holds_the_webhook_address_or_the_secret(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    panics = events("ble_rtls_panic")
    app.raise_panic()
    deadline = app.start_timer(1)
    await until(lambda: len(panics) == 1 and app.outbox.counts().queued == 0)
    await _at(hass, deadline + 1)
    assert any("/api/webhook/<hidden>" in r.getMessage() for r in caplog.records)
    # Home Assistant's own debug and access logs name every webhook it serves (its mobile
    # app's too): not ours to change. Ours, the app's and its HTTP library's must not.
    ours = ("custom_components.ble_rtls", "ble_rtls_companion", "urllib3", "requests")
    for record in caplog.records:
        if not record.name.startswith(ours):
            continue
        text = record.getMessage()
        assert ALICE["webhook_id"] not in text and ALICE["secret"] not in text, text


async def test_the_phone_asks_just_after_its_timer_runs_out(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    outbox: Callable[[str], Outbox],
    events: Events,
) -> None:
    """No message of its own to send: it asks once the deadline has passed, and learns of the
    alarm raised for it. (Its clock is a minute ahead: the deadline has just passed for it.)"""
    panics = events("ble_rtls_panic")
    box = outbox("timer.sqlite3")
    deadline = time.time() + 60
    box.add(message("timer_start", time.time(), duration=60.0))
    sender = Sender(box, pairing, clock=lambda: time.time() + 61, **FAST)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    try:
        await until(lambda: (sender.status.timer or {}).get("state") == "running")
        await _at(hass, deadline + 1)
        assert len(panics) == 1
        await until(lambda: (sender.status.panic or {}).get("reason") == "missed_check_in")
        assert sender.alarm_open()  # and it keeps asking until someone answers
    finally:
        stop.set()
        sender.wake.set()
        await hass.async_add_executor_job(thread.join)
        sender.close()

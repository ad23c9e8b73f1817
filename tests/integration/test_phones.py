"""Companion phones end to end: the app's real pairing, outbox and sender over loopback HTTP
to HA's real webhook; what HA shows, fires and stores; every refused request changes nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import Fix, FixedLocationSource
from ble_rtls_companion.outbox import Outbox
from ble_rtls_companion.pairing import Pairing, PairingError
from ble_rtls_companion.protocol import encode, message, signed_headers
from ble_rtls_companion.sender import ConnectionCheckError, Sender, check_connection
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ble_rtls_lab.hass.proxies import SimulatedProxy
from custom_components.ble_rtls.compat import device_by_identifier
from custom_components.ble_rtls.const import DOMAIN
from custom_components.ble_rtls.diagnostics import async_get_config_entry_diagnostics
from custom_components.ble_rtls.identity import ibeacon_payload
from custom_components.ble_rtls.ids import device_identifier
from custom_components.ble_rtls.phone_protocol import ProtocolError, parse_messages
from custom_components.ble_rtls.phones import Fix as HaFix
from custom_components.ble_rtls.phones import best_fix, pairing_payload
from tests.mutations import mutated

from .conftest import ALICE, BEACON, FAST, Walker, entity_id, until


def post(pairing: Pairing, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(pairing.endpoint, data=body, headers=headers, timeout=5)


async def test_location_moves_the_phone_tracker(
    hass: HomeAssistant, phone_entry: MockConfigEntry, app: Companion
) -> None:
    tracker = entity_id(hass, phone_entry, "device_tracker", "location")
    await until(lambda: app.outbox.counts().queued == 0 and app.status().link.sent > 0)
    state = hass.states.get(tracker)
    assert state is not None
    assert state.attributes["latitude"] == pytest.approx(52.0003)
    assert state.attributes["longitude"] == pytest.approx(5.0004)
    assert state.attributes["gps_accuracy"] == 12
    assert state.attributes["source"] == "gps"
    assert state.attributes["source_type"] == "gps"
    assert app.status().link.last_location_time is not None

    app.set_sharing(True, interval=0.0)
    app.on_fix(Fix(52.01, 5.02, 8.0, time.time(), altitude=3.0, speed=1.2))
    await until(lambda: hass.states.get(tracker).attributes["latitude"] == 52.01)  # type: ignore[union-attr]
    state = hass.states.get(tracker)
    assert state is not None
    assert state.attributes["speed"] == 1.2
    # An older fix arriving late (a queue drained out of order) does not move it back.
    app.on_fix(Fix(40.0, 4.0, 8.0, time.time() - 3600))
    await until(lambda: app.outbox.counts().queued == 0)
    assert hass.states.get(tracker).attributes["latitude"] == 52.01  # type: ignore[union-attr]


async def test_panic_fires_once_and_turns_the_sensor_on_until_cancelled(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    pairing: Pairing,
    events: Callable[[str], list[dict[str, Any]]],
    outbox: Callable[[str], Outbox],
) -> None:
    panics, cancels = events("ble_rtls_panic"), events("ble_rtls_panic_cancelled")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    app.on_fix(Fix(52.0003, 5.0004, 12.0, time.time()))
    panic_id = app.raise_panic("followed by a car")
    await until(lambda: app.outbox.counts().queued == 0 and len(panics) == 1)
    assert hass.states.get(sensor).state == "on"  # type: ignore[union-attr]
    event = panics[0]
    assert event["panic_id"] == panic_id
    assert event["phone_name"] == "Alice's phone"
    assert event["note"] == "followed by a car"
    assert event["latitude"] == pytest.approx(52.0003)
    assert event["source"] == "gps"
    assert "openstreetmap.org" in event["map_url"]
    device = device_by_identifier(
        dr.async_get(hass),
        device_identifier(phone_entry.entry_id, "phone", "alice"),
        phone_entry.entry_id,
    )
    assert device is not None and event["device_id"] == device.id
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    assert any("followed by a car" in n["message"] for n in notifications.values())
    assert app.status().link.panic == {
        "id": panic_id,
        "state": "active",
        "reason": "panic",
        "by": None,
    }

    # The same panic again (the app retrying after losing the answer): acked, not re-fired.
    retry_box = outbox("retry.sqlite3")
    retry_box.add({"id": panic_id, "type": "panic", "time": time.time()})
    retry = Sender(retry_box, pairing, **FAST)
    assert await hass.async_add_executor_job(retry.send_once)
    await hass.async_block_till_done()
    assert retry_box.counts().queued == 0
    assert len(panics) == 1

    assert app.cancel_panic()
    await until(lambda: len(cancels) == 1)
    assert hass.states.get(sensor).state == "off"  # type: ignore[union-attr]
    assert hass.states.get(sensor).attributes["panic_state"] == "cancelled"  # type: ignore[union-attr]
    assert not app.cancel_panic()  # nothing left to cancel
    assert not persistent_notification._async_get_or_create_notifications(hass)


async def test_acknowledge_action_clears_the_alarm_and_tells_the_phone(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    events: Callable[[str], list[dict[str, Any]]],
) -> None:
    acknowledged = events("ble_rtls_panic_acknowledged")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    panic_id = app.raise_panic()
    await until(lambda: hass.states.get(sensor).state == "on")  # type: ignore[union-attr]
    device = device_by_identifier(
        dr.async_get(hass),
        device_identifier(phone_entry.entry_id, "phone", "alice"),
        phone_entry.entry_id,
    )
    assert device is not None
    response = await hass.services.async_call(
        DOMAIN, "acknowledge_panic", {"device_id": device.id}, blocking=True, return_response=True
    )
    assert response == {"acknowledged": True}
    await hass.async_block_till_done()
    assert hass.states.get(sensor).state == "off"  # type: ignore[union-attr]
    assert acknowledged[0]["panic_id"] == panic_id
    response = await hass.services.async_call(
        DOMAIN, "acknowledge_panic", {"device_id": device.id}, blocking=True, return_response=True
    )
    assert response == {"acknowledged": False}  # already acknowledged
    app.check_in()
    await until(lambda: (app.status().link.panic or {}).get("state") == "acknowledged")
    assert app.status().link.panic["id"] == panic_id  # type: ignore[index]
    check_in = hass.states.get(entity_id(hass, phone_entry, "sensor", "check_in"))
    assert check_in is not None and check_in.state not in ("unknown", "unavailable")


async def test_acknowledge_refuses_a_device_that_is_not_a_phone(
    hass: HomeAssistant, phone_entry: MockConfigEntry
) -> None:
    device = device_by_identifier(
        dr.async_get(hass),
        device_identifier(phone_entry.entry_id, "tag", "forklift"),
        phone_entry.entry_id,
    )
    assert device is not None
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "acknowledge_panic", {"device_id": device.id}, blocking=True
        )
    assert err.value.translation_key == "not_a_phone"


async def test_panic_names_the_linked_person(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    events: Callable[[str], list[dict[str, Any]]],
) -> None:
    panics = events("ble_rtls_panic")
    tracker = entity_id(hass, phone_entry, "device_tracker", "location")
    assert await async_setup_component(
        hass, "person", {"person": [{"id": "alice", "name": "Alice", "device_trackers": [tracker]}]}
    )
    await hass.async_block_till_done()
    app.raise_panic()
    await until(lambda: len(panics) == 1)
    assert panics[0]["person"] == "Alice"


async def test_indoors_the_finer_tag_wins_over_gps(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    proxies: dict[str, SimulatedProxy],
) -> None:
    tracker = entity_id(hass, phone_entry, "device_tracker", "location")
    await until(lambda: app.status().link.last_location_time is not None)
    assert hass.states.get(tracker).attributes["source"] == "gps"  # type: ignore[union-attr]
    walker = Walker(hass, phone_entry, proxies)
    payload = {0x004C: ibeacon_payload(BEACON)}
    await walker.walk("5A:00:00:00:00:07", (5.0, 5.0), (5.0, 5.0), 12, manufacturer_data=payload)
    state = hass.states.get(tracker)
    assert state is not None
    assert state.attributes["source"] == "ble"
    assert state.attributes["zone"] == "Left room"
    assert state.attributes["latitude"] == pytest.approx(52.0, abs=0.001)


def test_best_fix_prefers_fresh_then_accurate() -> None:
    gps = HaFix(52.0, 5.0, 20.0, 1000.0, "gps")
    ble = HaFix(52.1, 5.1, 2.0, 990.0, "ble")
    assert best_fix(gps, ble) is ble  # both fresh: the finer one
    assert best_fix(gps, HaFix(52.1, 5.1, 2.0, 900.0, "ble")) is gps  # tag stale
    assert best_fix(None, ble) is ble
    assert best_fix(None, None) is None


async def test_alarm_and_panic_ids_survive_a_restart(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    app: Companion,
    pairing: Pairing,
    events: Callable[[str], list[dict[str, Any]]],
    outbox: Callable[[str], Outbox],
) -> None:
    panics = events("ble_rtls_panic")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    panic_id = app.raise_panic()
    await until(lambda: len(panics) == 1 and app.outbox.counts().queued == 0)
    assert await hass.config_entries.async_reload(phone_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(sensor).state == "on"  # type: ignore[union-attr]
    retry_box = outbox("retry.sqlite3")
    retry_box.add({"id": panic_id, "type": "panic", "time": time.time()})
    assert await hass.async_add_executor_job(Sender(retry_box, pairing, **FAST).send_once)
    await hass.async_block_till_done()
    assert len(panics) == 1


async def test_the_app_survives_a_restart_mid_queue(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    server: str,
    events: Callable[[str], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    panics = events("ble_rtls_panic")
    folder = tmp_path / "phone"
    first = Companion(folder, FixedLocationSource(52.0, 5.0), sender_options=FAST)
    await hass.async_add_executor_job(first.pair, pairing_payload(server, ALICE))
    panic_id = first.raise_panic("before the restart")  # queued, never sent: app killed
    first.outbox.close()
    second = Companion(folder, FixedLocationSource(52.0, 5.0), sender_options=FAST)
    assert second.status().queue.alarms == 1
    assert second.status().active_panic == panic_id
    second.start()
    await until(lambda: len(panics) == 1 and second.outbox.counts().queued == 0)
    assert panics[0]["panic_id"] == panic_id
    await hass.async_add_executor_job(second.close)


async def test_pairing_errors_are_clear(
    hass: HomeAssistant, phone_entry: MockConfigEntry, server: str, tmp_path: Path
) -> None:
    companion = Companion(tmp_path / "phone", FixedLocationSource(52.0, 5.0))

    async def pair(text: str) -> str:
        return await hass.async_add_executor_job(companion.pair, text)

    with pytest.raises(PairingError, match="not a pairing code"):
        await pair("hello")
    with pytest.raises(PairingError, match="no secret"):
        await pair(json.dumps({"v": 1, "url": server, "webhook_id": "x", "name": "n"}))
    with pytest.raises(PairingError, match="not an http"):
        await pair(pairing_payload("ftp://x", ALICE))
    with pytest.raises(ConnectionCheckError, match="refused this phone"):
        await pair(pairing_payload(server, ALICE | {"secret": "x" * 43}))
    with pytest.raises(ConnectionCheckError, match="does not know this phone"):
        await pair(pairing_payload(server, ALICE | {"webhook_id": "unknown-hook"}))
    with pytest.raises(ConnectionCheckError, match="Cannot reach"):
        await pair(pairing_payload("http://127.0.0.1:9", ALICE))
    assert companion.pairing is None  # nothing saved by a failed attempt
    assert not (tmp_path / "phone" / "pairing.json").exists()
    companion.close()


def _valid(pairing: Pairing, messages: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = encode(messages)
    return body, signed_headers(pairing.secret, body, time.time())


def _refusals(pairing: Pairing) -> dict[str, tuple[int, bytes, dict[str, str]]]:
    """Each hostile or broken request and the status HA must answer it with."""
    panic = [message("panic", time.time(), note="forged")]
    body, headers = _valid(pairing, panic)
    forged = signed_headers("not-the-secret" * 3, body, time.time())
    stale_body = encode(panic)
    stale = signed_headers(pairing.secret, stale_body, time.time() - 600)
    big = encode([message("panic", time.time(), note="x" * 400)] * 200)
    cases = {
        "forged": (401, body, forged),
        "unsigned": (401, body, {"Content-Type": "application/json"}),
        "tampered": (401, body.replace(b"forged", b"FORGED"), headers),
        "stale": (401, stale_body, stale),
        "oversized": (413, big, signed_headers(pairing.secret, big, time.time())),
    }
    for name, bad in {
        "not_json": b"{panic",
        "no_messages": b'{"messages": []}',
        "wrong_type": encode([{"id": "a", "type": "launch", "time": 1.0}]),
        "latitude_out_of_range": encode(
            [message("location", time.time(), location={"lat": 200, "lon": 5, "accuracy": 5})]
        ),
        "string_number": encode(
            [message("location", time.time(), location={"lat": "52", "lon": 5, "accuracy": 5})]
        ),
        "missing_id": encode([{"type": "panic", "time": 1.0}]),
        "valid_then_broken": encode(
            [message("panic", time.time()), {"id": "b", "type": "panic", "time": -5}]
        ),
        # Both had escaped as exceptions, which HA's webhook logs and answers with an empty
        # 200: a list is not hashable, and 64 KiB of "[" nests deeper than the decoder goes.
        "type_a_list": encode([{"id": "a", "type": ["panic"], "time": 1.0}]),
        "nested_too_deep": b"[" * 30_000 + b"]" * 30_000,
    }.items():
        cases[name] = (400, bad, signed_headers(pairing.secret, bad, time.time()))
    return cases


async def test_hostile_and_broken_requests_are_refused_and_change_nothing(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Callable[[str], list[dict[str, Any]]],
    hass_storage: dict[str, Any],
) -> None:
    panics = events("ble_rtls_panic")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    tracker = entity_id(hass, phone_entry, "device_tracker", "location")
    before = (hass.states.get(sensor), hass.states.get(tracker), json.dumps(hass_storage))
    for name, (status, body, headers) in _refusals(pairing).items():
        response = await hass.async_add_executor_job(post, pairing, body, headers)
        assert response.status_code == status, name
        assert response.json()["message"], name
    await hass.async_block_till_done()
    assert (hass.states.get(sensor), hass.states.get(tracker), json.dumps(hass_storage)) == before
    assert panics == []

    # A valid request works once; the same bytes again are a replay.
    body, headers = _valid(pairing, [message("panic", time.time())])
    first = await hass.async_add_executor_job(post, pairing, body, headers)
    again = await hass.async_add_executor_job(post, pairing, body, headers)
    assert (first.status_code, again.status_code) == (200, 409)
    await hass.async_block_till_done()
    assert len(panics) == 1


async def test_a_body_without_length_is_refused(
    hass: HomeAssistant, phone_entry: MockConfigEntry, pairing: Pairing
) -> None:
    body, headers = _valid(pairing, [message("hello", time.time())])

    def chunked() -> requests.Response:
        return requests.post(pairing.endpoint, data=iter([body]), headers=headers, timeout=5)

    response = await hass.async_add_executor_job(chunked)
    assert response.status_code == 411


async def test_diagnostics_hide_secrets_and_positions(
    hass: HomeAssistant, phone_entry: MockConfigEntry, app: Companion
) -> None:
    await until(lambda: app.status().link.sent > 0)
    diagnostics = await async_get_config_entry_diagnostics(hass, phone_entry)
    text = json.dumps(diagnostics)
    assert ALICE["secret"] not in text and ALICE["webhook_id"] not in text
    assert "52.0003" not in text
    assert diagnostics["phones"]["alice"]["has_fix"] is True


async def test_a_phone_with_a_wrong_clock_still_gets_its_alarm_through(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Callable[[str], list[dict[str, Any]]],
    outbox: Callable[[str], Outbox],
) -> None:
    panics = events("ble_rtls_panic")
    box = outbox("outbox.sqlite3")
    box.add(message("panic", time.time()))
    an_hour_fast = Sender(box, pairing, clock=lambda: time.time() + 3600, **FAST)
    assert await hass.async_add_executor_job(an_hour_fast.send_once)
    await hass.async_block_till_done()
    assert len(panics) == 1 and box.counts().queued == 0


async def test_unloading_the_site_closes_the_phone_webhooks(
    hass: HomeAssistant, phone_entry: MockConfigEntry, pairing: Pairing
) -> None:
    assert await hass.async_add_executor_job(check_connection, pairing) == "Alice's phone"
    assert await hass.config_entries.async_unload(phone_entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ConnectionCheckError, match="does not know this phone"):
        await hass.async_add_executor_job(check_connection, pairing)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_any_change_to_good_messages_is_taken_or_refused_with_a_reason(
    data: st.DataObject,
) -> None:
    """A value replaced, removed or repeated anywhere in a signed body: ProtocolError with
    a status and a reason, or checked messages; never another exception."""
    located = {"lat": 52.0, "lon": 4.0, "accuracy": 5.0}
    good = {
        "messages": [
            message("location", 1.7e9, location=located | {"speed": 0.5, "battery": 80}),
            message("panic", 1.7e9, note="help", location=located),
            {"id": "c", "type": "panic_cancel", "time": 1.7e9, "panic_id": "p"},
            message("check_in", 1.7e9),
        ]
    }
    body = json.dumps(mutated(data, good)).encode()
    try:
        messages = parse_messages(body)
    except ProtocolError as err:
        assert err.status == 400 and err.code and str(err)
        return
    assert all(isinstance(m.id, str) and math.isfinite(m.time) for m in messages)

"""The panic path under attack and bad luck, against HA's real webhook over loopback HTTP.

Every hostile request is refused with a 4xx and a JSON reason and changes nothing, before
and after reloads and restarts; nothing raises inside the handler; and a panic fires once
per id through kills at the worst moment, reloads and restarts.

A restart here is what a process restart leaves: the entry unloaded, the in-memory hub and
its store gone, HA's storage as written. A kill is the same, but the storage is put back to
what it held at the moment of the kill, so nothing written after it survives.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from ble_rtls_companion.pairing import Pairing
from ble_rtls_companion.protocol import encode, message, signed_headers
from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.ble_rtls.const import DOMAIN
from custom_components.ble_rtls.phones import PHONE_STORES, phone_store

from .conftest import entity_id

type Events = Callable[[str], list[dict[str, Any]]]
type Request = tuple[bytes, dict[str, str | bytes]]


def _signed(pairing: Pairing, messages: list[dict[str, Any]], at: float | None = None) -> Request:
    body = encode(messages)
    return body, dict(signed_headers(pairing.secret, body, time.time() if at is None else at))


async def _post(hass: HomeAssistant, pairing: Pairing, request: Request) -> requests.Response:
    body, headers = request

    def send() -> requests.Response:
        return requests.post(pairing.endpoint, data=body, headers=headers, timeout=5)

    return await hass.async_add_executor_job(send)


def _with(request: Request, **headers: str | bytes) -> Request:
    body, given = request
    renamed = {f"X-Ble-Rtls-{key.title()}": value for key, value in headers.items()}
    return body, given | renamed


def _hostile(pairing: Pairing) -> dict[str, Request]:
    """Each hostile or broken request that HA must refuse with a 4xx."""
    panic = [message("panic", time.time(), note="forged")]
    body, headers = good = _signed(pairing, panic)
    bomb = gzip.compress(b'{"messages": [' + b" " * 10_000_000 + b"]}")
    gzipped = gzip.compress(body)
    surrogate_id = encode([message("panic", time.time())]).replace(b'"id":"', b'"id":"\\ud800', 1)
    surrogate_note = encode([message("panic", time.time(), note="x")]).replace(
        b'"note":"x"', b'"note":"\\udfff"'
    )
    now = str(time.time()).encode()

    def huge(digits: int) -> bytes:
        position = b'{"lat":1,"lon":1,"accuracy":' + b"9" * digits + b"}"
        return (
            b'{"messages":[{"id":"n","type":"location","time":'
            + now
            + b',"location":'
            + (position + b"}]}")
        )

    return {
        "unsigned": (body, {"Content-Type": "application/json"}),
        "wrong secret": (body, dict(signed_headers("not-the-secret" * 3, body, time.time()))),
        "tampered": (body.replace(b"forged", b"FORGED"), headers),
        "stale": _signed(pairing, panic, time.time() - 600),
        "from the future": _signed(pairing, panic, time.time() + 600),
        "oversized": _signed(pairing, [message("panic", time.time(), note="x" * 400)] * 200),
        "gzip bomb": (bomb, {**headers, "Content-Encoding": "gzip"}),
        "gzip, signed": (gzipped, {**headers, "Content-Encoding": "gzip"}),
        "signature not ASCII": _with(good, signature="é" * 64),
        "signature not UTF-8": _with(good, signature=b"\xff" * 64),
        "time not UTF-8": _with(good, time=b"\xff\xfe1700000000"),
        "time not a number": _with(good, time="soon"),
        "nonce not ASCII": _with(good, nonce="ü" * 20),
        "an integer of 400 digits": _signed_raw(pairing, huge(400)),
        "an integer of 5000 digits": _signed_raw(pairing, huge(5000)),
        "a lone surrogate in an id": _signed_raw(pairing, surrogate_id),
        "a lone surrogate in a note": _signed_raw(pairing, surrogate_note),
    }


def _signed_raw(pairing: Pairing, body: bytes) -> Request:
    return body, dict(signed_headers(pairing.secret, body, time.time()))


async def _restart(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    disk: dict[str, Any] | None = None,
) -> None:
    """Stop the site as a process restart does; `disk`: what storage held at a kill."""
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    if disk is not None:
        hass_storage.clear()
        hass_storage.update(copy.deepcopy(disk))
    hass.data[PHONE_STORES].clear()  # the old process's store objects are gone
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info
    ]


async def test_hostile_requests_are_refused_before_and_after_reloads_and_restarts(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Events,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    panics = events("ble_rtls_panic")
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    tracker = entity_id(hass, phone_entry, "device_tracker", "location")
    fix = {"lat": 52.0, "lon": 5.0, "accuracy": 5.0}
    captured = _signed(pairing, [message("location", time.time(), location=fix)])
    assert (await _post(hass, pairing, captured)).status_code == 200
    captured_panic = _signed(pairing, [message("panic", time.time())])
    assert (await _post(hass, pairing, captured_panic)).status_code == 200
    await hass.async_block_till_done()
    assert len(panics) == 1

    def seen() -> tuple[Any, ...]:
        # The site's stores and its config entry (HA's own, such as auth, save on timers of
        # their own).
        ours = {k: v for k, v in hass_storage.items() if DOMAIN in k or k == "core.config_entries"}
        return (
            hass.states.get(sensor),
            hass.states.get(tracker),
            json.dumps(ours, sort_keys=True),
            len(panics),
        )

    for moment in ("running", "after a reload", "after a restart"):
        if moment == "after a reload":
            assert await hass.config_entries.async_reload(phone_entry.entry_id)
            await hass.async_block_till_done()
        elif moment == "after a restart":
            await _restart(hass, phone_entry, hass_storage)
        before = seen()
        hostile = _hostile(pairing) | {"replayed": captured, "replayed panic": captured_panic}
        for name, request in hostile.items():
            response = await _post(hass, pairing, request)
            assert 400 <= response.status_code < 500, (moment, name, response.status_code)
            answer = response.json()
            assert answer["error"] and answer["message"], (moment, name)
            # Only a stale request learns the server's time.
            assert ("server_time" in answer) == (answer["error"] == "stale"), (moment, name)
        await hass.async_block_till_done()
        assert seen() == before, moment
    assert _errors(caplog) == []
    # The phone itself goes on: a request it signs now is taken.
    assert (await _post(hass, pairing, _signed(pairing, [message("hello", time.time())]))).ok


async def test_a_kill_right_after_the_panic_fires_does_not_fire_it_again(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Events,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    panics = events("ble_rtls_panic")
    at_fire: list[dict[str, Any]] = []
    hass.bus.async_listen("ble_rtls_panic", lambda _: at_fire.append(copy.deepcopy(hass_storage)))
    panic = message("panic", time.time(), note="kill me now")
    assert (await _post(hass, pairing, _signed(pairing, [panic]))).status_code == 200
    await hass.async_block_till_done()
    assert len(panics) == 1
    # HA is killed the instant the event fired; the phone never saw the answer and retries,
    # signing again, after HA is back.
    await _restart(hass, phone_entry, hass_storage, disk=at_fire[0])
    retry = await _post(hass, pairing, _signed(pairing, [panic]))
    assert retry.status_code == 200 and retry.json()["acked"] == [panic["id"]]
    await hass.async_block_till_done()
    assert [event["panic_id"] for event in panics] == [panic["id"]]
    sensor = hass.states.get(entity_id(hass, phone_entry, "binary_sensor", "panic"))
    assert sensor is not None and sensor.state == "on"
    assert sensor.attributes["panic_id"] == panic["id"]
    # Notifications do not outlive a restart; the alarm nobody answered has its own back.
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    assert any("raised an alarm" in n["message"] for n in notifications.values())
    assert _errors(caplog) == []


async def test_a_kill_before_the_panic_is_stored_fires_it_on_the_retry(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Events,
    hass_storage: dict[str, Any],
) -> None:
    panics = events("ble_rtls_panic")
    disk = copy.deepcopy(hass_storage)  # killed as the request arrived
    await _restart(hass, phone_entry, hass_storage, disk=disk)
    panic = message("panic", time.time())
    for _ in range(3):  # the retries after the answer that never came
        assert (await _post(hass, pairing, _signed(pairing, [panic]))).status_code == 200
    await hass.async_block_till_done()
    assert [event["panic_id"] for event in panics] == [panic["id"]]


async def test_reload_then_restart_keeps_the_newest_alarm_and_fires_once(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Events,
    hass_storage: dict[str, Any],
) -> None:
    """A location leaves a delayed save pending; a reload; a panic; the old save's time
    passes; a restart: the panic's id and alarm must still be the stored ones."""
    panics = events("ble_rtls_panic")
    fix = {"lat": 52.0, "lon": 5.0, "accuracy": 5.0}
    older = message("panic", time.time() - 5)
    assert (await _post(hass, pairing, _signed(pairing, [older]))).status_code == 200
    location = _signed(pairing, [message("location", time.time(), location=fix)])
    assert (await _post(hass, pairing, location)).status_code == 200
    assert await hass.config_entries.async_reload(phone_entry.entry_id)
    await hass.async_block_till_done()
    newer = message("panic", time.time())
    assert (await _post(hass, pairing, _signed(pairing, [newer]))).status_code == 200
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=45))
    await hass.async_block_till_done()
    stored = hass_storage[f"ble_rtls.{phone_entry.entry_id}.phones"]["data"]["alice"]
    assert newer["id"] in stored["panic_ids"] and stored["panic"]["id"] == newer["id"]
    await _restart(hass, phone_entry, hass_storage)
    for panic in (older, newer):  # the app retries both after the restart
        assert (await _post(hass, pairing, _signed(pairing, [panic]))).status_code == 200
    await hass.async_block_till_done()
    assert [event["panic_id"] for event in panics] == [older["id"], newer["id"]]
    sensor = hass.states.get(entity_id(hass, phone_entry, "binary_sensor", "panic"))
    assert sensor is not None and sensor.attributes["panic_id"] == newer["id"]


async def test_fifty_copies_of_one_request_at_once_apply_once(
    hass: HomeAssistant, phone_entry: MockConfigEntry, pairing: Pairing, events: Events
) -> None:
    panics = events("ble_rtls_panic")
    request = _signed(pairing, [message("panic", time.time())])

    def burst() -> list[int]:
        with requests.Session() as session:
            body, headers = request
            with ThreadPoolExecutor(10) as pool:
                answers = pool.map(
                    lambda _: session.post(pairing.endpoint, data=body, headers=headers, timeout=5),
                    range(50),
                )
                return [answer.status_code for answer in answers]

    statuses = await hass.async_add_executor_job(burst)
    await hass.async_block_till_done()
    assert sorted(statuses) == [200] + [409] * 49
    assert len(panics) == 1


async def test_a_panic_that_cannot_be_stored_is_not_fired_and_fires_on_the_retry(
    hass: HomeAssistant,
    phone_entry: MockConfigEntry,
    pairing: Pairing,
    events: Events,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    panics = events("ble_rtls_panic")
    store = phone_store(hass, phone_entry.entry_id)

    async def disk_full(_data: dict[str, Any]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "async_save", disk_full)
    panic = message("panic", time.time())
    refused = await _post(hass, pairing, _signed(pairing, [panic]))
    assert refused.status_code == 503 and refused.json()["error"] == "not_stored"
    await hass.async_block_till_done()
    assert panics == []
    sensor = entity_id(hass, phone_entry, "binary_sensor", "panic")
    assert hass.states.get(sensor).state == "off"  # type: ignore[union-attr]
    monkeypatch.undo()
    retry = await _post(hass, pairing, _signed(pairing, [panic]))
    assert retry.status_code == 200
    await hass.async_block_till_done()
    assert [event["panic_id"] for event in panics] == [panic["id"]]

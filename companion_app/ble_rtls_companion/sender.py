"""Sends the outbox to the phone's webhook: signed, with timeouts and jittered backoff.

A message leaves the outbox only when the server's answer lists its id; any failure
(no network, timeout, HTTP 500, a reset after the server committed) leaves it queued and
it is sent again. The server de-duplicates by id, so a retry never raises a panic twice.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import requests

from .outbox import Outbox
from .pairing import Pairing
from .protocol import encode, message, signed_headers

BATCH: Final = 50
# Pause after the n-th failure in a row: uniform in [0, min(MAX, BASE * 2**n)] ("full
# jitter"), so phones that lost the server together do not come back together.
BACKOFF_BASE: Final = 1.0
BACKOFF_MAX: Final = 60.0
TIMEOUT: Final = 10.0
# While an alarm is open, Home Assistant is asked this often (s) whether someone answered;
# otherwise the phone only talks when it has something to send.
ALARM_POLL: Final = 2.0


WEBHOOK_PATH: Final = re.compile(r"/api/webhook/[^\s\"']+")


class _HideWebhook(logging.Filter):
    """urllib3 logs each request's path at debug level, and a webhook id is a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "/api/webhook/" in text:
            record.msg, record.args = WEBHOOK_PATH.sub("/api/webhook/<hidden>", text), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HideWebhook())


class ConnectionCheckError(Exception):
    """Pairing could not be confirmed with the server; the message says what to do."""


@dataclass(slots=True)
class SenderStatus:
    """What the home screen shows about the link to Home Assistant."""

    reachable: bool | None = None
    last_error: str | None = None
    last_location_time: float | None = None
    panic: dict[str, Any] | None = None
    timer: dict[str, Any] | None = None
    sent: int = 0
    failures: int = 0


def _post(
    session: requests.Session,
    pairing: Pairing,
    messages: list[dict[str, Any]],
    timeout: float,
    now: float,
) -> requests.Response:
    body = encode(messages)
    return session.post(
        pairing.endpoint,
        data=body,
        headers=signed_headers(pairing.secret, body, now),
        timeout=timeout,
    )


def _exchange(
    session: requests.Session,
    pairing: Pairing,
    messages: list[dict[str, Any]],
    timeout: float,
    clock: Callable[[], float],
    offset: float,
) -> tuple[requests.Response, float]:
    """POST the batch, and once more on the server's clock if refused as stale.

    Returns the answer and the clock offset to sign with from now on.
    """
    for _ in range(2):
        response = _post(session, pairing, messages, timeout, clock() + offset)
        learned = _server_offset(response, clock)
        if learned is None:
            break
        offset = learned
    return response, offset


def _server_offset(response: requests.Response, clock: Callable[[], float]) -> float | None:
    """Server time minus this phone's clock, when the server refused the request as stale."""
    if response.status_code != 401:
        return None
    try:
        answer = response.json()
        return float(answer["server_time"]) - clock() if answer["error"] == "stale" else None
    except (ValueError, KeyError, TypeError):
        return None


def _refusal(response: requests.Response) -> str:
    """The server's reason for a 4xx/5xx, or the status when it gave none."""
    try:
        reason = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return f"HTTP {response.status_code}: {reason.get('message', reason.get('error'))}"


def check_connection(pairing: Pairing, timeout: float = TIMEOUT) -> str:
    """Send a signed hello; the phone's name as the server knows it, or a clear error."""
    with requests.Session() as session:
        try:
            hello = [message("hello", time.time())]
            response, _ = _exchange(session, pairing, hello, timeout, time.time, 0.0)
        except requests.Timeout:
            raise ConnectionCheckError(f"{pairing.url} did not answer in time") from None
        except requests.RequestException:
            raise ConnectionCheckError(
                f"Cannot reach {pairing.url}: check the network and the address"
            ) from None
    if response.status_code == 401:
        raise ConnectionCheckError(f"Home Assistant refused this phone ({_refusal(response)})")
    if response.status_code != 200:
        raise ConnectionCheckError(f"Home Assistant answered {_refusal(response)}")
    try:
        return str(response.json()["phone"])
    except (ValueError, KeyError, TypeError):
        raise ConnectionCheckError(
            "Home Assistant does not know this phone: it was removed or re-keyed; pair again"
        ) from None


class Sender:
    """One attempt at a time from a background thread; `wake` cuts a backoff short."""

    def __init__(
        self,
        outbox: Outbox,
        pairing: Pairing,
        *,
        timeout: float = TIMEOUT,
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
        rng: random.Random | None = None,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.pairing = pairing
        self.status = SenderStatus()
        self.wake = threading.Event()
        self._timeout = timeout
        self._backoff = (backoff_base, backoff_max)
        self._rng = rng or random.Random()
        self._batch = BATCH
        self._session = requests.Session()
        self._on_change = on_change
        self._clock = clock
        # Server time minus this phone's clock, learned from 'stale' refusals: a phone
        # with a wrong clock must still get its alarm through.
        self._clock_offset = 0.0

    def send_once(self) -> bool:
        """Send the next batch; True when it was acknowledged (or nothing was queued)."""
        messages = self.outbox.batch(self._batch)
        if not messages:
            return True
        try:
            response, self._clock_offset = _exchange(
                self._session,
                self.pairing,
                messages,
                self._timeout,
                self._clock,
                self._clock_offset,
            )
        except requests.RequestException as err:
            return self._failed(f"Cannot reach Home Assistant ({type(err).__name__})", False)
        if response.status_code in (400, 413):
            # One message the server cannot take must not hold up the others: find it.
            if len(messages) > 1:
                self._batch = 1
            else:
                self.outbox.reject(messages[0]["id"])
            return self._failed(f"Refused {_refusal(response)}", True)
        if response.status_code != 200:
            return self._failed(f"Home Assistant answered {_refusal(response)}", True)
        try:
            answer = response.json()
            acked = {str(i) for i in answer["acked"]}
        except (ValueError, KeyError, TypeError):
            return self._failed("Home Assistant does not know this phone: pair again", True)
        self.outbox.remove(acked)
        self._batch = BATCH
        status = self.status
        status.reachable, status.last_error, status.failures = True, None, 0
        status.sent += len(acked)
        status.panic = answer.get("panic")
        status.timer = answer.get("timer")
        locations = [m["time"] for m in messages if m["type"] == "location" and m["id"] in acked]
        if locations:
            status.last_location_time = max(locations)
        self._on_change()
        return True

    def _failed(self, reason: str, reachable: bool) -> bool:
        status = self.status
        status.reachable, status.last_error = reachable, reason
        status.failures += 1
        self._on_change()
        return False

    def backoff(self) -> float:
        """The pause before the next attempt after the current run of failures."""
        base, cap = self._backoff
        return self._rng.uniform(0.0, min(cap, base * 2 ** min(self.status.failures, 30)))

    def alarm_open(self) -> bool:
        """Home Assistant last said an alarm of this phone is waiting for an answer."""
        panic = self.status.panic
        return panic is not None and panic.get("state") == "active"

    def _ask_in(self) -> float | None:
        """Seconds until Home Assistant should be asked about an alarm, if it should.

        Every ALARM_POLL while an alarm is open; once just after a running check-in timer's
        deadline (whether it raised its alarm). Otherwise the phone talks only to send.
        """
        if self.alarm_open():
            return ALARM_POLL
        timer = self.status.timer
        if timer is not None and timer.get("state") == "running":
            return max(0.0, float(timer["deadline"]) - self._clock()) + ALARM_POLL
        return None

    def run(self, stop: threading.Event, idle: float = 30.0) -> None:
        """Send until stopped: at once while messages wait, backing off after failures."""
        while not stop.is_set():
            if self.outbox.counts().queued == 0:
                ask_in = self._ask_in()
                if ask_in is None or ask_in > idle:
                    self.wake.wait(idle)
                elif not self.wake.wait(ask_in) and not stop.is_set():
                    self.outbox.add(message("hello", self._clock()))
            elif not self.send_once():
                self.wake.wait(self.backoff())
            self.wake.clear()

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()

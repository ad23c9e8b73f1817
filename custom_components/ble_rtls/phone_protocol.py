"""The companion app's webhook protocol, checked before anything changes state.

Every request carries the send time, a one-time nonce and an HMAC-SHA256 of both and the
body under the phone's secret. A request outside the time window, signed before the
receiver last started, with a nonce already used, too large, not ASCII where headers must
be, or not matching the message schema is refused with a 4xx and a reason; only a request
that passes every check is applied. No Home Assistant import: the same rules are read by
the app's tests and the benchmark.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import voluptuous as vol

HEADER_TIME: Final = "X-Ble-Rtls-Time"
HEADER_NONCE: Final = "X-Ble-Rtls-Nonce"
HEADER_SIGNATURE: Final = "X-Ble-Rtls-Signature"

# A request is accepted this long (s) either side of the server's clock; its nonce is
# remembered as long, so a captured request cannot be played again.
MAX_SKEW: Final = 120.0
MAX_BODY: Final = 64 * 1024
MAX_MESSAGES: Final = 100
# Nonces one phone may use inside a window: a flood beyond this is refused (429).
MAX_NONCES: Final = 20_000

MESSAGE_TYPES: Final = (
    "location",
    "panic",
    "panic_cancel",
    "check_in",
    "timer_start",
    "hello",
)
# A check-in timer ("expect me within 20 minutes") runs from 1 minute to a day.
TIMER_RANGE_S: Final = (60.0, 86_400.0)
# Seconds since the epoch as the app writes them, and a hex SHA-256: ASCII only, so a header
# of any other bytes is refused before it reaches the HMAC.
TIME_FORMAT: Final = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")
SIGNATURE_FORMAT: Final = re.compile(r"[0-9a-fA-F]{64}")
# Larger numbers are not a float: no field the app sends comes near it.
MAX_NUMBER: Final = 1e15


class ProtocolError(Exception):
    """A refused request: HTTP status, a stable code for the app, a readable reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over the time, the nonce and the body."""
    signed = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _finite(low: float, high: float) -> vol.All:
    return vol.All(_number, vol.Range(min=low, max=high))


def _number(value: Any) -> float:
    """A JSON number that is finite; true, false and strings are not numbers.

    An integer of hundreds of digits is no float (math.isfinite would overflow on it).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid("expected a finite number")
    if isinstance(value, int) and not -MAX_NUMBER <= value <= MAX_NUMBER:
        raise vol.Invalid("expected a finite number")
    if not math.isfinite(value):
        raise vol.Invalid("expected a finite number")
    return float(value)


TEXT_ID = vol.All(str, vol.Length(min=1, max=64))
POSITION: dict[vol.Marker, Any] = {
    vol.Required("lat"): _finite(-90, 90),
    vol.Required("lon"): _finite(-180, 180),
    vol.Required("accuracy"): _finite(0, 100_000),
}
LOCATION = vol.Schema(
    {
        **POSITION,
        vol.Optional("altitude"): _finite(-1000, 100_000),
        vol.Optional("speed"): _finite(0, 1000),
        vol.Optional("battery"): _finite(0, 100),
    }
)
COMMON: dict[vol.Marker, Any] = {
    vol.Required("id"): TEXT_ID,
    vol.Required("type"): vol.In(MESSAGE_TYPES),
    vol.Required("time"): _finite(0, 1e11),
}
SCHEMAS: Final[dict[str, vol.Schema]] = {
    "location": vol.Schema({**COMMON, vol.Required("location"): LOCATION}),
    "panic": vol.Schema(
        {
            **COMMON,
            vol.Optional("location"): LOCATION,
            vol.Optional("note"): vol.All(str, vol.Length(max=500)),
        }
    ),
    "panic_cancel": vol.Schema({**COMMON, vol.Required("panic_id"): TEXT_ID}),
    "check_in": vol.Schema({**COMMON, vol.Optional("location"): LOCATION}),
    "timer_start": vol.Schema(
        {
            **COMMON,
            vol.Required("duration"): _finite(*TIMER_RANGE_S),
            vol.Optional("location"): LOCATION,
        }
    ),
    "hello": vol.Schema(COMMON),
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """A request that passed every check: its nonce, when it was signed, its messages."""

    nonce: str
    sent: float
    messages: list[Message]


@dataclass(frozen=True, slots=True)
class Message:
    """One checked message: its id (what the app waits to see acknowledged) and fields."""

    id: str
    type: str
    time: float
    fields: dict[str, Any]


def check_request(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    seen_nonces: Mapping[str, float],
    signed_after: float = -math.inf,
) -> Accepted:
    """The accepted request; ProtocolError when any check fails.

    `signed_after`: requests signed at or before it are refused as stale, so one captured
    before the receiver (re)started, whose nonce it no longer remembers, cannot be played
    again; the app signs again by the server's time it is told. Checks run cheapest first and
    the signature before the body is parsed, so a forged request costs one HMAC. Nothing is
    recorded here: the caller remembers the nonce only once the request is applied.
    """
    if len(body) > MAX_BODY:
        raise ProtocolError(413, "too_large", f"body over {MAX_BODY} bytes")
    timestamp = headers.get(HEADER_TIME, "")
    nonce = headers.get(HEADER_NONCE, "")
    given = headers.get(HEADER_SIGNATURE, "")
    if not (timestamp and nonce and given):
        raise ProtocolError(401, "unsigned", "time, nonce and signature headers are required")
    if not 16 <= len(nonce) <= 64 or not nonce.isascii() or not nonce.isalnum():
        raise ProtocolError(400, "bad_nonce", "the nonce must be 16 to 64 letters or digits")
    if not TIME_FORMAT.fullmatch(timestamp):
        raise ProtocolError(400, "bad_time", "the time header is not seconds since the epoch")
    if not SIGNATURE_FORMAT.fullmatch(given) or not hmac.compare_digest(
        signature(secret, timestamp, nonce, body), given.lower()
    ):
        raise ProtocolError(401, "bad_signature", "the signature does not match this phone")
    sent = float(timestamp)
    if not abs(now - sent) <= MAX_SKEW:
        raise ProtocolError(
            401, "stale", f"sent {now - sent:.0f} s from the server's time; check the clock"
        )
    if sent <= signed_after:
        raise ProtocolError(401, "stale", "signed before the server last started; sign again")
    if nonce in seen_nonces:
        raise ProtocolError(409, "replayed", "this request was already received")
    if len(seen_nonces) >= MAX_NONCES:
        raise ProtocolError(429, "too_many", "too many requests; slow down")
    return Accepted(nonce, sent, parse_messages(body))


def parse_messages(body: bytes) -> list[Message]:
    """The body's messages, each checked against its type's schema."""
    try:
        document = json.loads(body)
    except RecursionError:  # 64 KiB of "[" nests deeper than the decoder goes
        raise ProtocolError(400, "bad_json", "the body nests too deep") from None
    except ValueError:  # not UTF-8, not JSON, or an integer past Python's digit limit
        raise ProtocolError(400, "bad_json", "the body is not JSON") from None
    if not _writable(document):
        raise ProtocolError(400, "bad_text", "the body holds text that is not valid Unicode")
    raw = document.get("messages") if isinstance(document, dict) else None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_MESSAGES:
        raise ProtocolError(
            400, "bad_body", f"the body must be {{'messages': [1 to {MAX_MESSAGES} messages]}}"
        )
    messages = []
    for index, item in enumerate(raw):
        kind = item.get("type") if isinstance(item, dict) else None
        if not isinstance(kind, str) or kind not in SCHEMAS:  # a list is not even hashable
            raise ProtocolError(
                400, "bad_message", f"message {index}: type must be one of {MESSAGE_TYPES}"
            )
        try:
            checked = SCHEMAS[kind](item)
        except vol.Invalid as err:
            field = ".".join(str(part) for part in err.path) or "a field"
            raise ProtocolError(
                400, "bad_message", f"message {index}: {field} is missing or not valid"
            ) from None
        messages.append(Message(checked["id"], kind, checked["time"], checked))
    return messages


def _writable(document: Any) -> bool:
    """No lone surrogate anywhere (JSON may escape one): storage could not write it.

    Walked with a stack, not recursion: the decoder allows nesting deeper than Python's calls.
    """
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
    return True

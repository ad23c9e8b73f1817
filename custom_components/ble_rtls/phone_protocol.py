"""The companion app's webhook protocol, checked before anything changes state.

Every request carries the send time, a one-time nonce and an HMAC-SHA256 of both and the
body under the phone's secret. A request outside the time window, with a nonce already
used, too large, or not matching the message schema is refused with a 4xx and a reason;
only a request that passes every check is applied. No Home Assistant import: the same
rules are read by the app's tests and the benchmark.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
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

MESSAGE_TYPES: Final = ("location", "panic", "panic_cancel", "check_in", "hello")


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
    """A JSON number that is finite; true, false and strings are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
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
    "hello": vol.Schema(COMMON),
}


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
) -> tuple[str, list[Message]]:
    """The request's nonce and messages; ProtocolError when any check fails.

    Checks run cheapest first and the signature before the body is parsed, so a forged
    request costs one HMAC. Nothing is recorded here: the caller remembers the nonce only
    once the request is applied.
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
    if not hmac.compare_digest(signature(secret, timestamp, nonce, body), given.lower()):
        raise ProtocolError(401, "bad_signature", "the signature does not match this phone")
    try:
        sent = float(timestamp)
    except ValueError:
        raise ProtocolError(400, "bad_time", "the time header is not a number") from None
    if not abs(now - sent) <= MAX_SKEW:
        raise ProtocolError(
            401, "stale", f"sent {now - sent:.0f} s from the server's time; check the clock"
        )
    if nonce in seen_nonces:
        raise ProtocolError(409, "replayed", "this request was already received")
    if len(seen_nonces) >= MAX_NONCES:
        raise ProtocolError(429, "too_many", "too many requests; slow down")
    return nonce, parse_messages(body)


def parse_messages(body: bytes) -> list[Message]:
    """The body's messages, each checked against its type's schema."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProtocolError(400, "bad_json", f"the body is not JSON: {err}") from None
    except RecursionError:  # 64 KiB of "[" nests deeper than the decoder goes
        raise ProtocolError(400, "bad_json", "the body nests too deep") from None
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
            raise ProtocolError(400, "bad_message", f"message {index}: {err}") from None
        messages.append(Message(checked["id"], kind, checked["time"], checked))
    return messages

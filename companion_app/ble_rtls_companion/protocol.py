"""Messages the phone sends and how each request is signed (HA's phone_protocol checks it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any, Final

HEADER_TIME: Final = "X-Ble-Rtls-Time"
HEADER_NONCE: Final = "X-Ble-Rtls-Nonce"
HEADER_SIGNATURE: Final = "X-Ble-Rtls-Signature"

type Message = dict[str, Any]


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """Time, a fresh nonce, and the HMAC-SHA256 of both and the body under the secret."""
    timestamp = f"{now:.3f}"
    nonce = secrets.token_hex(16)
    signed = timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body
    return {
        "Content-Type": "application/json",
        HEADER_TIME: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest(),
    }


def encode(messages: list[Message]) -> bytes:
    """The request body for a batch of messages."""
    return json.dumps({"messages": messages}, separators=(",", ":")).encode()


def message(kind: str, time: float, **fields: Any) -> Message:
    """A message with a new id: the id is what the server acknowledges and de-duplicates."""
    return {"id": uuid.uuid4().hex, "type": kind, "time": time, **fields}

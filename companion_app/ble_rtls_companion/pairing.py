"""The pairing payload HA shows as text and QR code: where to send, and the phone's secret."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

PAIRING_VERSION: Final = 1


class PairingError(ValueError):
    """The pasted or scanned text is not a usable pairing payload; the message says why."""


@dataclass(frozen=True, slots=True)
class Pairing:
    """One phone's link to one Home Assistant site."""

    url: str
    webhook_id: str
    secret: str
    name: str

    @property
    def endpoint(self) -> str:
        """The phone's webhook on the server."""
        return f"{self.url.rstrip('/')}/api/webhook/{self.webhook_id}"


def parse_pairing(text: str) -> Pairing:
    """Check every field, so a typo shows here and not as a silent failure later."""
    try:
        raw = json.loads(text.strip())
    except json.JSONDecodeError:
        raise PairingError(
            "This is not a pairing code: copy the whole text shown in Home Assistant"
        ) from None
    if not isinstance(raw, dict):
        raise PairingError("This is not a pairing code")
    if raw.get("v") != PAIRING_VERSION:
        raise PairingError(f"Pairing code version {raw.get('v')!r} is not supported; update")
    fields = {}
    for key in ("url", "webhook_id", "secret", "name"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise PairingError(f"The pairing code has no {key.replace('_', ' ')}")
        fields[key] = value.strip()
    url = urlsplit(fields["url"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise PairingError(f"The server address {fields['url']!r} is not an http(s) URL")
    if len(fields["secret"]) < 32:
        raise PairingError("The secret in the pairing code is too short; pair again")
    return Pairing(**fields)


def load_pairing(path: Path) -> Pairing | None:
    """The saved pairing, or None when the phone is not paired (or the file is damaged)."""
    try:
        return parse_pairing(path.read_text(encoding="utf-8"))
    except (OSError, PairingError):
        return None


def save_pairing(path: Path, pairing: Pairing) -> None:
    """Written to a temporary file and renamed, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"v": PAIRING_VERSION, **asdict(pairing)}), encoding="utf-8")
    temporary.replace(path)

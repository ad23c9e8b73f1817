"""Tag identity: which advertisements belong to which tag.

A tag is matched by its fixed MAC address, by its iBeacon UUID/major/minor (stable while
phones rotate their MAC), or by its IRK (resolves the private addresses of phones and
watches). Pure Python so the flow, the coordinator and the tests share one parser.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bluetooth_data_tools import get_cipher_for_irk, resolve_private_address
from cryptography.hazmat.primitives.ciphers import Cipher

type IdentityKind = Literal["address", "ibeacon", "irk"]

IDENTITY_KINDS: tuple[IdentityKind, ...] = ("address", "ibeacon", "irk")
APPLE_COMPANY_ID = 0x004C
IBEACON_PREFIX = b"\x02\x15"
IBEACON_LENGTH = 23
_MAC = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_IRK = re.compile(r"^[0-9a-f]{32}$")
# Random addresses remembered as "not ours"; phones rotate every ~15 minutes, so forget
# them all once this many pile up rather than grow without bound.
RESOLVED_CACHE_LIMIT = 10_000


class IdentityError(ValueError):
    """An identity value that cannot match anything; the message says why."""


@dataclass(frozen=True, slots=True)
class Identity:
    """How one tag is recognised; `value` is normalised (upper MAC, lower UUID, hex IRK)."""

    kind: IdentityKind
    value: str


def normalize(kind: str, raw: str) -> Identity:
    """Check and normalise a typed identity value."""
    text = raw.strip()
    if kind == "address":
        mac = text.upper().replace("-", ":")
        if not _MAC.match(mac):
            raise IdentityError(f"{raw!r} is not a MAC address like AA:BB:CC:DD:EE:FF")
        return Identity("address", mac)
    if kind == "ibeacon":
        parts = text.split(":")
        if len(parts) != 3:
            raise IdentityError(f"{raw!r} is not UUID:major:minor")
        try:
            beacon_uuid = uuid.UUID(parts[0])
            major, minor = int(parts[1]), int(parts[2])
        except ValueError as err:
            raise IdentityError(f"{raw!r} is not UUID:major:minor") from err
        if not (0 <= major <= 0xFFFF and 0 <= minor <= 0xFFFF):
            raise IdentityError(f"{raw!r}: major and minor must be 0 to 65535")
        return Identity("ibeacon", f"{beacon_uuid}:{major}:{minor}")
    if kind == "irk":
        irk = re.sub(r"[\s:]", "", text).lower()
        if not _IRK.match(irk):
            raise IdentityError("an IRK is 32 hexadecimal digits (16 bytes)")
        return Identity("irk", irk)
    raise IdentityError(f"unknown identity kind {kind!r}")


def identity_of(item: Mapping[str, Any]) -> Identity:
    """The one identity field of a stored tag (`address`, `ibeacon` or `irk`)."""
    present = [kind for kind in IDENTITY_KINDS if item.get(kind)]
    if len(present) != 1:
        raise IdentityError("needs exactly one of address, ibeacon or irk")
    value = item[present[0]]
    if not isinstance(value, str):
        raise IdentityError(f"{present[0]} must be text")
    return normalize(present[0], value)


def ibeacon_id(manufacturer_data: Mapping[int, bytes]) -> str | None:
    """`uuid:major:minor` of an iBeacon advertisement, else None."""
    data = manufacturer_data.get(APPLE_COMPANY_ID)
    if data is None or len(data) < IBEACON_LENGTH or not data.startswith(IBEACON_PREFIX):
        return None
    major = int.from_bytes(data[18:20], "big")
    minor = int.from_bytes(data[20:22], "big")
    return f"{uuid.UUID(bytes=bytes(data[2:18]))}:{major}:{minor}"


def ibeacon_payload(beacon: str, power: int = -59) -> bytes:
    """The Apple manufacturer data of an iBeacon (`uuid:major:minor`): for simulators."""
    raw_uuid, major, minor = beacon.split(":")
    return (
        IBEACON_PREFIX
        + uuid.UUID(raw_uuid).bytes
        + int(major).to_bytes(2, "big")
        + int(minor).to_bytes(2, "big")
        + power.to_bytes(1, "big", signed=True)
    )


@dataclass(slots=True)
class IdentityResolver:
    """Maps an advertisement to a tag id; remembers answers so each address costs one look-up."""

    identities: Mapping[str, Identity]
    _by_address: dict[str, str] = field(init=False)
    _by_beacon: dict[str, str] = field(init=False)
    _ciphers: list[tuple[str, Cipher[Any]]] = field(init=False)
    _resolved: dict[str, str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        by_kind: dict[str, dict[str, str]] = {kind: {} for kind in IDENTITY_KINDS}
        for tag_id, identity in self.identities.items():
            by_kind[identity.kind][identity.value] = tag_id
        self._by_address = by_kind["address"]
        self._by_beacon = by_kind["ibeacon"]
        self._ciphers = [
            (tag_id, get_cipher_for_irk(bytes.fromhex(irk)))
            for irk, tag_id in by_kind["irk"].items()
        ]

    @property
    def addresses(self) -> dict[str, str]:
        """Fixed address -> tag id, matched directly."""
        return dict(self._by_address)

    @property
    def wants_ibeacons(self) -> bool:
        """True when some tag is matched by its iBeacon id."""
        return bool(self._by_beacon)

    @property
    def wants_all(self) -> bool:
        """True when some tag has an IRK, so every random address must be tried once."""
        return bool(self._ciphers)

    def resolve(self, address: str, manufacturer_data: Mapping[int, bytes]) -> str | None:
        """The tag this advertisement belongs to, or None."""
        tag_id = self._by_address.get(address)
        if tag_id is not None:
            return tag_id
        if self._by_beacon and (beacon := ibeacon_id(manufacturer_data)) is not None:
            return self._by_beacon.get(beacon)
        if not self._ciphers:
            return None
        if address in self._resolved:
            return self._resolved[address]
        if len(self._resolved) >= RESOLVED_CACHE_LIMIT:
            self._resolved.clear()
        resolved = next(
            (tag for tag, cipher in self._ciphers if resolve_private_address(cipher, address)),
            None,
        )
        self._resolved[address] = resolved
        return resolved

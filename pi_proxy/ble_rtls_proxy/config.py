"""The proxy's configuration file (TOML), checked key by key with errors that name them."""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PATH: Final = Path("/etc/ble-rtls-proxy.toml")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Where to send, as whom, from which adapter, and how."""

    server: str
    token: str
    adapter: str = "hci0"
    name: str = ""
    source: str = ""
    scanning: str = "auto"
    batch_interval: float = 0.5
    buffer: int = 20_000

    @property
    def websocket_url(self) -> str:
        """Home Assistant's websocket API."""
        url = urlsplit(self.server)
        scheme = "wss" if url.scheme == "https" else "ws"
        return urlunsplit((scheme, url.netloc, url.path.rstrip("/") + "/api/websocket", "", ""))


TYPES: Final[dict[str, type | tuple[type, ...]]] = {
    "server": str,
    "token": str,
    "adapter": str,
    "name": str,
    "source": str,
    "scanning": str,
    "batch_interval": (int, float),
    "buffer": int,
}


def parse_config(raw: dict[str, Any], origin: str) -> ProxyConfig:
    """Check every key of a parsed file."""
    for key in raw:
        if key not in TYPES:
            raise ConfigError(f"{origin}: unknown key {key!r}; known: {', '.join(TYPES)}")
    for key in ("server", "token"):
        if not raw.get(key):
            raise ConfigError(f"{origin}: {key} is required")
    for key, value in raw.items():
        if not isinstance(value, TYPES[key]) or isinstance(value, bool):
            raise ConfigError(f"{origin}: {key} has the wrong type ({type(value).__name__})")
    url = urlsplit(raw["server"])
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"{origin}: server {raw['server']!r} is not an http(s) URL")
    if raw.get("scanning", "auto") not in ("auto", "passive", "active"):
        raise ConfigError(f"{origin}: scanning must be auto, passive or active")
    if not 0.05 <= raw.get("batch_interval", 0.5) <= 10:
        raise ConfigError(f"{origin}: batch_interval must be 0.05 to 10 seconds")
    if not 100 <= raw.get("buffer", 20_000) <= 1_000_000:
        raise ConfigError(f"{origin}: buffer must be 100 to 1000000 adverts")
    config = ProxyConfig(**raw)
    if not config.name:
        config = ProxyConfig(**(raw | {"name": socket.gethostname()}))
    return config


def load_config(path: Path) -> ProxyConfig:
    """Read and check the file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; copy ble-rtls-proxy.toml.example there") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return parse_config(raw, str(path))

"""Streams the buffer to Home Assistant's websocket API; reconnects with jittered backoff.

One websocket connection: authenticate with the token, `ble_rtls/proxy/connect` (HA
registers the proxy as a Bluetooth scanner for as long as the connection lives), then a
`ble_rtls/proxy/adverts` batch every interval. While HA is unreachable the buffer keeps
the newest adverts and counts the ones it drops; HA is told the count with each batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from . import __version__
from .buffer import AdvertBuffer
from .config import ProxyConfig

_LOGGER = logging.getLogger(__name__)

BACKOFF_BASE: Final = 1.0
BACKOFF_MAX: Final = 30.0
HANDSHAKE_TIMEOUT: Final = 10.0


class AuthError(RuntimeError):
    """Home Assistant refused the token: retrying cannot help."""


class RefusedError(RuntimeError):
    """Home Assistant refused to register the proxy (integration missing, source in use)."""


@dataclass(slots=True)
class StreamStatus:
    """What the proxy logs and tests read."""

    connected: bool = False
    connections: int = 0
    sent: int = 0
    accepted: int = 0
    refused_batches: int = 0
    last_error: str | None = None


class Streamer:
    """Sends what the scanner buffers; one instance per proxy process."""

    def __init__(
        self,
        config: ProxyConfig,
        source: str,
        buffer: AdvertBuffer,
        *,
        backoff: tuple[float, float] = (BACKOFF_BASE, BACKOFF_MAX),
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.source = source
        self.buffer = buffer
        self.status = StreamStatus()
        self.max_batch = 1000
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._clock = clock
        self._next_id = 1

    async def run(self, stop: asyncio.Event) -> None:
        """Stream until `stop` is set; AuthError ends it, everything else is retried."""
        failures = 0
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                try:
                    await self._connection(session, stop)
                    failures = 0
                except (AuthError, asyncio.CancelledError):
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError, RefusedError) as err:
                    self.status.last_error = f"{type(err).__name__}: {err}"
                    _LOGGER.warning("Home Assistant at %s: %s", self.config.server, err)
                finally:
                    self.status.connected = False
                failures += 1
                base, cap = self._backoff
                delay = self._rng.uniform(0.0, min(cap, base * 2 ** min(failures, 20)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _connection(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        async with session.ws_connect(
            self.config.websocket_url, heartbeat=30, timeout=aiohttp.ClientWSTimeout(ws_close=5)
        ) as ws:
            await self._handshake(ws)
            self.status.connected = True
            self.status.connections += 1
            _LOGGER.info("Streaming to %s as %s", self.config.server, self.source)
            reader = asyncio.create_task(self._read_results(ws))
            try:
                while not stop.is_set() and not ws.closed and not reader.done():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.config.batch_interval)
                    await self._send_buffered(ws)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def _handshake(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        first = await ws.receive_json(timeout=HANDSHAKE_TIMEOUT)
        if first.get("type") != "auth_required":
            raise RefusedError(f"not Home Assistant's websocket API: {first}")
        await ws.send_json({"type": "auth", "access_token": self.config.token})
        answer = await ws.receive_json(timeout=HANDSHAKE_TIMEOUT)
        if answer.get("type") != "auth_ok":
            raise AuthError(
                f"Home Assistant at {self.config.server} refused the token"
                f" ({answer.get('message', answer.get('type'))}): create a long-lived access"
                " token of an administrator (your profile > Security) and put it in the"
                " configuration"
            )
        await ws.send_json(
            {
                "id": self._id(),
                "type": "ble_rtls/proxy/connect",
                "source": self.source,
                "name": self.config.name,
                "adapter": self.config.adapter,
                "version": __version__,
            }
        )
        result = await ws.receive_json(timeout=HANDSHAKE_TIMEOUT)
        if not result.get("success"):
            error = result.get("error", {})
            if error.get("code") == "unknown_command":
                raise RefusedError(
                    "the BLE RTLS integration is not set up in Home Assistant; add it first"
                )
            if error.get("code") == "unauthorized":
                raise AuthError("the token's user is not an administrator")
            raise RefusedError(f"{error.get('code')}: {error.get('message')}")
        self.max_batch = int(result["result"].get("max_batch", self.max_batch))

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _send_buffered(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Everything buffered, in batches of at most HA's `max_batch`."""
        while adverts := self.buffer.take(self.max_batch):
            await self._send_batch(ws, adverts)

    async def _send_batch(
        self, ws: aiohttp.ClientWebSocketResponse, adverts: list[dict[str, Any]]
    ) -> None:
        message: dict[str, Any] = {
            "id": self._id(),
            "type": "ble_rtls/proxy/adverts",
            "source": self.source,
            "now": self._clock(),
            "adverts": adverts,
            "dropped": self.buffer.dropped,
            "buffered": len(self.buffer),
        }
        try:
            await ws.send_json(message)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as err:
            self.buffer.put_back(adverts)  # the link died under us: keep them for the next
            raise ConnectionError(f"connection lost while sending: {err}") from err
        self.status.sent += len(adverts)

    async def _read_results(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Results of the batches; a refused batch is logged (HA says which advert, why)."""
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            result = frame.json()
            if result.get("type") != "result":
                continue
            if result.get("success"):
                self.status.accepted += (result.get("result") or {}).get("accepted", 0)
            else:
                self.status.refused_batches += 1
                self.status.last_error = str(result.get("error"))
                _LOGGER.error("Home Assistant refused a batch: %s", result.get("error"))

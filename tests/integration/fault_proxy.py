"""A loopback HTTP proxy between the app and HA that fails requests on a schedule.

Each request takes the next fault from the schedule (then "ok" once it is empty):
- ok: forwarded to HA, the answer forwarded back;
- down: the connection is reset before anything is read (server unreachable);
- http500: answered 500 without reaching HA;
- timeout: never answered (the app's timeout fires);
- reset_after_commit: forwarded, HA applies it and answers, and the connection is reset
  before the app reads the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from typing import Final

FAULTS: Final = ("ok", "down", "http500", "timeout", "reset_after_commit")
HOLD: Final = 2.0  # how long a "timeout" keeps the connection open without answering


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 message with a Content-Length body (as the app and HA send)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + await reader.readexactly(length)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST, as a crashed server or a dropped link would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Listens on a free loopback port; `schedule` holds the faults still to come."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.schedule: deque[str] = deque()
        self.seen: list[str] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in self._handlers:  # idle keep-alive connections would hold it open
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                fault = self.schedule.popleft() if self.schedule else "ok"
                self.seen.append(fault)
                if fault == "down":
                    _reset(writer)
                    return
                request = await _read_message(reader)
                if fault == "http500":
                    writer.write(
                        b"HTTP/1.1 500 Internal Server Error\r\n"
                        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    await writer.drain()
                    writer.close()
                    return
                if fault == "timeout":
                    await asyncio.sleep(HOLD)
                    writer.close()
                    return
                answer = await self._forward(request)
                if fault == "reset_after_commit":
                    _reset(writer)
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._handlers.discard(task)

    async def _forward(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            writer.write(request)
            await writer.drain()
            return await _read_message(reader)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

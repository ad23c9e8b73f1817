"""Screenshot a page with headless Chromium over the DevTools protocol.

Chromium's own `--screenshot` fires before Home Assistant's frontend has drawn (its
websocket never lets the page go idle), so this waits a fixed time, then captures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# What DevTools answers while the page is between two documents.
_NAVIGATING = ("navigated or closed", "context was destroyed", "Cannot find context")


class Page:
    """A headless Chromium page driven over the DevTools protocol."""

    def __init__(self, socket_: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket_
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command's result (events in between are skipped)."""
        number = next(self._ids)
        await self._socket.send_json({"id": number, "method": method, "params": params})
        while True:
            message = await self._socket.receive_json()
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def mouse(self, kind: str, x: float, y: float) -> None:
        """A left-button mouse event at (x, y) in the viewport: mousePressed, mouseMoved..."""
        await self.call(
            "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
        )

    async def choose_files(self, input_expression: str, *paths: Path) -> None:
        """Choose files in the file input that the expression gives, as a user would."""
        found = await self.call("Runtime.evaluate", expression=input_expression)
        await self.call("DOM.getDocument", depth=0)
        node = await self.call("DOM.requestNode", objectId=found["result"]["objectId"])
        await self.call(
            "DOM.setFileInputFiles", files=[str(path) for path in paths], nodeId=node["nodeId"]
        )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """The expression's value once it is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = await self.evaluate(expression)
            except RuntimeError as err:
                # The page navigated under the question (a log-in redirect): ask again.
                if not any(sign in str(err) for sign in _NAVIGATING):
                    raise
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {expression}")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def headless_page(width: int = 1400, height: int = 1000) -> AsyncIterator[Page]:
    """A page of a new headless Chromium (Debian's), closed after."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    port = free_port()
    # Chromium's helpers may write to the profile for a moment after it exits.
    with tempfile.TemporaryDirectory(
        prefix="ble-rtls-chromium-", ignore_cleanup_errors=True
    ) as profile:
        browser = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",  # a chroot's /dev may have no shared memory mounted
                "--hide-scrollbars",
                # The machine's network is closed: nothing of Google's is looked up.
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers with it, to stop them all after
        )
        try:
            async with aiohttp.ClientSession() as session:
                address = await _page_socket(session, port)
                async with session.ws_connect(address, max_msg_size=0) as socket_:
                    page = Page(socket_)
                    await page.call("Page.enable")
                    yield page
        finally:
            os.killpg(browser.pid, signal.SIGTERM)
            browser.wait(timeout=30)


async def capture(url: str, out: Path, width: int, height: int, wait: float) -> None:
    """Open `url`, wait `wait` seconds, save a PNG of the viewport to `out`."""
    async with headless_page(width, height) as page:
        await page.call("Page.navigate", url=url)
        await asyncio.sleep(wait)
        shot = await page.call("Page.captureScreenshot", format="png")
    out.write_bytes(base64.b64decode(shot["data"]))


async def _page_socket(session: aiohttp.ClientSession, port: int) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                pages = [t for t in await response.json() if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit("chromium did not open its DevTools port")


def main(argv: list[str] | None = None) -> int:
    """Command line: URL and output file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--wait", type=float, default=12.0, help="seconds before capturing")
    args = parser.parse_args(argv)
    asyncio.run(capture(args.url, args.out, args.width, args.height, args.wait))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

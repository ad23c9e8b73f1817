"""Screenshot a page with headless Chromium over the DevTools protocol.

Chromium's own `--screenshot` fires before Home Assistant's frontend has drawn (its
websocket never lets the page go idle), so this waits a fixed time, then captures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def capture(url: str, out: Path, width: int, height: int, wait: float) -> None:
    """Open `url`, wait `wait` seconds, save a PNG of the viewport to `out`."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    port = free_port()
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            page = await _page_socket(session, port)
            async with session.ws_connect(page, max_msg_size=0) as socket_:
                ids = itertools.count(1)

                async def call(method: str, **params: Any) -> dict[str, Any]:
                    number = next(ids)
                    await socket_.send_json({"id": number, "method": method, "params": params})
                    while True:
                        message = await socket_.receive_json()
                        if message.get("id") == number:
                            return dict(message.get("result", {}))

                await call("Page.enable")
                await call("Page.navigate", url=url)
                await asyncio.sleep(wait)
                shot = await call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))
    finally:
        browser.terminate()
        browser.wait(timeout=30)


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

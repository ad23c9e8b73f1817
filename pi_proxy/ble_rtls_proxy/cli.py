"""`ble-rtls-proxy`: scan with the Pi's adapter and stream to Home Assistant until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from bleak import BleakScanner

from .buffer import AdvertBuffer
from .config import DEFAULT_PATH, ConfigError, ProxyConfig, load_config
from .scanner import AdapterError, AdvertScanner, ScannerFactory, adapter_address
from .stream import BACKOFF_BASE, BACKOFF_MAX, AuthError, Streamer

_LOGGER = logging.getLogger("ble_rtls_proxy")
EXIT_CONFIG, EXIT_ADAPTER, EXIT_AUTH = 2, 3, 4


class Proxy:
    """The adapter's scanner, the buffer and the streamer of one proxy process."""

    def __init__(
        self,
        config: ProxyConfig,
        scanner_factory: ScannerFactory = BleakScanner,
        backoff: tuple[float, float] = (BACKOFF_BASE, BACKOFF_MAX),
    ) -> None:
        self.config = config
        self.source = config.source.upper() or adapter_address(config.adapter)
        self.buffer = AdvertBuffer(config.buffer)
        self.scanner = AdvertScanner(config.adapter, config.scanning, self.buffer, scanner_factory)
        self.streamer = Streamer(config, self.source, self.buffer, backoff=backoff)

    async def run(self, stop: asyncio.Event) -> None:
        """Scan and stream until `stop` is set. AdapterError and AuthError end it."""
        config = self.config
        mode = await self.scanner.start()
        _LOGGER.info(
            "Scanning on %s (%s), proxy %s (%s)", config.adapter, mode, config.name, self.source
        )
        try:
            await self.streamer.run(stop)
        finally:
            await self.scanner.stop()
            _LOGGER.info(
                "Stopped; %d adverts seen, %d dropped", self.scanner.seen, self.buffer.dropped
            )


def main(argv: list[str] | None = None) -> int:
    """Run the proxy; exit codes: 2 configuration, 3 adapter, 4 token."""
    parser = argparse.ArgumentParser(prog="ble-rtls-proxy", description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_PATH, help="TOML configuration")
    parser.add_argument("--check", action="store_true", help="check the configuration, exit")
    parser.add_argument("--verbose", action="store_true", help="log every connection step")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    try:
        config = load_config(args.config)
        if args.check:
            source = config.source.upper() or adapter_address(config.adapter)
            print(f"{args.config}: OK; proxy {config.name} ({source}) -> {config.server}")
            return 0
        return asyncio.run(_serve(config))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except AdapterError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ADAPTER
    except AuthError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_AUTH


async def _serve(config: ProxyConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    await Proxy(config).run(stop)
    return 0

"""The app without its screens: pairing, location sharing, panic, check-in, the sender thread.

The Kivy screens call these methods and show `status()`; tests drive them directly.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .location import Fix, LocationSource
from .outbox import Counts, Outbox
from .pairing import Pairing, load_pairing, parse_pairing, save_pairing
from .protocol import message
from .sender import Sender, SenderStatus, check_connection

DEFAULT_INTERVAL: Final = 60.0
INTERVALS: Final = (10.0, 30.0, 60.0, 300.0)
# Check-in timers offered, in minutes ("expect me within 20 minutes").
TIMER_MINUTES: Final = (10, 20, 30, 60, 120)


@dataclass(frozen=True, slots=True)
class Status:
    """Everything the home screen shows."""

    paired_as: str | None
    server: str | None
    sharing: bool
    interval: float
    last_fix: Fix | None
    link: SenderStatus
    queue: Counts
    active_panic: str | None
    check_in_by: float | None


class Companion:
    """Owns the outbox, the pairing, the settings and the sender thread."""

    def __init__(
        self,
        data_dir: Path,
        location: LocationSource,
        *,
        sender_options: dict[str, Any] | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.data_dir = data_dir
        self.location = location
        self.outbox = Outbox(data_dir / "outbox.sqlite3")
        self.pairing = load_pairing(self._pairing_path)
        self._settings = self._load_settings()
        self._sender_options = sender_options or {}
        self._on_change = on_change
        self._sender: Sender | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_fix: Fix | None = None
        self._last_queued: float | None = None

    @property
    def _pairing_path(self) -> Path:
        return self.data_dir / "pairing.json"

    @property
    def _settings_path(self) -> Path:
        return self.data_dir / "settings.json"

    def _load_settings(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {
            "sharing": True,
            "interval": DEFAULT_INTERVAL,
            "active_panic": None,
            "check_in_by": None,
        }
        try:
            stored = json.loads(self._settings_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return defaults
        return defaults | {k: v for k, v in stored.items() if k in defaults}

    def _save_settings(self) -> None:
        temporary = self._settings_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self._settings), encoding="utf-8")
        temporary.replace(self._settings_path)

    # Pairing

    def pair(self, text: str) -> str:
        """Check the payload and the server; saved only when both are good. Returns the name."""
        pairing = parse_pairing(text)
        name = check_connection(pairing, self._sender_options.get("timeout", 10.0))
        save_pairing(self._pairing_path, pairing)
        self.pairing = pairing
        if self._thread is not None:
            self.stop()
            self.start()
        return name

    # Running

    def start(self) -> None:
        """Start the sender thread (when paired) and the location source (when sharing)."""
        if self.pairing is not None and self._thread is None:
            self._stop.clear()
            self._sender = Sender(
                self.outbox, self.pairing, on_change=self._on_change, **self._sender_options
            )
            self._thread = threading.Thread(
                target=self._sender.run, args=(self._stop,), name="ble-rtls-sender", daemon=True
            )
            self._thread.start()
        if self._settings["sharing"]:
            self.location.start(self.on_fix)
        if self._settings["active_panic"] is not None and self.pairing is not None:
            # Ask at once whether the alarm was answered while the app was closed.
            self.outbox.add(message("hello", time.time()))
            self._wake()

    def stop(self) -> None:
        """Stop sending and locating; queued messages stay in the outbox."""
        self.location.stop()
        if self._thread is not None and self._sender is not None:
            self._stop.set()
            self._sender.wake.set()
            self._thread.join()
            self._sender.close()
        self._thread, self._sender = None, None

    def close(self) -> None:
        """Stop and close the outbox (the app exits)."""
        self.stop()
        self.outbox.close()

    def _wake(self) -> None:
        if self._sender is not None:
            self._sender.wake.set()
        self._on_change()

    # What the person does

    def set_sharing(self, sharing: bool, interval: float | None = None) -> None:
        """Turn location sharing on or off, and set how often a fix is queued."""
        self._settings["sharing"] = sharing
        if interval is not None:
            self._settings["interval"] = interval
        self._save_settings()
        if sharing:
            self.location.start(self.on_fix)
        else:
            self.location.stop()
        self._on_change()

    def on_fix(self, fix: Fix) -> None:
        """A new fix: queued when paired, sharing, and an interval after the last queued."""
        self._last_fix = fix
        if not self._settings["sharing"] or self.pairing is None:
            return  # nothing is queued for a server the person has not chosen yet
        if self._last_queued is not None and fix.time - self._last_queued < self.interval:
            return
        self._last_queued = fix.time
        location = fix.as_location(self.location.battery())
        self.outbox.add(message("location", fix.time, location=location))
        # A location wakes an idle sender, but does not cut short a backoff (a panic does).
        if self._sender is not None and self._sender.status.failures == 0:
            self._sender.wake.set()
        self._on_change()

    def raise_panic(self, note: str = "") -> str:
        """Queue an alarm with the last fix; stored before this returns. Returns its id."""
        fields: dict[str, Any] = {"note": note} if note else {}
        panic = message("panic", time.time(), **fields, **self._located())
        self.outbox.add(panic)
        self._settings["active_panic"] = panic["id"]
        self._save_settings()
        self._wake()
        return str(panic["id"])

    def cancel_panic(self) -> bool:
        """Queue the cancel of the active alarm; False when there is none."""
        panic_id = self._settings["active_panic"]
        if panic_id is None:
            return False
        self.outbox.add(message("panic_cancel", time.time(), panic_id=panic_id))
        self._settings["active_panic"] = None
        self._save_settings()
        self._wake()
        return True

    def check_in(self) -> None:
        """Queue an "I'm safe" with the last fix; it also ends a check-in timer."""
        self.outbox.add(message("check_in", time.time(), **self._located()))
        if self._settings["check_in_by"] is not None:
            self._settings["check_in_by"] = None
            self._save_settings()
        self._wake()

    def start_timer(self, minutes: float) -> float:
        """Queue a check-in timer; returns its deadline.

        Home Assistant raises the alarm if no check-in comes within `minutes`, even if this
        phone falls silent.
        """
        now = time.time()
        self.outbox.add(message("timer_start", now, duration=minutes * 60.0, **self._located()))
        self._settings["check_in_by"] = now + minutes * 60.0
        self._save_settings()
        self._wake()
        return float(self._settings["check_in_by"])

    def _located(self) -> dict[str, Any]:
        """The last fix as a message's location field, when there is one."""
        if self._last_fix is None:
            return {}
        return {"location": self._last_fix.as_location(self.location.battery())}

    # What the screen shows

    @property
    def interval(self) -> float:
        """Seconds between queued locations."""
        return float(self._settings["interval"])

    def status(self) -> Status:
        """A snapshot for the home screen."""
        link = self._sender.status if self._sender is not None else SenderStatus()
        return Status(
            paired_as=None if self.pairing is None else self.pairing.name,
            server=None if self.pairing is None else self.pairing.url,
            sharing=bool(self._settings["sharing"]),
            interval=self.interval,
            last_fix=self._last_fix,
            link=link,
            queue=self.outbox.counts(),
            active_panic=self._settings["active_panic"],
            check_in_by=self._settings["check_in_by"],
        )


__all__ = ["Companion", "Pairing", "Status"]

"""The persistent outbox: every message stays on the phone until the server acknowledges it.

SQLite in the app's data folder with synchronous=FULL: a message added is on disk before
`add` returns, so neither a crash nor a restart loses a panic. Panics (and their cancels)
are sent before check-ins and timers, those before locations.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .protocol import Message

PRIORITIES: Final = {
    "panic": 0,
    "panic_cancel": 0,
    "timer_start": 1,  # in order with check-ins: a check-in ends the timer started before it
    "check_in": 1,
    "location": 2,
    "hello": 3,  # asks for the alarm's state; carries nothing
}
# Queued locations kept while offline; the oldest go first. Panics are never dropped.
MAX_LOCATIONS: Final = 10_000

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    priority INTEGER NOT NULL,
    body TEXT NOT NULL,
    rejected INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True, slots=True)
class Counts:
    """What the home screen shows: queued, of which alarms, and refused by the server."""

    queued: int
    alarms: int
    rejected: int


class Outbox:
    """Thread-safe: the UI adds, the sender thread reads and removes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.recovered_from: Path | None = None
        self._lock = threading.Lock()
        try:
            self._db = self._open(path)
        except sqlite3.DatabaseError:
            # A damaged file is kept aside for support, never deleted; a new one starts.
            self.recovered_from = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            path.replace(self.recovered_from)
            self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(SCHEMA)
            db.execute("SELECT count(*) FROM outbox").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def add(self, message: Message) -> None:
        """Store a message durably; the oldest queued locations beyond the cap make room."""
        priority = PRIORITIES[message["type"]]
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO outbox (id, priority, body) VALUES (?, ?, ?)",
                (message["id"], priority, json.dumps(message)),
            )
            if message["type"] == "location":
                self._db.execute(
                    "DELETE FROM outbox WHERE priority = ? AND seq NOT IN "
                    "(SELECT seq FROM outbox WHERE priority = ? ORDER BY seq DESC LIMIT ?)",
                    (priority, priority, MAX_LOCATIONS),
                )

    def batch(self, limit: int) -> list[Message]:
        """The next messages to send: alarms first, then in the order they were added."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM outbox WHERE rejected = 0 ORDER BY priority, seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def remove(self, ids: Iterable[str]) -> None:
        """The server acknowledged these."""
        with self._lock, self._db:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def reject(self, message_id: str) -> None:
        """The server refuses this message as malformed: kept, shown, not sent again."""
        with self._lock, self._db:
            self._db.execute("UPDATE outbox SET rejected = 1 WHERE id = ?", (message_id,))

    def counts(self) -> Counts:
        """Queued messages, alarms among them, and rejected ones."""
        with self._lock:
            queued, alarms, rejected = self._db.execute(
                "SELECT count(*), coalesce(sum(priority = 0 AND rejected = 0), 0), "
                "coalesce(sum(rejected), 0) FROM outbox"
            ).fetchone()
        return Counts(queued - rejected, alarms, rejected)

    def close(self) -> None:
        """Close the database (the app is stopping)."""
        with self._lock:
            self._db.close()

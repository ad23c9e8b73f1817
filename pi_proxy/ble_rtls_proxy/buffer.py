"""A bounded buffer of adverts: while Home Assistant is away the oldest go, and are counted."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

# Adverts older than this (s) are not sent: HA refuses them (its limit is 60 s) and a
# location system has no use for them.
MAX_AGE: Final = 50.0

type Advert = dict[str, Any]


class AdvertBuffer:
    """Appends from the scanner's callback, takes from the streamer; both on one loop."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.dropped = 0
        self._adverts: deque[Advert] = deque()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._adverts)

    def add(self, advert: Advert) -> None:
        """Keep the advert; when full, the oldest is dropped and counted."""
        if len(self._adverts) >= self.capacity:
            self._adverts.popleft()
            self.dropped += 1
        self._adverts.append(advert)

    def take(self, limit: int) -> list[Advert]:
        """Up to `limit` oldest adverts; those too old to send are dropped and counted."""
        oldest_wanted = self._clock() - MAX_AGE
        while self._adverts and self._adverts[0]["time"] < oldest_wanted:
            self._adverts.popleft()
            self.dropped += 1
        count = min(limit, len(self._adverts))
        return [self._adverts.popleft() for _ in range(count)]

    def put_back(self, adverts: list[Advert]) -> None:
        """A batch that could not be sent goes back in front, oldest first."""
        self._adverts.extendleft(reversed(adverts))
        while len(self._adverts) > self.capacity:
            self._adverts.popleft()
            self.dropped += 1

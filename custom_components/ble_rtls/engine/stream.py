"""Per-tag, per-receiver RSSI windows and the once-per-interval emission cadence.

Shared by the engine and the baselines so the benchmark compares estimators, not plumbing:
all see the same adverts through the same windows and are asked at the same times.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from .adverts import Advert
from .filters import RssiWindow
from .site import Site

type Method = Literal["multilateration", "proximity", "baseline"]

# A tag's first fix waits until it has been heard this long (or the next beat, whichever comes
# first): the first advert alone is one receiver's packet, and a tag placed in a room from it
# changes zone as soon as the rest arrive.
FIRST_FIX_AFTER_S = 0.5


@dataclass(frozen=True, slots=True)
class Estimate:
    """Where a tag is believed to be at `time`; `accuracy` is a 1-sigma radius in metres."""

    time: float
    tag: str
    x: float
    y: float
    floor: int
    accuracy: float
    zone: str | None
    receivers: int
    method: Method


@dataclass(slots=True)
class TagStream:
    """What one tag's receivers heard recently and when its next estimate is due."""

    windows: dict[int, RssiWindow] = field(default_factory=dict)
    next_due: float = -math.inf
    last_heard: float = -math.inf
    first_heard: float = -math.inf


class StreamLocator[S: TagStream]:
    """Buffers adverts per tag; `update` asks `_locate` (or `_locate_batch`) for the due tags."""

    def __init__(self, site: Site, window: float, emit_interval: float) -> None:
        self.site = site
        self.window = window
        self.emit_interval = emit_interval
        self.receiver_index = {r.id: i for i, r in enumerate(site.receivers)}
        self.offsets = [r.rssi_offset for r in site.receivers]
        self.beacons = {r.beacon: i for i, r in enumerate(site.receivers) if r.beacon}
        self.tags: dict[str, S] = {}
        self.unknown_receivers: dict[str, int] = {}

    def observe(self, advert: Advert) -> bool:
        """Take one advert; False (and counted) when its receiver is not on the site."""
        index = self.receiver_index.get(advert.receiver)
        if index is None:
            self.unknown_receivers[advert.receiver] = (
                self.unknown_receivers.get(advert.receiver, 0) + 1
            )
            return False
        sender = self.beacons.get(advert.tag)
        if sender is not None:
            self._receiver_heard(sender, index, advert.rssi + self.offsets[index])
            return True
        state = self.tags.get(advert.tag)
        if state is None:
            state = self.tags[advert.tag] = self._new_tag(advert.tag)
        rssi = advert.rssi + self.offsets[index]
        window = state.windows.get(index)
        if window is None:
            window = state.windows[index] = RssiWindow(self.window)
        window.add(advert.time, rssi)
        self._observed(state, index, rssi)
        if advert.time - state.last_heard > self.window:
            # Due after FIRST_FIX_AFTER_S but no later than the next beat (within a second of
            # being heard, as the replay format asks), then on the interval's beat, common to
            # all tags, so they are due at the same updates and fixed together.
            state.next_due = math.floor(advert.time / self.emit_interval) * self.emit_interval
            state.first_heard = advert.time
        state.last_heard = advert.time
        return True

    def update(self, now: float, limit: int | None = None) -> list[Estimate]:
        """Estimates for the tags due at `now` that were heard within the window.

        With `limit`, at most that many estimates are made; the tags left stay due for the next
        call with the same `now`, so a host can yield between batches (HA's event loop). Fewer
        than `limit` estimates means none is left.
        """
        estimates: list[Estimate] = []
        due = self._due(now)
        while limit is None or len(estimates) < limit:
            batch = list(itertools.islice(due, None if limit is None else limit - len(estimates)))
            if not batch:
                break
            estimates += self._locate_batch(batch, now)
        return estimates

    def _due(self, now: float) -> Iterator[tuple[str, S]]:
        """The tags due at `now`, each moved on to its next due time as it is taken."""
        interval = self.emit_interval
        for tag_id, state in self.tags.items():
            if (
                now >= state.next_due
                and now - state.last_heard <= self.window
                and (
                    now - state.first_heard >= FIRST_FIX_AFTER_S or now >= state.next_due + interval
                )
            ):
                state.next_due += interval * (math.floor((now - state.next_due) / interval) + 1.0)
                yield tag_id, state

    def _locate_batch(self, batch: list[tuple[str, S]], now: float) -> list[Estimate]:
        """Estimates for these tags, by default one by one."""
        return [
            estimate
            for tag_id, state in batch
            if (estimate := self._locate(tag_id, state, now)) is not None
        ]

    def _new_tag(self, tag_id: str) -> S:
        raise NotImplementedError

    def _observed(self, state: S, index: int, rssi: float) -> None:
        """Hook for per-packet filters; windows need nothing more."""

    def _receiver_heard(self, sender: int, receiver: int, rssi: float) -> None:
        """Hook for a receiver's own advert heard by another; it is no tag to locate."""

    def _locate(self, tag_id: str, state: S, now: float) -> Estimate | None:
        raise NotImplementedError

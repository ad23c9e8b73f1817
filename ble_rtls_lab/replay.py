"""Replay: feed recorded adverts to a locator in time order and collect what it emits."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from custom_components.ble_rtls.engine import Advert, Estimate

POSITION_COLUMNS = ("time", "tag", "x", "y", "floor", "accuracy", "zone")


class Locator(Protocol):
    """What replay drives: the engine and every baseline."""

    unknown_receivers: dict[str, int]

    def observe(self, advert: Advert) -> bool:
        """Take one advert."""

    def update(self, now: float) -> list[Estimate]:
        """Estimates due at `now`."""


def replay(locator: Locator, adverts: Iterable[Advert]) -> Iterator[Estimate]:
    """Causal replay: estimates at time t are made once every advert at t has been observed."""
    current: float | None = None
    for advert in adverts:
        if current is not None and advert.time > current:
            yield from locator.update(current)
        current = advert.time
        locator.observe(advert)
    if current is not None:
        yield from locator.update(current)


def write_positions(path: str | Path, estimates: Iterable[Estimate]) -> int:
    """Write POSITIONS.csv as estimates arrive; returns the row count."""
    rows = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(POSITION_COLUMNS)
        for e in estimates:
            writer.writerow(
                (
                    f"{e.time:.3f}",
                    e.tag,
                    f"{e.x:.3f}",
                    f"{e.y:.3f}",
                    e.floor,
                    f"{e.accuracy:.2f}",
                    e.zone or "",
                )
            )
            rows += 1
    return rows

"""ADVERTS.csv: one received advertisement a row, in time order (replay-format.md)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .site import RSSI_RANGE_DBM

REQUIRED_COLUMNS = ("time", "receiver", "tag", "rssi")


class AdvertsError(ValueError):
    """A row or header that cannot be used; the message names file, line and field."""


@dataclass(frozen=True, slots=True)
class Advert:
    """One advertisement heard by one receiver."""

    time: float
    receiver: str
    tag: str
    rssi: float


def read_adverts(path: str | Path) -> Iterator[Advert]:
    """Stream adverts from a file, checking each row as it is read."""
    source = str(path)
    try:
        with Path(path).open(encoding="utf-8", newline="") as handle:
            yield from parse_adverts(handle, source)
    except OSError as err:
        raise AdvertsError(f"{source}: cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise AdvertsError(f"{source}: not UTF-8 text: {err.reason}") from err


def parse_adverts(lines: Iterable[str] | TextIO, source: str = "ADVERTS.csv") -> Iterator[Advert]:
    """Parse CSV text; extra columns are ignored, time must not go backwards."""
    reader = csv.DictReader(lines)
    try:
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise AdvertsError(f"{source}: line 1: header: missing column(s) {', '.join(missing)}")
        last_time = -math.inf
        for row in reader:
            advert = _advert(row, f"{source}: line {reader.line_num}", last_time)
            last_time = advert.time
            yield advert
    except csv.Error as err:  # what the csv module cannot split into fields at all
        place = f"after line {reader.line_num}" if reader.line_num else "line 1"
        raise AdvertsError(f"{source}: {place}: not CSV: {err}") from err


def _advert(row: dict[str, str | None], where: str, last_time: float) -> Advert:
    """One row's advert; AdvertsError names the field that is wrong."""
    time = _finite(row, "time", where)
    if time < last_time:
        raise AdvertsError(f"{where}: time: {time} is earlier than the previous row's {last_time}")
    receiver, tag = (row.get("receiver") or "").strip(), (row.get("tag") or "").strip()
    if not receiver:
        raise AdvertsError(f"{where}: receiver: empty")
    if not tag:
        raise AdvertsError(f"{where}: tag: empty")
    rssi = _finite(row, "rssi", where)
    if not RSSI_RANGE_DBM[0] <= rssi <= RSSI_RANGE_DBM[1]:
        raise AdvertsError(f"{where}: rssi: {rssi} dBm is not a received signal strength")
    return Advert(time, receiver, tag, rssi)


def _finite(row: dict[str, str | None], key: str, where: str) -> float:
    text = row.get(key)
    try:
        value = float(text or "")
    except ValueError:
        raise AdvertsError(f"{where}: {key}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise AdvertsError(f"{where}: {key}: must be finite, got {text!r}")
    return value


def write_adverts(path: str | Path, adverts: Iterable[Advert]) -> None:
    """Write adverts in the replay format."""
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUIRED_COLUMNS)
        for a in adverts:
            writer.writerow((f"{a.time:.3f}", a.receiver, a.tag, f"{a.rssi:.1f}"))

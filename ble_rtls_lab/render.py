"""`ble-rtls render`: the engine's floor-plan map at the end of a replay's POSITIONS.csv."""

from __future__ import annotations

import csv
from pathlib import Path

from custom_components.ble_rtls.engine import Site, TagMark, render_map


class RenderError(ValueError):
    """A positions file or floor that cannot be drawn; the message says which and why."""


def render_replay(site: Site, positions: str | Path, floor: int, trail: int = 5) -> bytes:
    """The map at the end of a POSITIONS.csv: each tag's last row, its trail before it."""
    if floor not in site.floors:
        raise RenderError(f"floor {floor}: no receiver is on it")
    history: dict[str, list[tuple[float, float, float]]] = {}
    occupancy: dict[str, str] = {}
    try:
        with Path(positions).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                try:
                    if int(row["floor"]) != floor:
                        continue
                    point = (float(row["x"]), float(row["y"]), float(row["accuracy"]))
                except (KeyError, TypeError, ValueError) as err:
                    raise RenderError(
                        f"{positions}: line {reader.line_num}: not a POSITIONS.csv row: {err}"
                    ) from err
                track = history.setdefault(row["tag"], [])
                track.append(point)
                del track[: -trail - 1]
                occupancy[row["tag"]] = row.get("zone") or ""
    except OSError as err:
        raise RenderError(f"{positions}: cannot read: {err.strerror}") from err
    marks = [
        TagMark(tag, *track[-1], trail=[(x, y) for x, y, _ in track[:-1]])
        for tag, track in history.items()
    ]
    counts: dict[str, int] = {}
    for zone in occupancy.values():
        if zone:
            counts[zone] = counts.get(zone, 0) + 1
    return render_map(site, floor, marks, counts, f"{Path(positions).name}, floor {floor}")

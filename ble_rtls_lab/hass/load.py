"""Synthetic advert streams of a given size, for the Home Assistant load benchmark.

A grid of proxies, tags that walk (people) or stand (assets), and untracked devices
(phones, TVs) that every real site has: each simulated second, each device is heard by a
few of its nearest proxies. Sized by received adverts per second, the unit HA's bluetooth
stack works in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from custom_components.ble_rtls.engine import Receiver

from .proxies import Radio

type Heard = tuple[str, str, int]  # receiver id, address, rssi
NEAREST = 6


@dataclass(frozen=True, slots=True)
class Load:
    """A site size and traffic: proxies on a grid, tracked tags, untracked devices."""

    name: str
    columns: int
    rows: int
    spacing: float
    tags: int
    adverts_per_tag: float  # received adverts per tag per second, all proxies together
    untracked: int
    adverts_per_untracked: float


HOUSE = Load("house", 4, 2, 7.0, 12, 4.6, 20, 2.0)
WAREHOUSE = Load("warehouse", 6, 5, 15.0, 300, 3.0, 100, 2.0)


class LoadSite:
    """The site document and the per-second stream of one load."""

    def __init__(self, load: Load, seed: int = 1) -> None:
        self.load = load
        self.rng = np.random.default_rng(seed)
        self.radio = Radio(noise_db=3.0, seed=seed)
        self.receivers = [
            Receiver(
                f"AA:{load.columns:02X}:{load.rows:02X}:00:{c:02X}:{r:02X}",
                c * load.spacing,
                r * load.spacing,
                2.5,
            )
            for c in range(load.columns)
            for r in range(load.rows)
        ]
        self.width = (load.columns - 1) * load.spacing
        self.height = (load.rows - 1) * load.spacing
        self.tag_addresses = [f"C0:00:00:00:{i // 256:02X}:{i % 256:02X}" for i in range(load.tags)]
        self.untracked = [
            f"7E:00:00:00:{i // 256:02X}:{i % 256:02X}" for i in range(load.untracked)
        ]
        count = load.tags + load.untracked
        self.positions = self.rng.uniform((0, 0), (self.width, self.height), size=(count, 2))
        self.targets = self.rng.uniform((0, 0), (self.width, self.height), size=(count, 2))
        self.walking = self.rng.uniform(size=count) < 0.5

    def document(self) -> dict[str, Any]:
        """SITE.json with every tag registered by address and one zone per proxy cell."""
        spacing = self.load.spacing
        zones = [
            {
                "id": f"cell-{c}-{r}",
                "name": f"Cell {c}.{r}",
                "floor": 0,
                "polygon": [
                    [c * spacing, r * spacing],
                    [(c + 1) * spacing, r * spacing],
                    [(c + 1) * spacing, (r + 1) * spacing],
                    [c * spacing, (r + 1) * spacing],
                ],
            }
            for c in range(self.load.columns - 1)
            for r in range(self.load.rows - 1)
        ]
        return {
            "receivers": [
                {"id": r.id, "name": f"Proxy {i + 1}", "x": r.x, "y": r.y, "z": r.z}
                for i, r in enumerate(self.receivers)
            ],
            "tags": [
                {"id": f"tag-{i}", "name": f"Tag {i}", "address": address, "motion": "person"}
                for i, address in enumerate(self.tag_addresses)
            ],
            "zones": zones,
        }

    def seconds(self, count: int) -> Iterator[list[Heard]]:
        """`count` seconds of traffic, one list of received adverts per second."""
        addresses = self.tag_addresses + self.untracked
        rates = [self.load.adverts_per_tag] * self.load.tags + [
            self.load.adverts_per_untracked
        ] * self.load.untracked
        xs = np.array([r.x for r in self.receivers])
        ys = np.array([r.y for r in self.receivers])
        for _ in range(count):
            self._move()
            heard: list[Heard] = []
            for index, (address, rate) in enumerate(zip(addresses, rates, strict=True)):
                x, y = self.positions[index]
                nearest = np.argsort(np.hypot(xs - x, ys - y))[:NEAREST]
                times = int(rate) + int(self.rng.uniform() < rate - int(rate))
                for pick in self.rng.choice(nearest, size=min(times, NEAREST), replace=False):
                    receiver = self.receivers[int(pick)]
                    heard.append((receiver.id, address, self.radio.rssi(receiver, x, y)))
            self.rng.shuffle(heard)
            yield heard

    def _move(self) -> None:
        """Walkers go 1 m/s toward a target and pick a new one on arrival."""
        delta = self.targets - self.positions
        distance = np.hypot(delta[:, 0], delta[:, 1])
        arrived = distance < 1.0
        step = np.where(distance[:, None] > 0, delta / np.maximum(distance, 1e-9)[:, None], 0.0)
        self.positions += np.where(self.walking[:, None] & ~arrived[:, None], step, 0.0)
        self.targets[arrived] = self.rng.uniform(
            (0, 0), (self.width, self.height), size=(int(arrived.sum()), 2)
        )

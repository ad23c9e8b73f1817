"""RSSI filtering per (tag, receiver): bounded time windows, quartile trimming, paper Kalman.

BLE RSSI fluctuates 7-14 dB from packet to packet (Sustainability 2023, section 4); the
study smooths it by cutting the lower and upper quartiles of a time window, and by a 1-D
Kalman filter (section 4.5). Both are here; the window is the engine's default because it
forgets a moved tag after `window` seconds, whereas the Kalman filter's memory is in
packets and so depends on how often the tag advertises.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from dataclasses import dataclass

# Paper section 4.5 parameters.
PAPER_PACKET_INTERVAL = 0.1
PAPER_START_AFTER = 10
PAPER_STD_DEV = 10.0
PAPER_NOISE_FACTOR = 30.0


def trimmed_mean(values: list[float]) -> float:
    """Mean of the inter-quartile part: drops the lowest and highest quarter (paper 4.2)."""
    ordered = sorted(values)
    cut = len(ordered) // 4
    kept = ordered[cut : len(ordered) - cut] if cut else ordered
    return sum(kept) / len(kept)


class RssiWindow:
    """Readings of the last `span` seconds, at most `max_samples` of them.

    Times and values are kept in two deques, so the values come out as a list at C speed.
    """

    __slots__ = ("_rssi", "_times", "span")

    def __init__(self, span: float, max_samples: int = 64) -> None:
        self.span = span
        self._times: deque[float] = deque(maxlen=max_samples)
        self._rssi: deque[float] = deque(maxlen=max_samples)

    def add(self, time: float, rssi: float) -> None:
        """Record one reading."""
        self._times.append(time)
        self._rssi.append(rssi)

    def values(self, now: float, recent: float | None = None) -> list[float]:
        """Readings no older than `span` seconds before `now`; older ones are dropped.

        With `recent` shorter than `span`, only the readings of the last `recent` seconds.
        """
        times, rssi = self._times, self._rssi
        horizon = now - self.span
        while times and times[0] < horizon:
            times.popleft()
            rssi.popleft()
        if recent is not None and recent < self.span:
            start = bisect.bisect_left(times, now - recent)
            return list(itertools.islice(rssi, start, None))
        return list(rssi)


@dataclass(slots=True)
class PaperKalman:
    """The study's 1-D RSSI Kalman filter (A = C = 1).

    Process noise V = v * st_dev * t_pack and measurement noise w = st_dev**2; until
    `start_after` packets have arrived it reports their running mean, which also becomes
    the filter's initial state.
    """

    packet_interval: float = PAPER_PACKET_INTERVAL
    start_after: int = PAPER_START_AFTER
    std_dev: float = PAPER_STD_DEV
    noise_factor: float = PAPER_NOISE_FACTOR
    estimate: float = 0.0
    variance: float = 0.0
    count: int = 0

    @property
    def process_noise(self) -> float:
        """V in the paper."""
        return self.noise_factor * self.std_dev * self.packet_interval

    @property
    def measurement_noise(self) -> float:
        """W in the paper."""
        return self.std_dev**2

    def update(self, rssi: float) -> float:
        """Feed one packet's RSSI, return the filtered value."""
        self.count += 1
        if self.count <= self.start_after:
            self.estimate += (rssi - self.estimate) / self.count
            self.variance = self.measurement_noise
            return self.estimate
        prior = self.variance + self.process_noise
        gain = prior / (prior + self.measurement_noise)
        self.estimate += gain * (rssi - self.estimate)
        self.variance = (1.0 - gain) * prior
        return self.estimate

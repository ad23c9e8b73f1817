"""The three baselines the benchmark compares the engine against.

All use the site's declared path loss as given (no self-calibration) and the same windows
and cadence as the engine (`StreamLocator`):
- `StrongestReceiver`: the position of the receiver with the strongest mean RSSI.
- `PaperTrilateration`: the study's RSSI Kalman filter, then its closed-form trilateration
  on the three strongest receivers.
- `RangeLeastSquares`: window-mean RSSI to distance, then plain nonlinear least squares.
- `FingerprintMatch` (surveyed sites only): each receiver's window median against every
  survey point, the three nearest in dB averaged with inverse-distance weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from custom_components.ble_rtls.engine import Estimate, Site, StreamLocator, TagStream
from custom_components.ble_rtls.engine.filters import PaperKalman
from custom_components.ble_rtls.engine.pathloss import distance, horizontal_distance
from custom_components.ble_rtls.engine.zones import ZoneMap

from .trilateration import solve_ranges, trilaterate_paper

WINDOW = 3.0


@dataclass(slots=True)
class _KalmanStream(TagStream):
    kalmans: dict[int, PaperKalman] = field(default_factory=dict)


class _Baseline[S: TagStream](StreamLocator[S]):
    def __init__(self, site: Site, emit_interval: float = 1.0) -> None:
        super().__init__(site, WINDOW, emit_interval)
        self.zones = ZoneMap(site.zones)
        self.positions = np.array([(r.x, r.y, r.z) for r in site.receivers], dtype=np.float64)

    def _ranges(self, tag_id: str, means: list[tuple[int, float]]) -> list[float]:
        """Horizontal distances from the declared model, using receiver heights."""
        tag = self.site.tag(tag_id)
        ref = self.site.path_loss.ref_rssi_1m if tag.ref_rssi_1m is None else tag.ref_rssi_1m
        exponent = self.site.path_loss.exponent
        return [
            horizontal_distance(distance(rssi, ref, exponent), self.positions[i, 2] - tag.height)
            for i, rssi in means
        ]

    def _window_means(self, state: S, now: float) -> list[tuple[int, float]]:
        means = []
        for index, window in state.windows.items():
            values = window.values(now)
            if values:
                means.append((index, sum(values) / len(values)))
        return means

    def _estimate(
        self, now: float, tag_id: str, x: float, y: float, accuracy: float, count: int
    ) -> Estimate:
        floor = self.site.receivers[0].floor
        zone = self.zones.locate(floor, x, y)
        return Estimate(
            now, tag_id, x, y, floor, accuracy, zone.id if zone else None, count, "baseline"
        )


class StrongestReceiver(_Baseline[TagStream]):
    """Nearest-receiver presence, as most room-presence add-ons do."""

    def _new_tag(self, tag_id: str) -> TagStream:
        return TagStream()

    def _locate(self, tag_id: str, state: TagStream, now: float) -> Estimate | None:
        means = self._window_means(state, now)
        if not means:
            return None
        index, rssi = max(means, key=lambda m: m[1])
        (range_,) = self._ranges(tag_id, [(index, rssi)])
        x, y = float(self.positions[index, 0]), float(self.positions[index, 1])
        return self._estimate(now, tag_id, x, y, max(range_, 1.0), len(means))


class PaperTrilateration(_Baseline[_KalmanStream]):
    """Sustainability 2023: RSSI Kalman filter and 3-receiver closed-form trilateration."""

    def _new_tag(self, tag_id: str) -> _KalmanStream:
        return _KalmanStream()

    def _observed(self, state: _KalmanStream, index: int, rssi: float) -> None:
        kalman = state.kalmans.get(index)
        if kalman is None:
            kalman = state.kalmans[index] = PaperKalman()
        kalman.update(rssi)

    def _locate(self, tag_id: str, state: _KalmanStream, now: float) -> Estimate | None:
        heard = [
            (index, state.kalmans[index].estimate)
            for index, window in state.windows.items()
            if window.values(now) and state.kalmans[index].count > state.kalmans[index].start_after
        ]
        if len(heard) < 3:
            return None
        heard.sort(key=lambda m: m[1], reverse=True)
        top = heard[:3]
        ranges = self._ranges(tag_id, top)
        a, b, c = ((float(self.positions[i, 0]), float(self.positions[i, 1])) for i, _ in top)
        point = trilaterate_paper(a, b, c, ranges[0], ranges[1], ranges[2])
        if point is None:
            return None
        misfit = [
            abs(float(np.hypot(point[0] - p[0], point[1] - p[1])) - r)
            for p, r in zip((a, b, c), ranges, strict=True)
        ]
        return self._estimate(
            now, tag_id, point[0], point[1], float(np.sqrt(np.mean(np.square(misfit)))), 3
        )


class RangeLeastSquares(_Baseline[TagStream]):
    """Distances from window means, then unweighted nonlinear least squares."""

    def _new_tag(self, tag_id: str) -> TagStream:
        return TagStream()

    def _locate(self, tag_id: str, state: TagStream, now: float) -> Estimate | None:
        means = self._window_means(state, now)
        if len(means) < 3:
            return None
        indices = [i for i, _ in means]
        receivers = self.positions[indices]
        start = receivers[:, :2].mean(axis=0)
        fix = solve_ranges(
            receivers, np.array(self._ranges(tag_id, means)), (float(start[0]), float(start[1]))
        )
        return self._estimate(now, tag_id, fix.x, fix.y, fix.radius, len(means))


FINGERPRINT_NEIGHBOURS = 3
FINGERPRINT_MIN_SHARED = 3


class FingerprintMatch(_Baseline[TagStream]):
    """The survey's points as fingerprints: what a surveyed site gets with no radio model."""

    def __init__(self, site: Site, emit_interval: float = 1.0) -> None:
        super().__init__(site, emit_interval)
        self.points = [
            (point.x, point.y, {self.receiver_index[r]: v for r, v in point.rssi})
            for point in site.survey
        ]

    def _new_tag(self, tag_id: str) -> TagStream:
        return TagStream()

    def _locate(self, tag_id: str, state: TagStream, now: float) -> Estimate | None:
        medians = {
            index: float(np.median(values))
            for index, window in state.windows.items()
            if (values := window.values(now))
        }
        matches = []
        for x, y, heard in self.points:
            shared = [i for i in medians if i in heard]
            if len(shared) >= FINGERPRINT_MIN_SHARED:
                squared = sum((medians[i] - heard[i]) ** 2 for i in shared) / len(shared)
                matches.append((squared, x, y))
        if not matches:
            return None
        nearest = sorted(matches)[:FINGERPRINT_NEIGHBOURS]
        weights = [1.0 / (np.sqrt(squared) + 1e-6) for squared, _, _ in nearest]
        total = sum(weights)
        x = sum(w * px for w, (_, px, _) in zip(weights, nearest, strict=True)) / total
        y = sum(w * py for w, (_, _, py) in zip(weights, nearest, strict=True)) / total
        spread = max(np.hypot(px - x, py - y) for _, px, py in nearest)
        return self._estimate(now, tag_id, x, y, max(spread, 1.0), len(medians))

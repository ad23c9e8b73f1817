"""Log-distance path loss: RSSI = A - 10 n log10(d), d in metres, A the RSSI at 1 m."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_DISTANCE = 0.1


def distance(rssi: float, ref_rssi_1m: float, exponent: float) -> float:
    """Paper formula (1): d = 10 ** ((A - RSSI) / (10 n))."""
    return float(10.0 ** ((ref_rssi_1m - rssi) / (10.0 * exponent)))


def expected_rssi(dist: float, ref_rssi_1m: float, exponent: float) -> float:
    """Inverse of `distance`."""
    return ref_rssi_1m - 10.0 * exponent * math.log10(max(dist, MIN_DISTANCE))


def horizontal_distance(slant: float, height_difference: float) -> float:
    """Floor-plane distance from a 3-D range and the receiver-to-tag height difference."""
    return math.sqrt(max(slant * slant - height_difference * height_difference, 0.0))


def paper_exponent(rssi: float, ref_rssi_1m: float, dist: float) -> float:
    """Paper formula (2): n = (A - RSSI) / (10 log10 d), for one sample at a known d != 1 m."""
    return (ref_rssi_1m - rssi) / (10.0 * math.log10(dist))


@dataclass(frozen=True, slots=True)
class PathLossFit:
    """Least-squares A and n and the RMS of what they leave unexplained (dB)."""

    ref_rssi_1m: float
    exponent: float
    rms_db: float
    samples: int


def fit_path_loss(distances: Sequence[float], rssis: Sequence[float]) -> PathLossFit:
    """Fit A and n to samples at known distances (linear least squares in log10 d).

    Needs at least two distinct distances; the paper's per-sample n is the special case of
    one distance with A known.
    """
    if len(distances) != len(rssis) or len(distances) < 2:
        raise ValueError("need at least two (distance, rssi) samples of equal count")
    xs = [-10.0 * math.log10(max(d, MIN_DISTANCE)) for d in distances]
    count = len(xs)
    mean_x, mean_y = sum(xs) / count, sum(rssis) / count
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx < 1e-12:
        raise ValueError("all samples are at the same distance: n cannot be fitted")
    exponent = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, rssis, strict=True)) / sxx
    ref = mean_y - exponent * mean_x
    residual = [y - (ref + exponent * x) for x, y in zip(xs, rssis, strict=True)]
    rms = math.sqrt(sum(r * r for r in residual) / count)
    return PathLossFit(ref, exponent, rms, count)

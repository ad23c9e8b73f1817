"""Self-calibration: learn the path-loss exponent, each tag's power and each receiver's bias.

Sites never know these. The engine treats them as slowly varying parameters estimated
jointly with positions over time (an online EM): after each well-determined fix
(>= 4 receivers), the residuals r_i = y_i - (A_tag + b_i - 10 n log10 d_i) nudge
- the tag's A by their mean (the part common to all receivers),
- each receiver's bias b_i by its deviation from that mean (gauge: biases average zero),
- n by the regression slope of the residuals on -10 log10 d_i,
and the residual RMS becomes the per-reading noise the solver weighs with.

Step sizes are small so one bad fix cannot move a parameter far, and bounded so a
pathological stretch of data cannot walk them off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_EXPONENT, MAX_EXPONENT = 1.4, 4.5
MAX_BIAS_DB = 12.0
MAX_TAG_SHIFT_DB = 20.0
MIN_NOISE_DB, MAX_NOISE_DB = 2.0, 12.0
# The exponent is one number for the whole site: its step shrinks as fixes accumulate (halved
# after EXPONENT_SETTLE_FIXES, down to MIN_EXPONENT_RATE), as a fixed step either wandered
# with many tags or learnt too slowly from one.
EXPONENT_SETTLE_FIXES = 2000
MIN_EXPONENT_RATE = 0.002
MAX_SAVED_UPDATES = 10**9


@dataclass(slots=True)
class SelfCalibration:
    """Online estimates of n, receiver biases, tag reference powers and model noise."""

    exponent: float
    default_ref_rssi: float
    receiver_count: int
    # A receiver's bias is shared by every tag, so it learns slowly: faster, it chases the
    # shadowing near whichever tags are close and moves standing tags. A tag's power learns
    # from its own fixes only, so it learns fast.
    tag_rate: float = 0.1
    bias_rate: float = 0.005
    exponent_rate: float = 0.01
    noise_rate: float = 0.02
    noise_db: float = 4.0
    enabled: bool = True
    exponent_updates: int = 0
    biases: list[float] = field(init=False)
    measured: frozenset[int] = frozenset()  # receivers whose bias is measured (links.py)
    exponent_measured: bool = False  # a survey measured it: fixes no longer move it
    tag_ref: dict[str, float] = field(default_factory=dict)
    tag_lessons: dict[str, int] = field(default_factory=dict)
    declared_exponent: float = field(init=False)

    def __post_init__(self) -> None:
        self.biases = [0.0] * self.receiver_count
        self.declared_exponent = self.exponent

    def ref_rssi(self, tag: str, declared: float | None) -> float:
        """Current estimate of the tag's RSSI at 1 m."""
        value = self.tag_ref.get(tag)
        if value is None:
            value = self.tag_ref[tag] = self._declared_power(declared)
        return value

    @property
    def _settled(self) -> int:
        """Lessons after which a tag's power steps by tag_rate alone."""
        return math.ceil(1.0 / self.tag_rate) if self.tag_rate > 0 else 0

    def _declared_power(self, declared: float | None) -> float:
        """A tag's declared 1 m power, or the site's default when it declares none."""
        return self.default_ref_rssi if declared is None else declared

    def _bounded_power(self, value: float, declared: float | None) -> float:
        """A learnt 1 m power, kept within MAX_TAG_SHIFT_DB of the declared one."""
        base = self._declared_power(declared)
        return _clamp(value, base - MAX_TAG_SHIFT_DB, base + MAX_TAG_SHIFT_DB)

    def learn(
        self,
        tag: str,
        declared: float | None,
        receivers: list[int],
        residuals: list[float],
        weights: list[float],
        log_ranges: list[float],
    ) -> None:
        """Fold one fix's residuals (dB) into the estimates.

        `log_ranges` holds -10 log10(d_i); `weights` the solver's robust weights (0..1).
        Plain lists and scalar loops: with 4-12 readings numpy's per-call overhead cost more
        than the sums.
        """
        count = len(residuals)
        if count < 4:
            return
        total = weighted = weighted_log = 0.0
        for w, r, x in zip(weights, residuals, log_ranges, strict=True):
            total += w
            weighted += w * r
            weighted_log += w * x
        mean = weighted / total
        log_mean = weighted_log / total
        learning = self.enabled
        biases = self.biases
        bias_rate = self.bias_rate
        measured = self.measured
        spread = sxx = sxc = 0.0
        for receiver, w, r, log_range in zip(
            receivers, weights, residuals, log_ranges, strict=True
        ):
            c = r - mean
            x = log_range - log_mean
            spread += w * c * c
            sxx += w * x * x
            sxc += w * x * c
            if learning and receiver not in measured:
                biases[receiver] += bias_rate * w * c
        self.noise_db = _clamp(
            math.sqrt(
                (1 - self.noise_rate) * self.noise_db**2
                + self.noise_rate * spread / total * count / (count - 3)
            ),
            MIN_NOISE_DB,
            MAX_NOISE_DB,
        )
        if not learning:
            return
        # A tag with no power of its own starts from the site's default, which may be far
        # off: its first fixes' mean residuals are averaged in full (1, 1/2, 1/3 ...) until
        # the step is tag_rate. A declared or restored power is trusted from the start.
        lessons = self.tag_lessons.get(tag, 0 if declared is None else self._settled) + 1
        self.tag_lessons[tag] = lessons
        self.tag_ref[tag] = self._bounded_power(
            self.ref_rssi(tag, declared) + max(self.tag_rate, 1.0 / lessons) * mean, declared
        )
        # The weighted deviations sum to zero, so the biases keep averaging zero (the gauge)
        # unless one leaves its bounds; only then are all shifted back and bounded.
        if any(abs(biases[i]) > MAX_BIAS_DB for i in receivers):
            gauge = sum(biases) / len(biases)
            self.biases = [_clamp(b - gauge, -MAX_BIAS_DB, MAX_BIAS_DB) for b in biases]
        if sxx > 1.0 and not self.exponent_measured:
            rate = self.exponent_rate / (1.0 + self.exponent_updates / EXPONENT_SETTLE_FIXES)
            self.exponent_updates += 1
            self.exponent = _clamp(
                self.exponent + max(rate, MIN_EXPONENT_RATE) * sxc / sxx,
                MIN_EXPONENT,
                MAX_EXPONENT,
            )

    def measure_biases(self, biases: Mapping[int, float]) -> None:
        """Receivers whose bias was measured (by receivers hearing each other) keep it.

        Tag fixes no longer move their biases.
        """
        if not self.enabled:
            return
        for receiver, bias in biases.items():
            self.biases[receiver] = _clamp(bias, -MAX_BIAS_DB, MAX_BIAS_DB)
        self.measured = frozenset(biases)

    def measure_exponent(self, exponent: float) -> None:
        """A survey measured the exponent at known places: it holds, within its bounds."""
        if not self.enabled:
            return
        self.exponent = _clamp(exponent, MIN_EXPONENT, MAX_EXPONENT)
        self.exponent_measured = True

    def saved(
        self, receiver_ids: Sequence[str], tags: Mapping[str, float | None]
    ) -> dict[str, Any]:
        """What was learnt, by receiver and tag id, to survive a restart (JSON-ready).

        `tags` maps each tag to its declared 1 m power: a learnt power is kept with the
        declaration it was learnt from.
        """
        return {
            "declared": {"exponent": self.declared_exponent, "ref_rssi": self.default_ref_rssi},
            "exponent": self.exponent,
            "exponent_updates": self.exponent_updates,
            "noise_db": self.noise_db,
            "biases": dict(zip(receiver_ids, self.biases, strict=True)),
            "tags": {
                tag: {"declared": declared, "ref_rssi": self.tag_ref[tag]}
                for tag, declared in tags.items()
                if tag in self.tag_ref
            },
        }

    def restore(
        self,
        saved: Mapping[str, Any],
        receiver_ids: Sequence[str],
        tags: Mapping[str, float | None],
    ) -> bool:
        """Take back what `saved` returned; False, with nothing changed, if it does not fit.

        It does not fit when malformed or learnt under other site-wide declared values (the
        user started over). Receivers and tags no longer on the site are dropped; new ones,
        and tags whose declared power changed, start from the declared values. Values are
        clamped to the bounds learning keeps them in.
        """
        try:
            declared = saved["declared"]
            if (
                _number(declared["exponent"]) != self.declared_exponent
                or _number(declared["ref_rssi"]) != self.default_ref_rssi
            ):
                return False
            exponent = _clamp(_number(saved["exponent"]), MIN_EXPONENT, MAX_EXPONENT)
            noise = _clamp(_number(saved["noise_db"]), MIN_NOISE_DB, MAX_NOISE_DB)
            # Stored before the step schedule: learnt, if for an unknown while.
            updates = _clamp(
                _number(saved.get("exponent_updates", EXPONENT_SETTLE_FIXES)), 0, MAX_SAVED_UPDATES
            )
            biases = {str(k): _number(v) for k, v in dict(saved["biases"]).items()}
            tag_ref = {}
            for tag, item in dict(saved["tags"]).items():
                if tag in tags and item["declared"] == tags[tag]:
                    tag_ref[tag] = self._bounded_power(_number(item["ref_rssi"]), tags[tag])
        except (KeyError, TypeError, ValueError):
            return False
        restored = [_clamp(biases.get(r, 0.0), -MAX_BIAS_DB, MAX_BIAS_DB) for r in receiver_ids]
        gauge = sum(restored) / len(restored) if restored else 0.0
        self.biases = [b - gauge for b in restored]
        self.exponent = exponent
        self.exponent_updates = int(updates)
        self.noise_db = noise
        self.tag_ref.update(tag_ref)
        self.tag_lessons.update(dict.fromkeys(tag_ref, self._settled))
        return True


def _number(value: Any) -> float:
    """A finite number from stored JSON (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(value)
    return float(value)


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)

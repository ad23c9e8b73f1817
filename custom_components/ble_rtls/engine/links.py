"""Receivers that hear each other: each receiver's bias, from adverts sent at known places.

A receiver that also advertises (an ESPHome proxy running a beacon, or a beacon mounted
beside it) is heard by the others from where the site declares it. Each pair's mean RSSI is
then

    y_ij = P_j + b_i - n * 10 log10(d_ij)

with P_j the sender's power, b_i the receiving receiver's bias and n an exponent of these
links alone (walls between receivers make it steeper than a tag's). One least-squares fit
over all pairs gives every receiver's bias: the parameter a tag's own fixes learn worst,
since a receiver that reads high pulls the fix toward itself and so hides its bias.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .site import Receiver

# A pair's mean forgets slowly, after about this many packets (a receiver moved, or its
# surroundings changed); a pair joins the fit after MIN_LINK_PACKETS.
LINK_MEMORY = 300
MIN_LINK_PACKETS = 10
MIN_LINK_M = 0.5


class ReceiverLinks:
    """The mean RSSI of every pair of receivers on one floor that hear each other."""

    def __init__(self, receivers: Sequence[Receiver]) -> None:
        self._positions = [(r.x, r.y, r.z) for r in receivers]
        self._floors = [r.floor for r in receivers]
        self._pairs: dict[tuple[int, int], list[float]] = {}  # (sender, receiver): mean, count

    def heard(self, sender: int, receiver: int, rssi: float) -> None:
        """One advert of `sender` heard at `receiver`.

        Pairs across floors are left out: a floor's loss is not known. So is a receiver that
        hears itself.
        """
        if sender == receiver or self._floors[sender] != self._floors[receiver]:
            return
        pair = self._pairs.get((sender, receiver))
        if pair is None:
            self._pairs[(sender, receiver)] = [rssi, 1.0]
            return
        pair[1] = min(pair[1] + 1.0, LINK_MEMORY)
        pair[0] += (rssi - pair[0]) / pair[1]

    def biases(self) -> dict[int, float]:
        """Each receiver's bias, where the pairs determine it (averaging zero per floor).

        Empty while they do not: too few pairs, or pairs that cannot tell a receiver's bias
        from its partners' powers.
        """
        pairs = [
            (key, mean) for key, (mean, count) in self._pairs.items() if count >= MIN_LINK_PACKETS
        ]
        if not pairs:
            return {}
        receivers = sorted({receiver for (_, receiver), _ in pairs})
        senders = sorted({sender for (sender, _), _ in pairs})
        column = {receiver: k for k, receiver in enumerate(receivers)}
        power_column = {sender: len(receivers) + k for k, sender in enumerate(senders)}
        unknowns = len(receivers) + len(senders) + 1
        rows, values = [], []
        for (sender, receiver), mean in pairs:
            row = np.zeros(unknowns)
            row[column[receiver]] = 1.0
            row[power_column[sender]] = 1.0
            distance = math.dist(self._positions[sender], self._positions[receiver])
            row[-1] = -10.0 * math.log10(max(distance, MIN_LINK_M))
            rows.append(row)
            values.append(mean)
        for floor in sorted({self._floors[r] for r in receivers}):
            gauge = np.zeros(unknowns)  # biases are relative: they average zero on a floor
            for receiver in receivers:
                if self._floors[receiver] == floor:
                    gauge[column[receiver]] = 1.0
            rows.append(gauge)
            values.append(0.0)
        design = np.array(rows)
        if np.linalg.matrix_rank(design) < unknowns:
            return {}
        solution = np.linalg.lstsq(design, np.array(values), rcond=None)[0]
        return {receiver: float(solution[column[receiver]]) for receiver in receivers}

"""The oracles: the simulated radio they are told is the one that made the adverts."""

from __future__ import annotations

from dataclasses import replace

from ble_rtls_lab import bench
from ble_rtls_lab.oracle import radio_oracle
from ble_rtls_lab.replay import replay
from ble_rtls_lab.simulate import SCENARIOS, simulate


def test_the_true_radio_is_what_the_simulator_sends() -> None:
    """Without fading, every advert is the true radio's mean at the tag's true position."""
    scenario = replace(SCENARIOS["office"](), fading=False)
    _, adverts, truth, radio = simulate(scenario, 20, seed=3)
    where = {(round(time, 3), tag): (x, y, floor) for time, tag, x, y, floor, _ in truth}
    receivers = [r[0] for r in scenario.receivers]
    assert len(adverts) > 500
    for advert in adverts:
        x, y, floor = where[(advert.time, advert.tag)]
        power = radio.powers[advert.tag]
        mean = radio.mean_rssi(power, x, y, floor, receivers.index(advert.receiver))
        assert advert.rssi == round(mean)


def test_told_the_shadowing_an_oracle_locates_best() -> None:
    """Simulated house, seed 1 (600 s): the engine 0.86 m, the oracle told everything but
    the shadowing 1.04 m, the oracle told everything 0.51 m."""
    dataset = bench.simulated_dataset("house", 240, seed=1)
    radio = dataset.radio
    assert radio is not None

    def median(shadowing: bool) -> float:
        oracle = radio_oracle(dataset.site, radio, shadowing)
        return bench.score(dataset, "oracle", list(replay(oracle, dataset.adverts)), 1.0).median

    told_all, told_but_shadowing = median(True), median(False)
    assert told_all < 0.7
    assert told_all < 0.7 * told_but_shadowing

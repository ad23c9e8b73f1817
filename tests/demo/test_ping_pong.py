"""The demo's playback order: forward, then backward, with time always moving on."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

from custom_components.ble_rtls.engine.adverts import Advert

DEMO = Path(__file__).parents[2] / "demo" / "custom_components" / "ble_rtls_demo" / "__init__.py"


def _demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ble_rtls_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_playback_goes_forward_then_backward_without_a_jump() -> None:
    adverts = [Advert(100.0 + t, "r", "tag", -60.0 - t) for t in (0.0, 1.0, 3.0)]
    played = list(itertools.islice(_demo_module().ping_pong(adverts), 9))
    offsets = [offset for offset, _ in played]
    assert offsets == [0.0, 1.0, 3.0, 3.0, 5.0, 6.0, 6.0, 7.0, 9.0]
    assert [advert.rssi for _, advert in played] == [-60, -61, -63, -63, -61, -60, -60, -61, -63]

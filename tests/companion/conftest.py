"""Kivy widgets for real, offscreen: a window, the app's screens, a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import FixedLocationSource
from ble_rtls_companion.pairing import Pairing
from ble_rtls_companion.ui import CompanionUI
from kivy.base import EventLoop
from kivy.clock import Clock
from kivy.core.window import Window


class FakeClock:
    """The countdown's time, moved by the test (the countdown reads it every frame)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def frames(count: int = 3) -> None:
    """Let Kivy run scheduled callbacks and draw."""
    for _ in range(count):
        Clock.tick()
        EventLoop.idle()


@pytest.fixture(autouse=True)
def loopback(socket_enabled: None) -> None:
    """The app talks HTTP over loopback (to nothing, here: an unreachable port)."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_ui(clock: FakeClock) -> Iterator[Callable[[Companion], CompanionUI]]:
    """Builds the app's screen manager in the window; background work runs inline."""
    built: list[CompanionUI] = []

    def make(companion: Companion) -> CompanionUI:
        ui = CompanionUI(companion, run=lambda work: work(), clock=clock)
        Window.add_widget(ui)
        built.append(ui)
        frames()
        return ui

    yield make
    for ui in built:
        Window.remove_widget(ui)
        ui.close()


@pytest.fixture
def companion(tmp_path: Path) -> Iterator[Companion]:
    app = Companion(tmp_path / "phone", FixedLocationSource(52.0, 5.0, 9.0))
    yield app
    app.close()


# Paired with a server that never answers (the discard port).
UNREACHABLE = Pairing("http://127.0.0.1:9", "hook", "s" * 43, "Test phone")

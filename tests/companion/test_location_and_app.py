"""Location sources (plyer's GPS replaced at the hardware boundary) and the desktop app."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ble_rtls_companion.desktop import NO_DISPLAY, missing_display
from ble_rtls_companion.location import (
    Fix,
    FixedLocationSource,
    NoLocationSource,
    PlyerLocationSource,
    desktop_source,
)
from ble_rtls_companion.pairing import save_pairing
from ble_rtls_companion.ui import CompanionApp, CompanionUI

from .conftest import UNREACHABLE, frames


class FakeGps:
    """plyer.gps as Android drives it: configure, start with rates, callbacks, stop."""

    def __init__(self) -> None:
        self.on_location: Callable[..., None] | None = None
        self.started: dict[str, Any] | None = None

    def configure(self, on_location: Callable[..., None]) -> None:
        self.on_location = on_location

    def start(self, **rates: Any) -> None:
        self.started = rates

    def stop(self) -> None:
        self.started = None


@pytest.fixture
def plyer(monkeypatch: pytest.MonkeyPatch) -> FakeGps:
    gps = FakeGps()
    module = types.ModuleType("plyer")
    module.gps = gps  # type: ignore[attr-defined]
    module.battery = types.SimpleNamespace(status={"percentage": 77.0})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "plyer", module)
    return gps


def test_plyer_source_delivers_gps_fixes_and_battery(plyer: FakeGps) -> None:
    fixes: list[Fix] = []
    source = PlyerLocationSource(interval_s=15)
    source.start(fixes.append)
    assert plyer.started == {"minTime": 15000, "minDistance": 10}
    assert plyer.on_location is not None
    plyer.on_location(lat=52.1, lon=5.2, accuracy=6.0, altitude=4.0, speed=0.5)
    assert fixes[0].lat == 52.1 and fixes[0].accuracy == 6.0 and fixes[0].speed == 0.5
    assert fixes[0].as_location(source.battery())["battery"] == 77.0
    source.stop()
    assert plyer.started is None
    plyer.on_location(lat=1.0, lon=1.0)
    assert len(fixes) == 1  # nothing after stop


def test_desktop_sources() -> None:
    assert isinstance(desktop_source(None), NoLocationSource)
    fixed = desktop_source("52.0,5.0,7")
    assert isinstance(fixed, FixedLocationSource) and fixed.position == (52.0, 5.0, 7.0)
    with pytest.raises(ValueError, match="lat,lon"):
        desktop_source("52.0")
    fixes: list[Fix] = []
    silent = NoLocationSource()
    silent.start(fixes.append)
    silent.stop()
    assert fixes == [] and silent.battery() is None


def test_desktop_app_builds_and_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BLE_RTLS_POSITION", "52.0,5.0")
    monkeypatch.setattr(CompanionApp, "user_data_dir", str(tmp_path))
    app = CompanionApp()
    root = app.build()
    assert isinstance(root, CompanionUI) and root.current == "pairing"
    assert app.on_pause() is True
    frames()
    root.close()
    app.on_stop()
    assert (tmp_path / "outbox.sqlite3").exists()


def test_the_desktop_app_keeps_its_data_in_a_folder_named_after_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What an earlier version kept in `companion` is moved there once, pairing included."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    old = tmp_path / "companion"
    old.mkdir()
    save_pairing(old / "pairing.json", UNREACHABLE)
    (old / "settings.json").write_text('{"interval": 300.0}', encoding="utf-8")
    app = CompanionApp()
    assert Path(app.user_data_dir) == tmp_path / "ble-rtls-companion"
    root = app.build()
    try:
        assert root.current == "home"  # still paired
        assert app.companion.interval == 300.0
        assert not old.exists()
        assert (tmp_path / "ble-rtls-companion" / "outbox.sqlite3").exists()
    finally:
        root.close()
        app.on_stop()


def test_a_desktop_without_a_display_gets_one_clear_line(tmp_path: Path) -> None:
    """Kivy would print clipboard tracebacks and show nothing; the app says what to do."""
    root = Path(__file__).parents[2]
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "ANDROID_ARGUMENT")
    }
    environ |= {"KIVY_HOME": str(tmp_path), "KIVY_NO_ARGS": "1"}
    environ["PYTHONPATH"] = str(root / "companion_app")
    finished = subprocess.run(
        [sys.executable, str(root / "companion_app" / "main.py")],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr.strip() == NO_DISPLAY
    assert missing_display({"DISPLAY": ":0"}, "linux") is None
    assert (
        missing_display(
            {},
            "linux",
        )
        == NO_DISPLAY
    )
    assert missing_display({"ANDROID_ARGUMENT": "x"}, "linux") is None
    assert missing_display({}, "win32") is None

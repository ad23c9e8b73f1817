"""`scripts/demo`'s program, headless: real Home Assistant, onboarding, moving tags, the map."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from ble_rtls_companion.pairing import parse_pairing
from ble_rtls_companion.sender import check_connection
from PIL import Image

from ble_rtls_lab.hass.screenshot import free_port

ROOT = Path(__file__).parents[2]
START_TIMEOUT = 180.0


def _start(config: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Run the demo until it prints that it is running; returns it and what it printed."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ble_rtls_lab.hass.demo",
            "--config",
            str(config),
            "--port",
            str(port),
            "--duration",
            "60",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C stops it." in line:
            return process, lines
    process.kill()
    raise AssertionError("the demo did not start:\n" + "".join(lines))


def _stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=90)


def _states(base: str, token: str) -> dict[str, Any]:
    response = requests.get(
        f"{base}/api/states", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    response.raise_for_status()
    return {state["entity_id"]: state for state in response.json()}


def test_demo_runs_a_real_home_assistant_with_moving_tags(
    tmp_path: Path, socket_enabled: None
) -> None:
    config, port = tmp_path / "demo", free_port()
    base = f"http://127.0.0.1:{port}"
    process, printed = _start(config, port)
    try:
        assert any("login: demo / demo-rtls" in line for line in printed)
        token = (config / "demo-token.txt").read_text(encoding="utf-8").strip()
        first: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = _states(base, token)
            trackers = {  # the tags' trackers (the demo phone's is a GPS tracker)
                k: v
                for k, v in states.items()
                if k.startswith("device_tracker.")
                and v["attributes"].get("source_type") == "bluetooth_le"
            }
            if trackers and all("x" in s["attributes"] for s in trackers.values()):
                if not first:
                    first = trackers
                elif any(
                    s["attributes"]["x"] != first[k]["attributes"]["x"] for k, s in trackers.items()
                ):
                    break
            time.sleep(2)
        else:
            raise AssertionError(f"tags did not move: {first}")
        assert len(trackers) == 20  # the warehouse's pallets, workers and forklifts
        assert states["binary_sensor.loading_dock_occupied"]["state"] in {"on", "off"}
        picture = requests.get(
            f"{base}/api/image_proxy/image.demo_warehouse_map_floor_0",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert picture.headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(picture.content)).size[0] > 500
        entries = requests.get(
            f"{base}/api/config/config_entries/entry",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert {e["domain"]: e["state"] for e in entries}["ble_rtls"] == "loaded"
        # The demo phone's code, from the real options flow, pairs the real app.
        pairing = parse_pairing((config / "phone-pairing.txt").read_text(encoding="utf-8"))
        assert pairing.url == base
        assert check_connection(pairing) == "Demo phone"
    finally:
        assert _stop(process) == 0

    again, printed = _start(config, port)  # a second run reuses the set-up
    try:
        assert not any("Simulating" in line for line in printed)
        assert (config / "demo-token.txt").read_text(encoding="utf-8").strip() == token
        assert "device_tracker.forklift_0" in _states(base, token)
    finally:
        assert _stop(again) == 0

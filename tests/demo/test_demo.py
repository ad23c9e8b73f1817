"""`scripts/demo`'s program, headless: real Home Assistant, onboarding, moving tags, the map."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from ble_rtls_companion.pairing import parse_pairing
from ble_rtls_companion.sender import check_connection
from PIL import Image

from ble_rtls_lab.hass.demo import websocket_answers
from ble_rtls_lab.hass.screenshot import Page, free_port, headless_page

ROOT = Path(__file__).parents[2]
START_TIMEOUT = 180.0
# The demo runs on this test's Python unless told another (the newest Home Assistant release,
# newer than any test plugin, has a venv of its own: scripts/_newest.sh).
DEMO_PYTHON = os.environ.get("BLE_RTLS_DEMO_PYTHON", sys.executable)


def _start(config: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Run the demo until it prints that it is running; returns it and what it printed."""
    process = subprocess.Popen(
        [
            DEMO_PYTHON,
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
        start_new_session=True,  # its own process group, as in a terminal
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
    """Ctrl-C in a terminal: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    return process.wait(timeout=90)


def _home_assistant(demo: subprocess.Popen[str]) -> int:
    """The Home Assistant process the demo started."""
    children = Path(f"/proc/{demo.pid}/task/{demo.pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _errors(config: Path) -> list[str]:
    """Errors, an unclean stop, and any deprecation of ours (it breaks a later release)."""
    log = (config / "home-assistant.log").read_text(encoding="utf-8")
    return [
        line
        for line in log.splitlines()
        if " ERROR " in line
        or "cleanly" in line
        or ("ble_rtls" in line and "deprecat" in line.lower())
    ]


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
        # A clean first start: nothing of the demo's own making in the log, the repairs or the
        # notifications, and the tags on HA's own map.
        assert _errors(config) == []
        issues, notifications, _ = asyncio.run(
            websocket_answers(
                base,
                token,
                {"type": "repairs/list_issues"},
                {"type": "persistent_notification/subscribe"},
                # The user edits the demo's dashboard: a second start must keep it.
                {
                    "type": "lovelace/config/save",
                    "config": {"views": [{"title": "Mine", "cards": []}]},
                },
            )
        )
        # Since 2025.6 Home Assistant flags a Core install in a venv, which is how the demo runs
        # it; that repair is about the installation, not the demo.
        assert [
            issue
            for issue in issues["result"]["issues"]
            if (issue["domain"], issue["issue_id"]) != ("homeassistant", "deprecated_method")
        ] == []
        assert notifications["event"]["notifications"] == {}
        forklift = states["device_tracker.forklift_0"]["attributes"]
        assert abs(forklift["latitude"] - 52.37) < 0.01 and abs(forklift["longitude"] - 4.89) < 0.01
        asyncio.run(_panel_sets_up_and_follows_the_site(base, token))
    finally:
        assert _stop(process) == 0

    again, printed = _start(config, port)  # a second run reuses the set-up
    try:
        assert not any("Simulating" in line for line in printed)
        assert (config / "demo-token.txt").read_text(encoding="utf-8").strip() == token
        assert "device_tracker.forklift_0" in _states(base, token)
        assert _errors(config) == []  # the first run's database was closed cleanly
        (dashboard,) = asyncio.run(websocket_answers(base, token, {"type": "lovelace/config"}))
        assert dashboard["result"]["views"][0]["title"] == "Mine"
        # Home Assistant killed under the demo is an error, not a clean stop.
        os.kill(_home_assistant(again), signal.SIGKILL)
        assert again.wait(timeout=30) == 1
    finally:
        if again.poll() is None:
            assert _stop(again) == 0


# The panel element, wherever Home Assistant's frontend nests it in shadow roots.
_PANEL = """(function find(root) {
  const hit = root.querySelector("ble-rtls-panel");
  if (hit) return hit;
  for (const e of root.querySelectorAll("*")) {
    if (e.shadowRoot) { const found = find(e.shadowRoot); if (found) return found; }
  }
  return null;
})(document)"""


def _in_panel(expression: str) -> str:
    """A JavaScript expression over the panel's shadow root `root` (null before it is drawn)."""
    root = f"(() => {{ const p = {_PANEL}; const root = p && p.shadowRoot;"
    return f"{root} return root && ({expression}); }})()"


async def _press(page: Page, button: str, values: dict[str, str] | None = None) -> None:
    """Fill the panel's inputs (by id), then press one of its buttons."""
    filled = "".join(
        f" root.getElementById({key!r}).value = {value!r};" for key, value in (values or {}).items()
    )
    await page.evaluate(
        _in_panel(f"(() => {{{filled} root.getElementById({button!r}).click(); return true; }})()")
    )


async def _click(page: Page, x: float, y: float) -> None:
    for kind in ("mousePressed", "mouseReleased"):
        await page.mouse(kind, x, y)


def _receiver(site: dict[str, Any], receiver_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in site["receivers"] if r["id"] == receiver_id)
    return found


async def _site(base: str, token: str) -> dict[str, Any]:
    (entries,) = await websocket_answers(
        base, token, {"type": "config_entries/get", "domain": "ble_rtls"}
    )
    (answer,) = await websocket_answers(
        base, token, {"type": "ble_rtls/site/get", "entry_id": entries["result"][0]["entry_id"]}
    )
    site: dict[str, Any] = answer["result"]["site"]
    return site


async def _panel_sets_up_and_follows_the_site(base: str, token: str) -> None:
    """In headless Chromium, logged in as the demo's administrator: the panel shows the site
    and its moving tags, a receiver dragged and a zone drawn are stored, a refused zone shows
    its error and changes nothing, and Undo takes the zone back."""
    async with headless_page(1400, 900) as page:
        await page.call("Page.navigate", url=f"{base}/ble-rtls")
        await page.wait_for(_in_panel("root.querySelectorAll('[data-receiver]').length === 12"), 60)
        await page.wait_for(_in_panel("root.querySelectorAll('[data-tag]').length === 20"), 30)
        where = _in_panel("root.querySelector('[data-tag=forklift_0]').getAttribute('cx')")
        first = await page.evaluate(where)
        await page.wait_for(f"{where} !== {first!r}", 30)  # it moves on the live map

        # A survey point: a standing pallet picked, the map clicked where it is shown.
        pallet = next(t["id"] for t in (await _site(base, token))["tags"] if t["motion"] == "asset")
        spot = await page.evaluate(
            _in_panel(
                f"(() => {{ const dot = root.querySelector('[data-tag={pallet}]');"
                " const box = dot.getBoundingClientRect();"
                " return {x: box.x + box.width / 2, y: box.y + box.height / 2}; })()"
            )
        )
        await _press(page, "survey", {"tag-list": pallet})
        await _click(page, spot["x"], spot["y"])
        await page.wait_for(
            _in_panel(
                "root.querySelector('[data-survey]') !== null"
                " || root.getElementById('error').textContent"
            ),
            30,
        )
        assert not await page.evaluate(_in_panel("root.getElementById('error').textContent"))
        (point,) = (await _site(base, token))["survey"]
        assert len(point["rssi"]) >= 3

        receiver = await page.evaluate(
            _in_panel(
                "(() => { const dot = root.querySelector('[data-receiver]');"
                " const box = dot.getBoundingClientRect();"
                " return {id: dot.dataset.receiver, x: box.x + box.width / 2,"
                " y: box.y + box.height / 2}; })()"
            )
        )
        before = _receiver(await _site(base, token), receiver["id"])
        x, y = receiver["x"], receiver["y"]
        await page.mouse("mousePressed", x, y)
        for step in range(1, 7):
            await page.mouse("mouseMoved", x + 10 * step, y + 10 * step)
        await page.mouse("mouseReleased", x + 60, y + 60)
        await page.wait_for(_in_panel("root.getElementById('status').textContent === 'Saved'"))
        after = _receiver(await _site(base, token), receiver["id"])
        assert after["x"] > before["x"] + 1.0 and after["y"] > before["y"] + 1.0, (before, after)

        area = await page.evaluate(
            _in_panel(
                "(() => { const box = root.getElementById('map').getBoundingClientRect();"
                " return {x: box.x, y: box.y, w: box.width, h: box.height}; })()"
            )
        )

        async def draw(name: str, corners: tuple[tuple[float, float], ...]) -> None:
            await _press(page, "draw")
            for fx, fy in corners:
                await _click(page, area["x"] + fx * area["w"], area["y"] + fy * area["h"])
            await _press(page, "finish", {"zone-name": name})

        zones = len((await _site(base, token))["zones"])
        await draw("Bench area", ((0.2, 0.2), (0.3, 0.2), (0.3, 0.3), (0.2, 0.3)))
        await page.wait_for(_in_panel("root.querySelector('[data-zone=bench_area]') !== null"))
        bench = (await _site(base, token))["zones"][-1]
        assert bench["id"] == "bench_area" and len(bench["polygon"]) == 4 and bench["walls"]

        await draw("Line", ((0.5, 0.5), (0.6, 0.6)))  # two corners: no area, refused
        message = await page.wait_for(_in_panel("root.getElementById('error').textContent"))
        assert "zones[" in message, message
        assert len((await _site(base, token))["zones"]) == zones + 1

        await _press(page, "undo")
        await page.wait_for(_in_panel("root.querySelector('[data-zone=bench_area]') === null"))
        assert len((await _site(base, token))["zones"]) == zones

        # A plan: uploaded, two points 100 px apart said to be 5 m, the origin clicked.
        with tempfile.TemporaryDirectory() as folder:
            plan = Path(folder) / "plan.png"
            Image.new("RGB", (400, 200), "white").save(plan)
            await page.choose_files(_in_panel("root.getElementById('plan-file')"), plan)
            await page.wait_for(
                _in_panel("root.getElementById('status').textContent.startsWith('Click two')")
            )
        for px, py in ((100, 100), (200, 100), (50, 150)):
            at = await page.evaluate(
                _in_panel(
                    "(() => { const m = root.getElementById('map').getScreenCTM();"
                    f" const p = new DOMPoint({px}, {py}).matrixTransform(m);"
                    " return {x: p.x, y: p.y}; })()"
                )
            )
            await _click(page, at["x"], at["y"])
        await _press(page, "plan-save", {"distance": "5"})
        await page.wait_for(_in_panel("root.querySelector('[data-plan]')?.getAttribute('href')"))
        (stored,) = (await _site(base, token))["plans"]
        assert stored["floor"] == 0 and stored["file"] == "floor-0.png"
        assert abs(stored["metres_per_pixel"] - 0.05) < 0.001
        assert abs(stored["origin"][0] - 50) < 1 and abs(stored["origin"][1] - 150) < 1

        # A tag added by its address, a bad address refused where it is, the tag removed.
        tags = len((await _site(base, token))["tags"])

        async def add_tag(address: str) -> None:
            await _press(page, "tag-add", {"tag-name": "Spare trolley", "tag-address": address})

        await add_tag("not-a-mac")
        message = await page.wait_for(_in_panel("root.getElementById('error').textContent"))
        assert "spare_trolley" in message, message
        assert len((await _site(base, token))["tags"]) == tags
        await add_tag("C0:FF:EE:AA:BB:CC")
        await page.wait_for(_in_panel("root.getElementById('error').textContent === ''"))
        await page.wait_for(
            _in_panel("[...root.getElementById('tag-list').options].length === " + str(tags + 1))
        )
        added = (await _site(base, token))["tags"][-1]
        assert added == {
            "id": "spare_trolley",
            "name": "Spare trolley",
            "address": "C0:FF:EE:AA:BB:CC",
            "motion": "asset",
        }
        await _press(page, "tag-remove", {"tag-list": "spare_trolley"})
        await page.wait_for(
            _in_panel("[...root.getElementById('tag-list').options].length === " + str(tags))
        )
        assert all(tag["id"] != "spare_trolley" for tag in (await _site(base, token))["tags"])

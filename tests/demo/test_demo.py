"""`scripts/demo`'s program, headless: real Home Assistant, onboarding, moving tags, the map."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import requests
from ble_rtls_companion.pairing import parse_pairing
from ble_rtls_companion.sender import check_connection
from PIL import Image

from ble_rtls_lab.hass.demo import DASHBOARD_URL, tokens_for, websocket_answers
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
        asyncio.run(_card_follows_the_site(base, token))  # before the user edits the dashboard
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
                    "url_path": DASHBOARD_URL,
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
        asyncio.run(_users_cannot_change_the_site(base, token))  # last: a second user
    finally:
        assert _stop(process) == 0

    again, printed = _start(config, port)  # a second run reuses the set-up
    try:
        assert not any("Simulating" in line for line in printed)
        assert (config / "demo-token.txt").read_text(encoding="utf-8").strip() == token
        assert "device_tracker.forklift_0" in _states(base, token)
        assert _errors(config) == []  # the first run's database was closed cleanly
        (dashboard,) = asyncio.run(
            websocket_answers(base, token, {"type": "lovelace/config", "url_path": DASHBOARD_URL})
        )
        assert dashboard["result"]["views"][0]["title"] == "Mine"
        # Home Assistant killed under the demo is an error, not a clean stop.
        os.kill(_home_assistant(again), signal.SIGKILL)
        assert again.wait(timeout=30) == 1
    finally:
        if again.poll() is None:
            assert _stop(again) == 0


def _element(name: str) -> str:
    """An element, wherever Home Assistant's frontend nests it in shadow roots."""
    return f"""(function find(root) {{
  const hit = root.querySelector("{name}");
  if (hit) return hit;
  for (const e of root.querySelectorAll("*")) {{
    if (e.shadowRoot) {{ const found = find(e.shadowRoot); if (found) return found; }}
  }}
  return null;
}})(document)"""


def _in(name: str, expression: str) -> str:
    """A JavaScript expression over an element's shadow root `root` (null before it is drawn);
    the element itself is `p`."""
    root = f"(() => {{ const p = {_element(name)}; const root = p && p.shadowRoot;"
    return f"{root} return root && ({expression}); }})()"


def _in_panel(expression: str) -> str:
    return _in("ble-rtls-panel", expression)


async def _press(page: Page, button: str, values: dict[str, str] | None = None) -> None:
    """Fill the panel's inputs (by id), then press one of its buttons (the status cleared)."""
    filled = "".join(
        f" root.getElementById({key!r}).value = {value!r};" for key, value in (values or {}).items()
    )
    filled += " root.getElementById('status').textContent = '';"
    await page.evaluate(
        _in_panel(f"(() => {{{filled} root.getElementById({button!r}).click(); return true; }})()")
    )


async def _choose(page: Page, select: str, value: str) -> None:
    """Pick an option of one of the panel's lists, as a user does."""
    await page.evaluate(
        _in_panel(
            f"(() => {{ const list = root.getElementById({select!r}); list.value = {value!r};"
            " list.dispatchEvent(new Event('change')); return list.value; })()"
        )
    )


async def _click(page: Page, x: float, y: float) -> None:
    for kind in ("mousePressed", "mouseReleased"):
        await page.mouse(kind, x, y)


def _centre(selector: str) -> str:
    """Where the panel's element is on the screen, as _click's x and y."""
    return _in_panel(
        f"(() => {{ const box = root.querySelector({selector!r}).getBoundingClientRect();"
        " return {x: box.x + box.width / 2, y: box.y + box.height / 2}; })()"
    )


async def _on_screen(page: Page, x: float, y: float) -> dict[str, float]:
    """Where a point of the map (metres, or pixels of a plan being set up) is on the screen."""
    at: dict[str, float] = await page.evaluate(
        _in_panel(
            "(() => { const m = root.getElementById('map').getScreenCTM();"
            f" const p = new DOMPoint({x}, {y}).matrixTransform(m);"
            " return {x: p.x, y: p.y}; })()"
        )
    )
    return at


async def _drag(page: Page, start: dict[str, float], end: dict[str, float]) -> None:
    await page.mouse("mousePressed", start["x"], start["y"])
    for step in range(1, 7):
        await page.mouse(
            "mouseMoved",
            start["x"] + (end["x"] - start["x"]) * step / 6,
            start["y"] + (end["y"] - start["y"]) * step / 6,
        )
    await page.mouse("mouseReleased", end["x"], end["y"])


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
        where = _in_panel("[...root.querySelectorAll('[data-tag]')].map(t => t.dataset.x).join()")
        first = await page.evaluate(where)
        await page.wait_for(f"{where} !== {first!r}", 30)  # they move on the live map

        # A walking worker clicked where no other tag covers it: its details and its trail.
        spot = await page.wait_for(
            _in_panel(
                "(() => { for (const mark of root.querySelectorAll('[data-tag^=worker]')) {"
                " const box = mark.querySelector('.tag').getBoundingClientRect();"
                " const x = box.x + box.width / 2, y = box.y + box.height / 2;"
                " const top = root.elementFromPoint(x, y)?.closest('[data-tag]');"
                " if (top === mark) return {x, y, id: mark.dataset.tag}; } return null; })()"
            )
        )
        picked = spot.pop("id")
        await _click(page, **spot)
        await page.wait_for(
            _in_panel(f"root.querySelector('.tag-at.selected')?.dataset.tag === {picked!r}")
        )
        name = next(t["name"] for t in (await _site(base, token))["tags"] if t["id"] == picked)
        details = await page.wait_for(_in_panel("root.getElementById('details').textContent"))
        assert details.startswith(f"{name}: ") and " m, floor 0, ±" in details, details
        await page.wait_for(_in_panel(f"root.querySelector('[data-trail={picked}]') !== null"))

        # A survey point: a standing pallet picked, the map clicked where it is shown.
        pallet = next(t["id"] for t in (await _site(base, token))["tags"] if t["motion"] == "asset")
        spot = await page.evaluate(_centre(f"[data-tag={pallet}] .tag"))
        await _press(page, "survey", {"tag-list": pallet})
        await _click(page, **spot)
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

        receiver_id = await page.evaluate(
            _in_panel("root.querySelector('[data-receiver]').dataset.receiver")
        )
        dot = f"[data-receiver='{receiver_id}']"
        before = _receiver(await _site(base, token), receiver_id)
        start = await page.evaluate(_centre(dot))
        await _drag(page, start, {"x": start["x"] + 60, "y": start["y"] + 60})
        await page.wait_for(_in_panel("root.getElementById('status').textContent === 'Saved'"))
        after = _receiver(await _site(base, token), receiver_id)
        assert after["x"] > before["x"] + 1.0 and after["y"] > before["y"] + 1.0, (before, after)
        await _receiver_side_form(page, base, token, receiver_id)

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

        await _zone_side_form(page, base, token)
        await _press(page, "undo")  # the deletion undone: the zone as last edited
        await page.wait_for(_in_panel("root.querySelector('[data-zone=bench_area]') !== null"))
        back = _zone(await _site(base, token), "bench_area")
        assert back is not None and back["name"] == "Bench" and len(back["polygon"]) == 3
        for _ in range(4):  # the edits, then the drawing, undone one by one
            await _press(page, "undo")
            await page.wait_for(_in_panel("root.getElementById('status').textContent !== ''"), 5)
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
            await _click(page, **await _on_screen(page, px, py))
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
        # Renamed and said to move like a vehicle in its side form.
        await _choose(page, "tag-list", "spare_trolley")
        await page.wait_for(_in_panel("root.getElementById('tag-save') !== null"))
        await _press(page, "tag-save", {"tag-rename": "Trolley", "tag-motion-edit": "vehicle"})
        await page.wait_for(_in_panel("root.getElementById('tag-rename')?.value === 'Trolley'"))
        renamed = (await _site(base, token))["tags"][-1]
        assert (renamed["name"], renamed["motion"]) == ("Trolley", "vehicle"), renamed
        await _press(page, "tag-remove", {"tag-list": "spare_trolley"})
        await page.wait_for(
            _in_panel("[...root.getElementById('tag-list').options].length === " + str(tags))
        )
        assert all(tag["id"] != "spare_trolley" for tag in (await _site(base, token))["tags"])

        # A change made elsewhere (a script, the options flow) shows without reopening.
        await _shed_added_elsewhere(page, base, token, "ble-rtls-panel")
        await _shed_undone_elsewhere(page, base, token, "ble-rtls-panel")


async def _until(base: str, token: str, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The stored site once `check` holds for it (within 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        site = await _site(base, token)
        if check(site) or time.monotonic() > deadline:
            return site
        await asyncio.sleep(0.2)


def _zone(site: dict[str, Any], zone_id: str) -> dict[str, Any] | None:
    return next((z for z in site["zones"] if z["id"] == zone_id), None)


def _bench(site: dict[str, Any]) -> dict[str, Any]:
    """The zone the panel test draws."""
    bench = _zone(site, "bench_area")
    assert bench is not None
    return bench


async def _receiver_side_form(page: Page, base: str, token: str, receiver_id: str) -> None:
    """A receiver clicked: height and RSSI correction saved from its side form, an impossible
    correction refused there and nothing changed; removed from the plan, then placed again
    from the list of Home Assistant's scanners by clicking where it hangs."""
    await _click(page, **await page.evaluate(_centre(f"[data-receiver='{receiver_id}']")))
    await page.wait_for(_in_panel("root.getElementById('receiver-save') !== null"))
    await _press(page, "receiver-save", {"receiver-z": "3.5", "receiver-offset": "-2"})
    await page.wait_for(_in_panel("root.getElementById('status').textContent === 'Saved'"))
    saved = _receiver(await _site(base, token), receiver_id)
    assert (saved["z"], saved["rssi_offset"]) == (3.5, -2), saved
    await _press(page, "receiver-save", {"receiver-offset": "99"})
    message = await page.wait_for(_in_panel("root.getElementById('side-error')?.textContent"))
    assert "rssi_offset" in message, message
    assert _receiver(await _site(base, token), receiver_id) == saved

    await _press(page, "receiver-remove")
    await _until(base, token, lambda site: all(r["id"] != receiver_id for r in site["receivers"]))
    await page.wait_for(
        _in_panel(
            f"[...root.getElementById('place').options].some(o => o.value === {receiver_id!r})"
        )
    )
    await _choose(page, "place", receiver_id)
    await _click(page, **await _on_screen(page, 3.0, 4.0))
    site = await _until(
        base, token, lambda site: any(r["id"] == receiver_id for r in site["receivers"])
    )
    placed = _receiver(site, receiver_id)
    assert abs(placed["x"] - 3.0) < 0.1 and abs(placed["y"] - 4.0) < 0.1, placed


# A point inside a zone where nothing is drawn over it (tags move over zones).
def _free_spot(zone_id: str) -> str:
    return _in_panel(
        f"(() => {{ const shape = root.querySelector('[data-zone={zone_id}]');"
        " const box = shape.getBoundingClientRect();"
        " for (let i = 1; i < 10; i++) for (let j = 1; j < 10; j++) {"
        " const x = box.x + box.width * i / 10, y = box.y + box.height * j / 10;"
        " if (root.elementFromPoint(x, y) === shape) return {x, y}; }"
        " return null; })()"
    )


async def _zone_side_form(page: Page, base: str, token: str) -> None:
    """The drawn zone picked: a corner dragged near another zone's corner snaps onto it, a
    picked corner is deleted, the zone renamed, made open and linked to an area, then deleted."""
    site = await _site(base, token)
    bench = _zone(site, "bench_area")
    assert bench is not None
    first = bench["polygon"][0]
    nearest = min(
        (
            corner
            for zone in site["zones"]
            if zone["id"] != "bench_area"
            for corner in zone["polygon"]
        ),
        key=lambda c: (c[0] - first[0]) ** 2 + (c[1] - first[1]) ** 2,
    )
    await _click(page, **await page.wait_for(_free_spot("bench_area")))
    await page.wait_for(_in_panel("root.getElementById('zone-save') !== null"))
    target = await _on_screen(page, *nearest)
    await _drag(
        page,
        await page.evaluate(_centre("[data-vertex='0']")),
        {"x": target["x"] + 4, "y": target["y"] + 3},
    )
    site = await _until(base, token, lambda s: _bench(s)["polygon"][0] == nearest)
    assert _bench(site)["polygon"][0] == nearest, (_bench(site), nearest)

    await _click(page, **await page.evaluate(_centre("[data-vertex='1']")))
    await page.wait_for(_in_panel("root.getElementById('corner-delete')?.disabled === false"))
    await _press(page, "corner-delete")
    await _until(base, token, lambda s: len(_bench(s)["polygon"]) == 3)

    await page.wait_for(_in_panel("root.getElementById('zone-walls') !== null"))
    area = await page.evaluate(
        _in_panel(
            "(() => { const list = root.getElementById('zone-area');"
            " root.getElementById('zone-walls').checked = false;"
            " list.selectedIndex = list.options.length > 1 ? 1 : 0; return list.value; })()"
        )
    )
    await _press(page, "zone-save", {"zone-edit-name": "Bench"})
    site = await _until(base, token, lambda s: _bench(s)["name"] == "Bench")
    edited = _bench(site)
    assert not edited["walls"] and edited.get("area_id", "") == area, edited

    await _press(page, "zone-delete")
    await _until(base, token, lambda s: _zone(s, "bench_area") is None)


async def _card_follows_the_site(base: str, token: str) -> None:
    """The demo's dashboard draws the live map card, whose tags move, and a change to the site
    made elsewhere; the card is listed for the card picker without a resource added by hand."""
    async with headless_page(1400, 900) as page:
        await page.call("Page.navigate", url=f"{base}/{DASHBOARD_URL}")
        card = "ble-rtls-map-card"
        await page.wait_for(_in(card, "root.querySelectorAll('[data-receiver]').length === 12"), 60)
        await page.wait_for(_in(card, "root.querySelectorAll('[data-tag]').length === 20"), 30)
        where = _in(card, "[...root.querySelectorAll('[data-tag]')].map(t => t.dataset.x).join()")
        first = await page.evaluate(where)
        await page.wait_for(f"{where} !== {first!r}", 30)

        # A zone added by a script: the card draws it, and its tags go on moving.
        entry = await page.evaluate(_in(card, "p._feed.entryId"))
        await _shed_added_elsewhere(page, base, token, card)
        moved = await page.evaluate(where)
        await page.wait_for(f"{where} !== {moved!r}", 30)
        await _shed_undone_elsewhere(page, base, token, card)

        listed = await page.evaluate("(window.customCards || []).map((c) => c.type)")
        assert card in listed, listed

        # The card picker's form: a floor typed gives the card's options, site included.
        config = await page.evaluate(
            f"""(async () => {{
  const editor = customElements.get("{card}").getConfigElement();
  document.body.appendChild(editor);
  editor.hass = document.querySelector("home-assistant").hass;
  editor.setConfig({{type: "custom:{card}"}});
  while (!editor.shadowRoot?.getElementById("floor")) {{
    await new Promise((resolve) => setTimeout(resolve, 50));
  }}
  const changed = new Promise((resolve) => editor.addEventListener(
    "config-changed", (event) => resolve(event.detail.config)));
  const floor = editor.shadowRoot.getElementById("floor");
  floor.value = "0";
  floor.dispatchEvent(new Event("change"));
  return await changed;
}})()"""
        )
        assert config == {"type": f"custom:{card}", "entry_id": entry, "floor": 0}, config


async def _shed_added_elsewhere(page: Page, base: str, token: str, element: str) -> None:
    """A zone added to the site by a script; the element (panel or card) draws it."""
    site = await _site(base, token)
    entry = await page.evaluate(_in(element, "p._feed.entryId"))
    shed = {"id": "shed", "name": "Shed", "floor": 0, "polygon": [[1, 1], [3, 1], [3, 3]]}
    (saved,) = await websocket_answers(
        base,
        token,
        {
            "type": "ble_rtls/site/update",
            "entry_id": entry,
            "site": site | {"zones": [*site["zones"], shed]},
        },
    )
    assert saved["success"], saved
    await page.wait_for(_in(element, "root.querySelector('[data-zone=shed]') !== null"), 30)


async def _shed_undone_elsewhere(page: Page, base: str, token: str, element: str) -> None:
    entry = await page.evaluate(_in(element, "p._feed.entryId"))
    (undone,) = await websocket_answers(
        base, token, {"type": "ble_rtls/site/undo", "entry_id": entry}
    )
    assert undone["success"], undone
    await page.wait_for(_in(element, "root.querySelector('[data-zone=shed]') === null"), 30)


async def _log_in(base: str, user_id: str) -> dict[str, Any]:
    """Tokens for a user, through the trusted network's log-in flow as the frontend does it."""
    client = f"{base}/"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/auth/login_flow",
            json={
                "client_id": client,
                "handler": ["trusted_networks", None],
                "redirect_uri": f"{base}/?auth_callback=1",
            },
        ) as response:
            flow = await response.json()
        async with session.post(
            f"{base}/auth/login_flow/{flow['flow_id']}", json={"client_id": client, "user": user_id}
        ) as response:
            code = (await response.json())["result"]
        tokens = await tokens_for(session, base, code)
    return tokens | {"hassUrl": base, "clientId": client}


async def _users_cannot_change_the_site(base: str, token: str) -> None:
    """A user who is not an administrator sees the site and its tags in the panel, without
    any control that changes it; changes sent from the page anyway are refused."""
    (created,) = await websocket_answers(
        base, token, {"type": "config/auth/create", "name": "Guard", "group_ids": ["system-users"]}
    )
    tokens = await _log_in(base, created["result"]["user"]["id"])
    before = await _site(base, token)
    async with headless_page(1400, 900) as page:
        await page.call("Page.navigate", url=f"{base}/manifest.json")  # the site's origin
        await page.evaluate(
            f"localStorage.setItem('hassTokens', JSON.stringify({{...{json.dumps(tokens)},"
            " expires: Date.now() + 1800 * 1000}))"
        )
        await page.call("Page.navigate", url=f"{base}/ble-rtls")
        await page.wait_for(_in_panel("root.querySelectorAll('[data-tag]').length === 20"), 60)
        assert await page.evaluate(_in_panel("p.hass.user.name")) == "Guard"
        assert await page.evaluate(
            _in_panel("[...root.querySelectorAll('.admin')].every((part) => part.hidden)")
        )
        await _click(page, **await page.evaluate(_centre("[data-receiver]")))
        await asyncio.sleep(1)
        assert await page.evaluate(_in_panel("root.getElementById('side').children.length")) == 0
        entry = await page.evaluate(_in_panel("root.getElementById('site').value"))
        refused = await page.evaluate(
            _in_panel(
                "p.hass.callWS({type: 'ble_rtls/site/update', entry_id: "
                f"{entry!r}, site: {{receivers: [], tags: [], zones: []}}}})"
                ".then(() => 'saved', (err) => err.code)"
            )
        )
        assert refused == "unauthorized", refused
        status = await page.evaluate(
            _in_panel(
                f"p.hass.fetchWithAuth('/api/ble_rtls/{entry}/plans/0', {{method: 'DELETE'}})"
                ".then((response) => response.status)"
            )
        )
        assert status == 401, status
    assert await _site(base, token) == before

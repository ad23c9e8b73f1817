"""`scripts/demo`: a real Home Assistant with BLE RTLS on a simulated warehouse.

First run: simulate the site's radio (`ble-rtls simulate`'s model), write a configuration,
start Home Assistant, create the demo login and save a long-lived token. Later runs reuse all
of it. Ctrl-C stops Home Assistant cleanly; Home Assistant dying any other way is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from ble_rtls_lab.simulate import write_simulation

ROOT = Path(__file__).resolve().parents[2]
# The demo's own dashboard (the card on the live map), at /rtls-demo.
DASHBOARD_URL = "rtls-demo"
USERNAME, PASSWORD = "demo", "demo-rtls"
# Onboarding's other steps: the location comes from configuration.yaml, and the core_config
# step would add weather, radio and speech integrations that fail without the internet.
ONBOARDING_DONE = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["core_config", "analytics", "integration"]},
}
CONFIGURATION = """\
homeassistant:
  name: BLE RTLS demo
  unit_system: metric
  time_zone: UTC
  latitude: 52.37
  longitude: 4.89
  country: NL
  # Where the companion app's pairing code points (Settings > System > Network).
  internal_url: http://{host}:{port}
  auth_providers:
    # A browser on this machine is logged in as the demo user without a password.
    - type: trusted_networks
      trusted_networks: ["127.0.0.1/32", "::1/128"]
      allow_bypass_login: true
    - type: homeassistant
frontend:
config:
history:
logbook:
{http}ble_rtls_demo:
  simulation: {simulation}
"""


def prepare(config: Path, host: str, port: int, duration: float) -> None:
    """The simulation (only if missing) and the configuration."""
    simulation = config / "simulation"
    if not (simulation / "ADVERTS.csv").exists():
        print(f"Simulating {duration:.0f} s of the warehouse's radio (once)...", flush=True)
        write_simulation(simulation, "warehouse", duration, seed=1)
    storage = config / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    http = http_settings(storage, host, port)
    (config / "configuration.yaml").write_text(
        CONFIGURATION.format(host=host, port=port, simulation=simulation, http=http),
        encoding="utf-8",
    )
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(json.dumps(ONBOARDING_DONE), encoding="utf-8")


def http_settings(storage: Path, host: str, port: int) -> str:
    """The HTTP server's address, in configuration.yaml's YAML or in storage.

    Since 2026 Home Assistant keeps it in storage and its YAML is deprecated; 2025.4 reads
    only the YAML.
    """
    try:
        http_config: Any = importlib.import_module("homeassistant.components.http.config")
    except ImportError:
        return f"http:\n  server_host: {host}\n  server_port: {port}\n"
    wanted = {"server_host": [host], "server_port": port}
    path = storage / http_config.STORAGE_KEY
    if path.exists():
        stable = json.loads(path.read_text(encoding="utf-8"))["data"]["stable"]
        if all(stable.get(key) == value for key, value in wanted.items()):
            return ""
    stable = http_config.HTTP_STORAGE_SCHEMA(wanted) | {
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    document = {
        "version": http_config.STORAGE_VERSION,
        "minor_version": http_config.STORAGE_MINOR_VERSION,
        "key": http_config.STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return ""


async def websocket_answers(base: str, token: str, *messages: dict[str, Any]) -> list[Any]:
    """Each message's answer over one websocket connection (a subscription's first event)."""
    answers = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{base}/api/websocket") as socket,
    ):
        await socket.receive_json()
        await socket.send_json({"type": "auth", "access_token": token})
        await socket.receive_json()
        for number, message in enumerate(messages, start=1):
            await socket.send_json({"id": number, **message})
            answer = await socket.receive_json()
            if message["type"].endswith("subscribe"):
                answer = await socket.receive_json()
            answers.append(answer)
    return answers


async def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll the HTTP server until the frontend answers.

    Its manifest needs no login: a request without a token would be a failed login, which
    Home Assistant reports in a notification.
    """
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"Home Assistant exited with code {process.returncode}")
            try:
                async with session.get(f"{base}/manifest.json") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit(f"Home Assistant did not answer on {base} within {timeout:.0f} s")


async def tokens_for(session: aiohttp.ClientSession, base: str, code: str) -> dict[str, Any]:
    """The access and refresh tokens a log-in's code is exchanged for, as the frontend does."""
    async with session.post(
        f"{base}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": f"{base}/"},
    ) as response:
        response.raise_for_status()
        tokens: dict[str, Any] = await response.json()
    return tokens


async def onboard(base: str, token_file: Path) -> str:
    """Create the demo user once (onboarding's last step); return a long-lived token."""
    if token_file.exists():
        return token_file.read_text(encoding="utf-8").strip()
    client_id = f"{base}/"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": "Demo",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        ) as response:
            response.raise_for_status()
            code = (await response.json())["auth_code"]
        access = (await tokens_for(session, base, code))["access_token"]
    (answer,) = await websocket_answers(
        base,
        access,
        {"type": "auth/long_lived_access_token", "client_name": "BLE RTLS demo", "lifespan": 3650},
    )
    token = str(answer["result"])
    token_file.write_text(token, encoding="utf-8")
    return token


async def wait_until_running(base: str, token: str, timeout: float) -> None:
    """Poll until Home Assistant has finished starting (its config says RUNNING)."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            async with session.get(f"{base}/api/config", headers=headers) as response:
                state = await response.json() if response.status == 200 else {}
            if state.get("recovery_mode"):
                raise SystemExit("Home Assistant started in recovery mode: see its log")
            if state.get("state") == "RUNNING":
                return
            await asyncio.sleep(0.5)
    raise SystemExit(f"Home Assistant did not finish starting within {timeout:.0f} s")


async def save_dashboard(base: str, token: str) -> None:
    """The demo's dashboard, made once: the live map card, each tag's zone, each zone's occupancy.

    It is a dashboard of its own (since 2026 Home Assistant's Overview is one it makes
    itself). Once saved it is the user's, edits included: it is left as it is.
    """
    (dashboards,) = await websocket_answers(base, token, {"type": "lovelace/dashboards/list"})
    if not any(d["url_path"] == DASHBOARD_URL for d in dashboards["result"]):
        (created,) = await websocket_answers(
            base,
            token,
            {
                "type": "lovelace/dashboards/create",
                "url_path": DASHBOARD_URL,
                "title": "Warehouse",
                "icon": "mdi:warehouse",
                "mode": "storage",
                "show_in_sidebar": True,
                "require_admin": False,
            },
        )
        if not created.get("success"):
            raise SystemExit(f"could not make the demo dashboard: {created}")
    (saved,) = await websocket_answers(
        base, token, {"type": "lovelace/config", "url_path": DASHBOARD_URL}
    )
    if saved.get("success"):
        return
    headers = {"Authorization": f"Bearer {token}"}
    ids: list[str] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(120):  # the site's entities appear just after start-up on a first run
            async with session.get(f"{base}/api/states", headers=headers) as response:
                ids = sorted(state["entity_id"] for state in await response.json())
            if any(i.endswith("_occupancy") for i in ids):
                break
            await asyncio.sleep(0.5)
    cards: list[dict[str, object]] = [
        {"type": "custom:ble-rtls-map-card", "title": "Live map"},
        {
            "type": "entities",
            "title": "Zone occupancy",
            "entities": [i for i in ids if i.startswith("sensor.") and i.endswith("_occupancy")],
        },
        {
            "type": "entities",
            "title": "Where the tags are",
            "entities": [i for i in ids if i.startswith("sensor.") and i.endswith("_zone")],
        },
    ]
    view = {"title": "BLE RTLS", "type": "sidebar", "cards": cards}
    (result,) = await websocket_answers(
        base,
        token,
        {"type": "lovelace/config/save", "url_path": DASHBOARD_URL, "config": {"views": [view]}},
    )
    if not result.get("success"):
        raise SystemExit(f"could not save the demo dashboard: {result}")


async def dismiss_stale_discovery(base: str, token: str) -> None:
    """Dismiss "New devices discovered" when nothing waits to be set up.

    A fresh Home Assistant raises it for the flow that creates its own backup entry, which has
    finished by the time the notification appears.
    """
    (flows,) = await websocket_answers(base, token, {"type": "config_entries/flow/progress"})
    if flows.get("result"):
        return
    dismiss = {"notification_id": "config_entry_discovery"}
    await websocket_answers(
        base,
        token,
        {
            "type": "call_service",
            "domain": "persistent_notification",
            "service": "dismiss",
            "service_data": dismiss,
        },
    )


async def pair_phone(base: str, token: str, pairing_file: Path) -> None:
    """Pair a "Demo phone" once, through the options flow as the UI would; save its code."""
    if pairing_file.exists():
        return
    headers = {"Authorization": f"Bearer {token}"}
    flows = f"{base}/api/config/config_entries/options/flow"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}/api/config/config_entries/entry?domain=ble_rtls") as got:
            entry_id = (await got.json())[0]["entry_id"]
        async with session.post(flows, json={"handler": entry_id}) as started:
            flow_id = (await started.json())["flow_id"]
        step: dict[str, object] = {}
        for answer in ({"next_step_id": "phones"}, {"item": "__new__"}, {"name": "Demo phone"}):
            async with session.post(f"{flows}/{flow_id}", json=answer) as response:
                step = await response.json()
        placeholders = step.get("description_placeholders")
        if step.get("step_id") != "pair" or not isinstance(placeholders, dict):
            raise SystemExit(f"could not pair the demo phone: {step}")
        async with session.post(f"{flows}/{flow_id}", json={}) as saved:
            saved.raise_for_status()
    pairing_file.write_text(str(placeholders["payload"]), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the demo until Ctrl-C (or SIGTERM)."""
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / ".demo", help="config folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--duration", type=float, default=600.0, help="simulated seconds, looped")
    parser.add_argument("--timeout", type=float, default=180.0, help="start-up limit, seconds")
    args = parser.parse_args(argv)
    config = args.config.resolve()
    config.mkdir(parents=True, exist_ok=True)
    prepare(config, args.host, args.port, args.duration)
    base = f"http://{args.host}:{args.port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ble_rtls_lab.hass.run_hass",
            "--config",
            str(config),
            "--skip-pip",
            "--log-file",
            str(config / "home-assistant.log"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Its own session: the terminal's Ctrl-C reaches the demo alone, which stops Home
        # Assistant with one SIGTERM; a second signal could cut its last database write.
        start_new_session=True,
    )
    stop = signal.getsignal(signal.SIGINT)
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            print("Stopping Home Assistant; it may take a few seconds.", flush=True)
            return
        stopping = True
        process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        asyncio.run(wait_until_up(base, process, args.timeout))
        token = asyncio.run(onboard(base, config / "demo-token.txt"))
        asyncio.run(wait_until_running(base, token, args.timeout))
        asyncio.run(save_dashboard(base, token))
        asyncio.run(pair_phone(base, token, config / "phone-pairing.txt"))
        asyncio.run(dismiss_stale_discovery(base, token))
        print(
            f"BLE RTLS demo is running on {base}\n"
            f"  login: {USERNAME} / {PASSWORD}\n"
            f"  live map: {base}/{DASHBOARD_URL}; set-up on the plan: {base}/ble-rtls\n"
            f"  API token: {config / 'demo-token.txt'} ({token[:8]}...)\n"
            f"  companion app: .venv/bin/python companion_app/main.py, then paste the code in"
            f" {config / 'phone-pairing.txt'}\n"
            f"  log: {config / 'home-assistant.log'}\n"
            "Ctrl-C stops it.",
            flush=True,
        )
        code = process.wait()
        if stopping and code == 0:
            return 0
        print(f"Home Assistant stopped with code {code}: see {config / 'home-assistant.log'}")
        return 1
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        signal.signal(signal.SIGINT, stop)


if __name__ == "__main__":
    sys.exit(main())

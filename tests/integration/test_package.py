"""Offline checks of what HACS and HA read: manifest, strings, services, icons, hacs.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from homeassistant import components as ha_components
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.util.yaml import load_yaml
from PIL import Image

from custom_components.ble_rtls import config_flow
from custom_components.ble_rtls.const import DOMAIN

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "custom_components" / DOMAIN


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest_is_complete() -> None:
    manifest = _json(PACKAGE / "manifest.json")
    assert manifest["domain"] == DOMAIN
    assert manifest["config_flow"] is True
    assert manifest["dependencies"] == ["bluetooth", "http", "webhook", "websocket_api"]
    assert manifest["iot_class"] == "local_push"
    # numpy and bluetooth-data-tools ship with HA; the QR code library is pinned as HA's
    # own HomeKit integration pins it, so the two never conflict.
    homekit = _json(Path(ha_components.__file__).parent / "homekit" / "manifest.json")
    assert manifest["requirements"] == ["PyQRCode==1.2.1"]
    assert set(manifest["requirements"]) <= set(homekit["requirements"])
    for key in ("name", "version", "codeowners", "documentation", "issue_tracker"):
        assert manifest[key], key


def test_hacs_json() -> None:
    hacs = _json(ROOT / "hacs.json")
    assert hacs == {"name": "BLE RTLS", "homeassistant": "2025.4.0", "render_readme": True}


def test_english_translation_is_strings_json() -> None:
    assert _json(PACKAGE / "translations" / "en.json") == _json(PACKAGE / "strings.json")


def test_every_flow_step_has_strings() -> None:
    strings = _json(PACKAGE / "strings.json")
    options_steps = {
        name.removeprefix("async_step_")
        for name in dir(config_flow.BleRtlsOptionsFlow)
        if name.startswith("async_step_")
    }
    assert options_steps == set(strings["options"]["step"])
    assert set(strings["options"]["step"]["init"]["menu_options"]) == options_steps - {
        "init",
        "receiver",
        "tag",
        "tag_candidates",
        "zone",
        "phone",
        "pair",
    }
    assert set(strings["config"]["step"]) == {"user"}
    source = (PACKAGE / "config_flow.py").read_text(encoding="utf-8")
    spot_errors = _spot_errors()
    assert spot_errors <= set(strings["options"]["error"])  # the survey step shows them
    for error in set(strings["options"]["error"]) - spot_errors:
        assert f'"{error}"' in source
    for reason in strings["options"]["abort"]:
        assert f'reason="{reason}"' in source


def test_services_have_schema_strings_and_icons() -> None:
    services = load_yaml(PACKAGE / "services.yaml")
    assert isinstance(services, dict)
    strings = _json(PACKAGE / "strings.json")["services"]
    icons = _json(PACKAGE / "icons.json")["services"]
    assert (
        set(services)
        == set(strings)
        == set(icons)
        == {
            "calibrate",
            "add_survey_point",
            "clear_survey",
            "export_adverts",
            "reload",
            "acknowledge_panic",
        }
    )
    for name, service in services.items():
        assert set(service["fields"]) == set(strings[name]["fields"]), name


def _spot_errors() -> set[str]:
    """The keys of what can go wrong with a tag at a spot (surveying.py)."""
    source = (PACKAGE / "surveying.py").read_text(encoding="utf-8")
    return set(re.findall(r'SpotError\(\s*"(\w+)"', source))


def test_every_raised_error_has_a_translated_message() -> None:
    """HA shows `exceptions.<key>.message`: a bare string there shows users the key."""
    messages = _json(PACKAGE / "strings.json")["exceptions"]
    raised = {
        key
        for path in PACKAGE.rglob("*.py")
        for key in re.findall(
            r'translation_domain=DOMAIN,\s*translation_key="(\w+)"',
            path.read_text(encoding="utf-8"),
        )
    } | _spot_errors()  # the actions raise those too
    assert raised <= set(messages) and len(raised) >= 7
    for key, value in messages.items():
        assert isinstance(value, dict) and set(value) == {"message"}, key


def test_entity_translation_keys_have_strings_and_icons() -> None:
    strings = _json(PACKAGE / "strings.json")["entity"]
    icons = _json(PACKAGE / "icons.json")["entity"]
    for platform, keys in icons.items():
        for key in keys:
            assert platform == "device_tracker" or key in strings[platform], key
    for platform, keys in strings.items():
        source = (PACKAGE / f"{platform}.py").read_text(encoding="utf-8")
        for key in keys:
            assert re.search(rf'translation_key\s*=\s*"{key}"', source), key


def test_blueprints_are_valid() -> None:
    folder = ROOT / "blueprints" / "automation" / DOMAIN
    paths = sorted(folder.glob("*.yaml"))
    assert len(paths) == 3
    for path in paths:
        data: Any = load_yaml(path)
        blueprint = Blueprint(
            data, path=str(path), expected_domain="automation", schema=BLUEPRINT_SCHEMA
        )
        assert blueprint.inputs
        assert data["triggers"][0]["event_type"] in ("ble_rtls_zone_changed", "ble_rtls_panic")


def test_brand_icons_ship_with_the_integration() -> None:
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        with Image.open(PACKAGE / "brand" / name) as image:
            assert image.size == (size, size)

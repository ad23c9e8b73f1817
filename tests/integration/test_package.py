"""Offline checks of what HACS and HA read: manifest, strings, services, icons, hacs.json."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.util.yaml import load_yaml
from PIL import Image

from custom_components.ble_rtls import config_flow, engine
from custom_components.ble_rtls.const import DOMAIN

ROOT = Path(__file__).parents[2]
PACKAGE_NAME = f"custom_components.{DOMAIN}"
PACKAGE = ROOT / "custom_components" / DOMAIN


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_manifest_is_complete() -> None:
    manifest = _json(PACKAGE / "manifest.json")
    assert manifest["domain"] == DOMAIN
    assert manifest["config_flow"] is True
    assert manifest["dependencies"] == ["bluetooth", "http", "webhook", "websocket_api"]
    assert manifest["iot_class"] == "local_push"
    # numpy, Pillow and bluetooth-data-tools ship with HA; the pairing QR code is HA's own.
    assert manifest["requirements"] == []
    for key in ("name", "version", "codeowners", "documentation", "issue_tracker"):
        assert manifest[key], key


def test_manifest_is_ordered_as_hassfest_asks_and_has_one_version() -> None:
    manifest = _json(PACKAGE / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"] and keys[2:] == sorted(keys[2:])
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{manifest["version"]}"' in pyproject
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    assert 'license = "Apache-2.0"' in pyproject
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_every_form_field_has_a_label_and_a_description() -> None:
    strings = _json(PACKAGE / "strings.json")
    for flow in ("config", "options"):
        for name, step in strings[flow]["step"].items():
            assert step.get("title"), (flow, name)
            assert set(step.get("data_description", {})) == set(step.get("data", {})), (flow, name)


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
    assert set(strings["config"]["step"]) == {"user", "reconfigure"}
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


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = node.module or ""
            if not node.level:
                found.add(module)
            else:
                found.add(f"{base}.{module}" if module else base)
                found |= {
                    f"{base}.{module}.{a.name}" if module else f"{base}.{a.name}"
                    for a in node.names
                }
    return found


def _shipped_modules() -> dict[str, set[str]]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): _imports(
            path
        )
        for path in PACKAGE.rglob("*.py")
    }


def test_the_integration_imports_only_itself_home_assistant_and_what_ha_ships() -> None:
    """HACS copies this folder alone: the lab, tests and dev tools are not there."""
    allowed = {"homeassistant", "voluptuous", "aiohttp", "bleak", "bleak_retry_connector"}
    allowed |= {"habluetooth", "bluetooth_data_tools", "cryptography", "numpy", "PIL"}
    for module, imports in _shipped_modules().items():
        for name in imports:
            top = name.split(".")[0]
            assert (
                name.startswith("custom_components.ble_rtls")
                or top in allowed
                or top in sys.stdlib_module_names
                or top == "__future__"
            ), f"{module} imports {name}"


def test_the_integration_uses_the_engine_through_its_public_face() -> None:
    for module, imports in _shipped_modules().items():
        if ".engine" not in module:
            inner = {name for name in imports if name.startswith(f"{PACKAGE_NAME}.engine.")}
            assert inner <= {f"{PACKAGE_NAME}.engine.{name}" for name in engine.__all__}, module


def test_the_engine_imports_no_home_assistant() -> None:
    for module, imports in _shipped_modules().items():
        if ".engine" in module:
            for name in imports:
                assert not name.startswith("homeassistant"), f"{module} imports {name}"
                assert not name.startswith("custom_components") or ".engine" in name, (
                    f"{module} imports {name}"
                )


def test_no_import_circle_in_the_integration() -> None:
    """Modules wire up through `runtime_data`, never by importing back (TYPE_CHECKING too)."""
    modules = _shipped_modules()
    graph = {m: {i for i in imports if i in modules and i != m} for m, imports in modules.items()}
    # The engine package's face imports its own modules; that is no circle through the rest.
    graph = {
        m: {i for i in edges if not m.endswith(".engine") or ".engine." in i}
        for m, edges in graph.items()
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path[path.index(module) :], module])
        if module in done:
            return
        for imported in graph[module]:
            visit(imported, [*path, module])
        done.add(module)

    for module in graph:
        visit(module, [])


QUALITY_RULES = {
    "bronze": """action-setup appropriate-polling brands common-modules config-flow-test-coverage
        config-flow dependency-transparency docs-actions docs-high-level-description
        docs-installation-instructions docs-removal-instructions entity-event-setup
        entity-unique-id has-entity-name runtime-data test-before-configure test-before-setup
        unique-config-entry""",
    "silver": """action-exceptions config-entry-unloading docs-configuration-parameters
        docs-installation-parameters entity-unavailable integration-owner log-when-unavailable
        parallel-updates reauthentication-flow test-coverage""",
    "gold": """devices diagnostics discovery-update-info discovery docs-data-update docs-examples
        docs-known-limitations docs-supported-devices docs-supported-functions
        docs-troubleshooting docs-use-cases dynamic-devices entity-category
        entity-device-class entity-disabled-by-default entity-translations
        exception-translations icon-translations reconfiguration-flow repair-issues
        stale-devices""",
    "platinum": "async-dependency inject-websession strict-typing",
}


def test_quality_scale_marks_every_rule_done_or_exempt_with_a_reason() -> None:
    scale: Any = load_yaml(PACKAGE / "quality_scale.yaml")
    rules = scale["rules"]
    wanted = {rule for tier in QUALITY_RULES.values() for rule in tier.split()}
    assert set(rules) == wanted
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in ("done", "exempt"), name
        if status == "exempt":
            assert rule["comment"], name


def test_every_platform_sets_parallel_updates() -> None:
    for platform in ("binary_sensor", "device_tracker", "image", "sensor"):
        source = (PACKAGE / f"{platform}.py").read_text(encoding="utf-8")
        assert re.search(r"^PARALLEL_UPDATES = 0$", source, re.M), platform


def test_home_assistant_logs_no_deprecation_of_ours_on_import() -> None:
    """What HA deprecates breaks in a later release; some of it is logged when our classes are
    defined (so in a fresh process: these tests import them before any test runs)."""
    modules = sorted(
        f"custom_components.ble_rtls.{path.stem}"
        for path in (ROOT / "custom_components" / "ble_rtls").glob("*.py")
    )
    script = "import logging, sys; logging.basicConfig(level=logging.WARNING)\n" + "".join(
        f"import {module}\n" for module in modules
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    named = [line for line in result.stderr.splitlines() if "ble_rtls" in line]
    assert not named, named


# Each stack's Python and the requirements file it was installed from; the newest release's
# demo venv where the test is told of it (scripts/test on the newest stack).
STACKS = [
    (
        sys.executable,
        "requirements_newest.txt" if sys.version_info >= (3, 14) else "requirements_test.txt",
    )
] + (
    [(os.environ["BLE_RTLS_DEMO_PYTHON"], "requirements_demo_newest.txt")]
    if "BLE_RTLS_DEMO_PYTHON" in os.environ
    else []
)
REQUIRED = """import json, pathlib, homeassistant.components as c
root = pathlib.Path(c.__file__).parent
print(json.dumps([r for n in ("bluetooth", "usb") for r in json.loads(
    (root / n / "manifest.json").read_text())["requirements"]]))"""


@pytest.mark.parametrize(("python", "requirements"), STACKS)
def test_each_stack_pins_what_its_home_assistant_requires(python: str, requirements: str) -> None:
    """The bluetooth stack is pinned by hand (a test plugin does not pin it): each stack's
    requirements file must pin exactly what its Home Assistant's bluetooth and usb require."""
    pinned = {
        name.lower(): version
        for line in (ROOT / requirements).read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
        for name, version in [line.split("#")[0].strip().split("==")]
    }
    required = subprocess.run(
        [python, "-c", REQUIRED], capture_output=True, text=True, check=True
    ).stdout
    for requirement in json.loads(required):
        name, version = requirement.split("==")
        assert pinned.get(name.lower()) == version, (requirements, requirement)

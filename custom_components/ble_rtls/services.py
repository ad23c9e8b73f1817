"""Actions: calibrate a tag, survey the site, export adverts for replay, reload, acknowledge.

Acknowledge: a companion phone's panic.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
from homeassistant.util import slugify

from .const import CONF_SITE, DOMAIN
from .engine import Advert, SiteError, fit_path_loss, write_adverts
from .ids import device_item
from .plans import copy_plans, plans_folder
from .runtime import BleRtlsConfigEntry
from .site_config import replace_item, validate_document
from .surveying import SpotError, heard_at, spot_on_plan, with_survey_point, without_survey

type Handler = Callable[[HomeAssistant, ServiceCall], Coroutine[Any, Any, ServiceResponse]]

SERVICE_CALIBRATE = "calibrate"
SERVICE_ADD_SURVEY_POINT = "add_survey_point"
SERVICE_CLEAR_SURVEY = "clear_survey"
SERVICE_EXPORT_ADVERTS = "export_adverts"
SERVICE_RELOAD = "reload"
SERVICE_ACKNOWLEDGE_PANIC = "acknowledge_panic"
ATTR_DEVICE_ID = "device_id"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"

# A tag at a known spot: calibrating it, or taking a survey point there.
SPOT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required("x"): vol.Coerce(float),
        vol.Required("y"): vol.Coerce(float),
        vol.Optional("floor"): vol.Coerce(int),
    }
)
ENTRY_SCHEMA = vol.Schema({vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
DEVICE_SCHEMA = vol.Schema({vol.Required(ATTR_DEVICE_ID): cv.string})


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions (once, for all sites)."""
    actions: list[tuple[str, Handler, vol.Schema, SupportsResponse]] = [
        (SERVICE_CALIBRATE, _async_calibrate, SPOT_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_ADD_SURVEY_POINT, _async_add_survey_point, SPOT_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_CLEAR_SURVEY, _async_clear_survey, ENTRY_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_EXPORT_ADVERTS, _async_export, ENTRY_SCHEMA, SupportsResponse.OPTIONAL),
        (SERVICE_RELOAD, _async_reload, ENTRY_SCHEMA, SupportsResponse.NONE),
        (SERVICE_ACKNOWLEDGE_PANIC, _async_acknowledge, DEVICE_SCHEMA, SupportsResponse.OPTIONAL),
    ]
    for name, handler, schema, response in actions:
        hass.services.async_register(
            DOMAIN, name, partial(handler, hass), schema=schema, supports_response=response
        )


def _loaded_entries(hass: HomeAssistant, entry_id: str | None) -> list[BleRtlsConfigEntry]:
    entries = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED and entry_id in (None, entry.entry_id)
    ]
    if not entries:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_site",
            translation_placeholders={"entry": entry_id or ""},
        )
    return entries


async def _async_reload(hass: HomeAssistant, call: ServiceCall) -> None:
    for entry in _loaded_entries(hass, call.data.get(ATTR_CONFIG_ENTRY_ID)):
        await hass.config_entries.async_reload(entry.entry_id)


async def _async_export(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Write each site's recent adverts and SITE.json under <config>/ble_rtls/."""
    files: dict[str, Any] = {}
    stamp = dt_util.utcnow().strftime("%Y%m%dT%H%M%SZ")
    for entry in _loaded_entries(hass, call.data.get(ATTR_CONFIG_ENTRY_ID)):
        coordinator = entry.runtime_data.coordinator
        folder = Path(hass.config.path(DOMAIN, f"{slugify(entry.title)}-{stamp}"))
        adverts = list(coordinator.recent_adverts)
        try:
            await hass.async_add_executor_job(
                _write_export,
                folder,
                adverts,
                coordinator.document,
                plans_folder(hass, entry.entry_id),
            )
        except OSError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="export_failed",
                translation_placeholders={"folder": str(folder), "error": err.strerror or str(err)},
            ) from err
        files[entry.entry_id] = {
            "adverts": str(folder / "ADVERTS.csv"),
            "site": str(folder / "SITE.json"),
            "rows": len(adverts),
        }
    return files


def _write_export(
    folder: Path, adverts: list[Advert], document: dict[str, Any], plans: Path
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_adverts(folder / "ADVERTS.csv", adverts)
    (folder / "SITE.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    copy_plans(plans, folder / "plans")


def _tag_of_device(hass: HomeAssistant, call: ServiceCall) -> tuple[BleRtlsConfigEntry, str]:
    """The site and tag of the action's tag device."""
    device = dr.async_get(hass).async_get(call.data[ATTR_DEVICE_ID])
    if device is not None:
        for entry in _loaded_entries(hass, None):
            tag_id = device_item(entry.entry_id, "tag", device.identifiers)
            if tag_id is not None and tag_id in entry.runtime_data.coordinator.tags:
                return entry, tag_id
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_a_tag")


def _refused(err: SpotError) -> ServiceValidationError:
    """The action's error for what went wrong at the spot."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=err.key,
        translation_placeholders=err.placeholders,
    )


async def _async_calibrate(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Fit the tag's RSSI at 1 m from what the receivers hear while it stands at (x, y)."""
    entry, tag_id = _tag_of_device(hass, call)
    coordinator = entry.runtime_data.coordinator
    site = coordinator.site
    try:
        floor = spot_on_plan(coordinator, call.data["x"], call.data["y"], call.data.get("floor"))
        rssi = heard_at(coordinator, tag_id, floor)
    except SpotError as err:
        raise _refused(err) from err
    height = site.tag(tag_id).height
    distances, values = [], []
    for receiver in site.receivers:
        if receiver.id in rssi and receiver.floor == floor:
            dx, dy, dz = (
                receiver.x - call.data["x"],
                receiver.y - call.data["y"],
                receiver.z - height,
            )
            distances.append(max(math.sqrt(dx * dx + dy * dy + dz * dz), 0.1))
            values.append(rssi[receiver.id])
    assert coordinator.engine is not None  # it heard the tag
    exponent = coordinator.engine.calibration.exponent
    references = [
        v + 10.0 * exponent * math.log10(d) for d, v in zip(distances, values, strict=True)
    ]
    reference = round(statistics.median(references), 1)
    response: dict[str, Any] = {
        "tag": tag_id,
        "ref_rssi_1m": reference,
        "exponent": round(exponent, 2),
        "receivers": len(values),
        "spread_db": round(statistics.pstdev(references), 1),
    }
    try:
        fit = fit_path_loss(distances, values)
    except ValueError:
        pass
    else:
        response["fitted_exponent"] = round(fit.exponent, 2)
    item = next(t for t in coordinator.document["tags"] if t["id"] == tag_id) | {
        "ref_rssi_1m": reference
    }
    try:  # a power no tag has (a spot entered wrong) would stop the site loading
        document = validate_document(replace_item(coordinator.document, "tags", item, tag_id))
    except SiteError as err:
        raise _refused(SpotError("invalid_calibration", error=str(err))) from err
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: document})
    return response


async def _async_add_survey_point(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Keep what the receivers hear of the tag standing at (x, y) as a survey point.

    The site reloads with it. The answer tells how far from the spot the tag was shown.
    """
    entry, tag_id = _tag_of_device(hass, call)
    coordinator = entry.runtime_data.coordinator
    x, y = call.data["x"], call.data["y"]
    try:
        document, receivers = with_survey_point(coordinator, tag_id, x, y, call.data.get("floor"))
    except SpotError as err:
        raise _refused(err) from err
    floor = document["survey"][-1]["floor"]
    shown = coordinator.tags[tag_id].estimate
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_SITE: document})
    return {
        "tag": tag_id,
        "receivers": receivers,
        "survey_points": len(document["survey"]),
        "error_m": None
        if shown is None or shown.floor != floor
        else round(math.hypot(shown.x - x, shown.y - y), 2),
    }


async def _async_clear_survey(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Forget every survey point of the site (or of every site)."""
    removed: dict[str, Any] = {}
    for entry in _loaded_entries(hass, call.data.get(ATTR_CONFIG_ENTRY_ID)):
        document, removed[entry.entry_id] = without_survey(entry.runtime_data.coordinator.document)
        if removed[entry.entry_id]:
            hass.config_entries.async_update_entry(
                entry, options={**entry.options, CONF_SITE: document}
            )
    return removed


async def _async_acknowledge(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    """Someone has seen the phone's alarm: the sensor clears and the phone is told."""
    device = dr.async_get(hass).async_get(call.data[ATTR_DEVICE_ID])
    if device is not None:
        for entry in _loaded_entries(hass, None):
            phone_id = device_item(entry.entry_id, "phone", device.identifiers)
            phones = entry.runtime_data.phones
            if phone_id is not None and phone_id in phones.phones:
                acknowledged = await phones.async_acknowledge(phone_id, call.context.user_id)
                return {"acknowledged": acknowledged}
    raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_a_phone")

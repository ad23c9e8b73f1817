"""UI set-up: the config flow creates a site; the options flow edits it one item at a time.

Every edit is validated as a whole site before it is saved, so a bad value shows a form
error and the stored site stays as it was.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Literal

import voluptuous as vol
from habluetooth import get_manager
from homeassistant.components import bluetooth, webhook
from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers import selector
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util import slugify

from .battery import battery_enabled
from .const import (
    CONF_LOCATE_INTERVAL,
    CONF_MISSING_AFTER,
    CONF_PHONES,
    CONF_PUBLISH_INTERVAL,
    CONF_RECEIVER_SILENT_AFTER,
    CONF_RSSI_FILTER,
    CONF_SELF_CALIBRATE,
    CONF_SETTINGS,
    CONF_SITE,
    CONF_WINDOW,
    CONF_ZONE_DWELL,
    CONF_ZONE_MARGIN,
    DEFAULT_SETTINGS,
    DOMAIN,
)
from .engine import (
    COORDINATE_RANGE_M,
    DEFAULT_EXPONENT,
    DEFAULT_REF_RSSI_1M,
    DEFAULT_WALL_LOSS_DB,
    EXPONENT_RANGE,
    FLOOR_RANGE,
    HEIGHT_RANGE_M,
    MAX_WALL_LOSS_DB,
    MOTION_CLASSES,
    REF_RSSI_RANGE_DBM,
    RSSI_OFFSET_RANGE_DB,
    SiteError,
)
from .identity import IDENTITY_KINDS, IdentityError, identity_of, normalize
from .nearby import nearby_devices
from .phones import pairing_payload
from .site_config import SiteDocument, empty_document, names, replace_item, validate_document
from .surveying import SpotError, with_survey_point, without_survey

CONF_NAME = "name"
CONF_SITE_JSON = "site_json"
CONF_ITEM = "item"
CONF_REMOVE = "remove"
CONF_IDENTITY_KIND = "identity_kind"
CONF_IDENTITY = "identity"
CONF_POLYGON = "polygon"
CONF_AREA = "area_id"
CONF_WALLS = "walls"
CONF_TAG = "tag"
CONF_CLEAR = "clear"
CONF_CANDIDATE = "candidate"
CONF_TAG = "tag"
CONF_BATTERY = "battery"
CONF_NEW_SECRET = "new_secret"
CONF_SHOW_PAIRING = "show_pairing"
NEW_ITEM = "__new__"
MANUAL = "__manual__"

TEXT_MULTILINE = selector.TextSelector(selector.TextSelectorConfig(multiline=True))


def _number(
    within: tuple[float, float], step: float | Literal["any"], unit: str | None = None
) -> selector.NumberSelector:
    config = selector.NumberSelectorConfig(
        min=within[0], max=within[1], step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def _choice(options: list[str], key: str) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(options=options, translation_key=key)
    )


def _labelled(options: dict[str, str]) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[
                selector.SelectOptionDict(value=v, label=label) for v, label in options.items()
            ]
        )
    )


def _parse_site_json(text: str) -> SiteDocument:
    """SITE.json text to a validated document; SiteError names what is wrong."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as err:
        # Not JSON, an integer of over 4300 digits, or nesting deeper than the decoder goes.
        raise SiteError(f"SITE.json: not valid JSON: {err}") from err
    return validate_document(raw)


def _unique_id(wanted: str, taken: set[str]) -> str:
    base = slugify(wanted) or "item"
    candidate, counter = base, 2
    while candidate in taken:
        candidate, counter = f"{base}_{counter}", counter + 1
    return candidate


def _parse_polygon(text: str) -> list[list[float]]:
    """'x,y; x,y; x,y' to vertices; ValueError when a vertex is not two numbers."""
    vertices = []
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        numbers = [float(value) for value in part.split(",")]
        if len(numbers) != 2:
            raise ValueError(part)
        vertices.append(numbers)
    return vertices


class BleRtlsConfigFlow(ConfigFlow, domain=DOMAIN):
    """Create a site: a name, optionally a SITE.json to start from."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name the site; paste a SITE.json to import one."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            await self.async_set_unique_id(slugify(name))
            self._abort_if_unique_id_configured()
            text = user_input.get(CONF_SITE_JSON, "").strip()
            try:
                document = _parse_site_json(text) if text else empty_document()
            except SiteError as err:
                errors[CONF_SITE_JSON] = "invalid_site"
                placeholders["error"] = str(err)
            else:
                return self.async_create_entry(
                    title=name, data={}, options={CONF_SITE: document, CONF_SETTINGS: {}}
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_NAME): selector.TextSelector(),
                vol.Optional(CONF_SITE_JSON): TEXT_MULTILINE,
            }
        )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Rename the site; receivers, tags and zones are edited under Configure."""
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            if slugify(name) != entry.unique_id:
                await self.async_set_unique_id(slugify(name))
                self._abort_if_unique_id_configured()
            return self.async_update_reload_and_abort(entry, title=name, unique_id=slugify(name))
        schema = vol.Schema({vol.Required(CONF_NAME): selector.TextSelector()})
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, {CONF_NAME: entry.title}),
        )

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: Any) -> BleRtlsOptionsFlow:
        """Edit receivers, tags, zones and settings."""
        return BleRtlsOptionsFlow()


class BleRtlsOptionsFlow(OptionsFlow):
    """One edit per visit: pick what to change, change it, save the validated site."""

    def __init__(self) -> None:
        self._item_id: str | None = None
        self._prefill: dict[str, Any] = {}
        self._phone: dict[str, Any] = {}

    @property
    def _document(self) -> SiteDocument:
        stored: SiteDocument | None = self.config_entry.options.get(CONF_SITE)
        return stored or empty_document()

    @property
    def _settings(self) -> dict[str, Any]:
        return {**DEFAULT_SETTINGS, **self.config_entry.options.get(CONF_SETTINGS, {})}

    def _save(
        self, document: SiteDocument | None = None, settings: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        options = dict(self.config_entry.options)
        if document is not None:
            options[CONF_SITE] = document
        if settings is not None:
            options[CONF_SETTINGS] = settings
        return self._saved(options)

    def _saved(self, options: dict[str, Any]) -> ConfigFlowResult:
        """Store the options; a site that failed to load is loaded again with them.

        A loaded site reloads through its update listener; one whose set-up failed (a
        stored site that no longer passes the checks) has none, and stayed failed once
        mended. Its options are stored here first, as the reload starts at once.
        """
        entry = self.config_entry
        if entry.state is ConfigEntryState.SETUP_ERROR:
            self.hass.config_entries.async_update_entry(entry, options=options)
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_create_entry(data=options)

    def _item(self, key: str) -> dict[str, Any] | None:
        return next((i for i in self._document[key] if i["id"] == self._item_id), None)

    def _try_save(
        self,
        key: str,
        item: dict[str, Any] | None,
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult | None:
        """Save the site with `item` replacing the current one, or fill in the errors."""
        assert self._item_id is not None
        try:
            document = validate_document(replace_item(self._document, key, item, self._item_id))
        except SiteError as err:
            errors["base"] = "invalid_site"
            placeholders["error"] = str(err)
            return None
        return self._save(document)

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """What to change."""
        return self.async_show_menu(
            step_id="init",
            menu_options=[
                "receivers",
                "tags",
                "zones",
                "phones",
                "survey",
                "settings",
                "import_site",
                "export_site",
            ],
        )

    # Receivers

    async def async_step_receivers(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick a placed receiver, or a scanner HA has now, to place."""
        placed = names(self._document, "receivers")
        options = {rid: f"{name} ({rid})" for rid, name in placed.items()}
        for scanner in get_manager().async_current_scanners():
            if scanner.source not in options:
                options[scanner.source] = f"{scanner.name} ({scanner.source}), not placed"
        if not options:
            return self.async_abort(reason="no_scanners")
        if user_input is not None:
            self._item_id = user_input[CONF_ITEM]
            return await self.async_step_receiver()
        return self.async_show_form(
            step_id="receivers",
            data_schema=vol.Schema({vol.Required(CONF_ITEM): _labelled(options)}),
        )

    async def async_step_receiver(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Where the receiver is: x, y, height, floor and its RSSI correction."""
        assert self._item_id is not None
        errors: dict[str, str] = {}
        placeholders = {"receiver": self._item_id, "error": ""}
        current = self._item("receivers")
        if user_input is not None:
            item = (
                None
                if user_input.get(CONF_REMOVE)
                else {
                    "id": self._item_id,
                    "name": user_input[CONF_NAME].strip() or self._item_id,
                    "x": user_input["x"],
                    "y": user_input["y"],
                    "z": user_input["z"],
                    "floor": int(user_input["floor"]),
                    "rssi_offset": user_input["rssi_offset"],
                }
                | ({"beacon": beacon} if (beacon := user_input.get("beacon", "").strip()) else {})
            )
            if (result := self._try_save("receivers", item, errors, placeholders)) is not None:
                return result
        scanner = bluetooth.async_scanner_by_source(self.hass, self._item_id)
        defaults = current or {
            "name": scanner.name if scanner else self._item_id,
            "z": 2.0,
            "floor": 0,
            "rssi_offset": 0.0,
        } | self._own_beacon(self._item_id)
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME): selector.TextSelector(),
            vol.Required("x"): _number(COORDINATE_RANGE_M, 0.1, "m"),
            vol.Required("y"): _number(COORDINATE_RANGE_M, 0.1, "m"),
            vol.Required("z", default=2.0): _number(HEIGHT_RANGE_M, 0.1, "m"),
            vol.Required("floor", default=0): _number(FLOOR_RANGE, 1),
            vol.Required("rssi_offset", default=0.0): _number(RSSI_OFFSET_RANGE_DB, 0.5, "dB"),
            vol.Optional("beacon"): selector.TextSelector(),
        }
        if current is not None:
            fields[vol.Optional(CONF_REMOVE, default=False)] = selector.BooleanSelector()
        return self.async_show_form(
            step_id="receiver",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), user_input or defaults
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _own_beacon(self, source: str) -> dict[str, str]:
        """The receiver's own address as its beacon, when other scanners hear it advertise.

        An ESPHome proxy running a beacon sends from the address it scans under.
        """
        heard = bluetooth.async_scanner_devices_by_address(self.hass, source, connectable=False)
        return {"beacon": source} if any(d.scanner.source != source for d in heard) else {}

    # Tags

    async def async_step_tags(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a tag to edit, or add one."""
        if user_input is not None:
            if user_input[CONF_ITEM] == NEW_ITEM:
                return await self.async_step_tag_candidates()
            self._item_id = user_input[CONF_ITEM]
            return await self.async_step_tag()
        options = {NEW_ITEM: "Add a tag"} | names(self._document, "tags")
        return self.async_show_form(
            step_id="tags", data_schema=vol.Schema({vol.Required(CONF_ITEM): _labelled(options)})
        )

    async def async_step_tag_candidates(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The strongest devices heard now, to pick the new tag from."""
        candidates: dict[str, str] = {}
        prefill: dict[str, dict[str, Any]] = {}
        for device in nearby_devices(self.hass, self._document):
            identity = device.identity
            label = f"{device.name or device.address} · {device.address} · {device.rssi} dBm"
            candidates[identity.value] = label + (
                f" · iBeacon {device.ibeacon}" if device.ibeacon else ""
            )
            prefill[identity.value] = {
                CONF_NAME: device.name,
                CONF_IDENTITY_KIND: identity.kind,
                CONF_IDENTITY: identity.value,
            }
        if user_input is not None:
            self._prefill = prefill.get(user_input[CONF_CANDIDATE], {})
            return await self.async_step_tag()
        options = {MANUAL: "Enter it by hand"} | candidates
        return self.async_show_form(
            step_id="tag_candidates",
            data_schema=vol.Schema({vol.Required(CONF_CANDIDATE): _labelled(options)}),
        )

    async def async_step_tag(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name, identity, reference power and motion class of a tag."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        current = self._item("tags") if self._item_id else None
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            try:
                identity = normalize(user_input[CONF_IDENTITY_KIND], user_input[CONF_IDENTITY])
            except IdentityError as err:
                errors[CONF_IDENTITY] = "invalid_identity"
                placeholders["error"] = str(err)
            else:
                if self._item_id is None:
                    taken = {item["id"] for item in self._document["tags"]}
                    self._item_id = _unique_id(name, taken)
                item: dict[str, Any] | None = None
                if not user_input.get(CONF_REMOVE):
                    item = {
                        "id": self._item_id,
                        "name": name or self._item_id,
                        identity.kind: identity.value,
                        "motion": user_input["motion"],
                    }
                    if user_input.get("ref_rssi_1m") is not None:
                        item["ref_rssi_1m"] = user_input["ref_rssi_1m"]
                    if CONF_BATTERY in user_input:
                        item[CONF_BATTERY] = user_input[CONF_BATTERY]
                if (result := self._try_save("tags", item, errors, placeholders)) is not None:
                    return result
        defaults: dict[str, Any] = {CONF_IDENTITY_KIND: "address", "motion": "person"}
        if current is not None:
            identity = identity_of(current)
            defaults |= current | {CONF_IDENTITY_KIND: identity.kind, CONF_IDENTITY: identity.value}
        defaults |= self._prefill
        defaults.setdefault(CONF_BATTERY, battery_enabled({defaults[CONF_IDENTITY_KIND]: ""}))
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME): selector.TextSelector(),
            vol.Required(CONF_IDENTITY_KIND): _choice(list(IDENTITY_KINDS), CONF_IDENTITY_KIND),
            vol.Required(CONF_IDENTITY): selector.TextSelector(),
            vol.Optional("ref_rssi_1m"): _number(REF_RSSI_RANGE_DBM, 1, "dBm"),
            vol.Required("motion"): _choice(list(MOTION_CLASSES), "motion"),
            vol.Optional(CONF_BATTERY): selector.BooleanSelector(),
        }
        if current is not None:
            fields[vol.Optional(CONF_REMOVE, default=False)] = selector.BooleanSelector()
        return self.async_show_form(
            step_id="tag",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), user_input or defaults
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # Zones

    async def async_step_zones(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a zone to edit, or add one."""
        if user_input is not None:
            if user_input[CONF_ITEM] != NEW_ITEM:
                self._item_id = user_input[CONF_ITEM]
            return await self.async_step_zone()
        options = {NEW_ITEM: "Add a zone"} | names(self._document, "zones")
        return self.async_show_form(
            step_id="zones", data_schema=vol.Schema({vol.Required(CONF_ITEM): _labelled(options)})
        )

    async def async_step_zone(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name, floor, polygon (x,y; x,y; ...), walls along its edges and optional HA area."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        current = self._item("zones") if self._item_id else None
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            try:
                polygon = _parse_polygon(user_input[CONF_POLYGON])
            except ValueError:
                errors[CONF_POLYGON] = "invalid_polygon"
            else:
                if self._item_id is None:
                    self._item_id = _unique_id(name, {z["id"] for z in self._document["zones"]})
                item: dict[str, Any] | None = None
                if not user_input.get(CONF_REMOVE):
                    item = {
                        "id": self._item_id,
                        "name": name or self._item_id,
                        "floor": int(user_input["floor"]),
                        "polygon": polygon,
                        CONF_WALLS: bool(user_input.get(CONF_WALLS)),
                    }
                    if user_input.get(CONF_AREA):
                        item[CONF_AREA] = user_input[CONF_AREA]
                if (result := self._try_save("zones", item, errors, placeholders)) is not None:
                    return result
        defaults: dict[str, Any] = {"floor": 0}
        if current is not None:
            polygon_text = "; ".join(f"{x:g},{y:g}" for x, y in current["polygon"])
            defaults |= current | {CONF_POLYGON: polygon_text}
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME): selector.TextSelector(),
            vol.Required("floor"): _number(FLOOR_RANGE, 1),
            vol.Required(CONF_POLYGON): TEXT_MULTILINE,
            vol.Optional(CONF_WALLS, default=False): selector.BooleanSelector(),
            vol.Optional(CONF_AREA): selector.AreaSelector(),
        }
        if current is not None:
            fields[vol.Optional(CONF_REMOVE, default=False)] = selector.BooleanSelector()
        return self.async_show_form(
            step_id="zone",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields), user_input or defaults
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # Companion phones

    @property
    def _phones(self) -> list[dict[str, Any]]:
        stored: list[dict[str, Any]] = self.config_entry.options.get(CONF_PHONES, [])
        return stored

    def _save_phone(self, item: dict[str, Any] | None) -> ConfigFlowResult:
        phones = [phone for phone in self._phones if phone["id"] != self._item_id]
        options = dict(self.config_entry.options)
        options[CONF_PHONES] = phones if item is None else [*phones, item]
        return self._saved(options)

    async def async_step_phones(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a paired phone to edit, or pair a new one."""
        if user_input is not None:
            if user_input[CONF_ITEM] != NEW_ITEM:
                self._item_id = user_input[CONF_ITEM]
            return await self.async_step_phone()
        options = {NEW_ITEM: "Pair a phone"} | {p["id"]: p["name"] for p in self._phones}
        return self.async_show_form(
            step_id="phones",
            data_schema=vol.Schema({vol.Required(CONF_ITEM): _labelled(options)}),
        )

    async def async_step_phone(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Name a phone and the tag its person carries; unpair or re-key a paired one."""
        current = next((p for p in self._phones if p["id"] == self._item_id), None)
        if user_input is not None:
            if user_input.get(CONF_REMOVE):
                return self._save_phone(None)
            name = user_input[CONF_NAME].strip()
            if self._item_id is None:
                self._item_id = _unique_id(name, {p["id"] for p in self._phones})
            rekey = current is None or bool(user_input.get(CONF_NEW_SECRET))
            keys = (
                {"webhook_id": webhook.async_generate_id(), "secret": secrets.token_urlsafe(32)}
                if current is None or rekey
                else {"webhook_id": current["webhook_id"], "secret": current["secret"]}
            )
            self._phone = {"id": self._item_id, "name": name or self._item_id, **keys}
            if user_input.get(CONF_TAG):
                self._phone[CONF_TAG] = user_input[CONF_TAG]
            if rekey or user_input.get(CONF_SHOW_PAIRING):
                return await self.async_step_pair()
            return self._save_phone(self._phone)
        tags = names(self._document, "tags")
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_NAME): selector.TextSelector(),
            vol.Optional(CONF_TAG): _labelled(tags),
        }
        if current is not None:
            fields[vol.Optional(CONF_SHOW_PAIRING, default=False)] = selector.BooleanSelector()
            fields[vol.Optional(CONF_NEW_SECRET, default=False)] = selector.BooleanSelector()
            fields[vol.Optional(CONF_REMOVE, default=False)] = selector.BooleanSelector()
        return self.async_show_form(
            step_id="phone",
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), current or {}),
        )

    async def async_step_pair(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the pairing payload as text and QR code; saving makes it valid."""
        if user_input is not None:
            return self._save_phone(self._phone)
        try:
            url = get_url(self.hass, allow_internal=True, prefer_external=True)
        except NoURLAvailableError:
            return self.async_abort(reason="no_url")
        payload = pairing_payload(url, self._phone)
        # HA's frontend draws the code: the integration installs no QR library.
        qr_code = selector.QrCodeSelector(
            selector.QrCodeSelectorConfig(
                data=payload,
                scale=4,
                error_correction_level=selector.QrErrorCorrectionLevel.MEDIUM,
            )
        )
        return self.async_show_form(
            step_id="pair",
            data_schema=vol.Schema({vol.Optional("qr_code"): qr_code}),
            description_placeholders={"phone": self._phone["name"], "payload": payload},
        )

    # Settings, import and export

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Filter, zone and publishing settings; path-loss defaults; geo anchor."""
        document = self._document
        path_loss = document.get("path_loss", {})
        anchor = document.get("geo_anchor") or {}
        if user_input is not None:
            settings = {key: user_input[key] for key in DEFAULT_SETTINGS}
            updated = dict(document)
            updated["path_loss"] = {
                key: user_input[key] for key in ("exponent", "ref_rssi_1m", "wall_loss_db")
            }
            if user_input.get("latitude") is not None and user_input.get("longitude") is not None:
                updated["geo_anchor"] = {
                    "latitude": user_input["latitude"],
                    "longitude": user_input["longitude"],
                    "bearing": user_input.get("bearing", 0.0),
                }
            else:
                updated.pop("geo_anchor", None)
            # The selectors bound every number, so the site stays valid.
            return self._save(validate_document(updated), settings)
        seconds = "s"
        schema = vol.Schema(
            {
                vol.Required(CONF_RSSI_FILTER): _choice(["trimmed", "kalman"], CONF_RSSI_FILTER),
                vol.Required(CONF_WINDOW): _number((1, 30), 0.5, seconds),
                vol.Required(CONF_LOCATE_INTERVAL): _number((1, 10), 1, seconds),
                vol.Required(CONF_SELF_CALIBRATE): selector.BooleanSelector(),
                vol.Required(CONF_ZONE_MARGIN): _number((0, 10), 0.1, "m"),
                vol.Required(CONF_ZONE_DWELL): _number((0, 600), 1, seconds),
                vol.Required(CONF_PUBLISH_INTERVAL): _number((1, 600), 1, seconds),
                vol.Required(CONF_MISSING_AFTER): _number((10, 86400), 10, seconds),
                vol.Required(CONF_RECEIVER_SILENT_AFTER): _number((30, 86400), 10, seconds),
                vol.Required("exponent"): _number(EXPONENT_RANGE, 0.1),
                vol.Required("ref_rssi_1m"): _number(REF_RSSI_RANGE_DBM, 1, "dBm"),
                vol.Required("wall_loss_db"): _number((0, MAX_WALL_LOSS_DB), 0.5, "dB"),
                vol.Optional("latitude"): _number((-90, 90), "any", "°"),
                vol.Optional("longitude"): _number((-180, 180), "any", "°"),
                vol.Optional("bearing"): _number((-360, 360), 0.1, "°"),
            }
        )
        defaults = (
            self._settings
            | {
                "exponent": path_loss.get("exponent", DEFAULT_EXPONENT),
                "ref_rssi_1m": path_loss.get("ref_rssi_1m", DEFAULT_REF_RSSI_1M),
                "wall_loss_db": path_loss.get("wall_loss_db", DEFAULT_WALL_LOSS_DB),
            }
            | anchor
        )
        return self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(schema, defaults),
        )

    async def async_step_survey(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Take a survey point (a tag standing still at a known spot), or forget them all."""
        if self.config_entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="not_loaded")
        tags = names(self._document, "tags")
        if not tags:
            return self.async_abort(reason="no_tags")
        coordinator = self.config_entry.runtime_data.coordinator
        points = len(self._document.get("survey", []))
        errors: dict[str, str] = {}
        # Every placeholder the step's errors may name.
        placeholders = dict.fromkeys(("count", "floor", "x", "y", "error"), "")
        placeholders["points"] = str(points)
        if user_input is not None:
            if user_input.get(CONF_CLEAR):
                return self._save(without_survey(self._document)[0])
            try:
                document, _ = with_survey_point(
                    coordinator,
                    user_input[CONF_TAG],
                    user_input["x"],
                    user_input["y"],
                    int(user_input["floor"]),
                )
            except SpotError as err:
                errors["base"] = err.key
                placeholders.update(err.placeholders)
            else:
                return self._save(document)
        floors = coordinator.site.floors
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_TAG): _labelled(tags),
            vol.Required("x"): _number(COORDINATE_RANGE_M, 0.1, "m"),
            vol.Required("y"): _number(COORDINATE_RANGE_M, 0.1, "m"),
            vol.Required("floor", default=floors[0] if floors else 0): _number(FLOOR_RANGE, 1),
        }
        if points:
            fields[vol.Optional(CONF_CLEAR, default=False)] = selector.BooleanSelector()
        return self.async_show_form(
            step_id="survey",
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), user_input or {}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_import_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Replace the whole site with a pasted SITE.json (validated first)."""
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            try:
                document = _parse_site_json(user_input[CONF_SITE_JSON])
            except SiteError as err:
                errors[CONF_SITE_JSON] = "invalid_site"
                placeholders["error"] = str(err)
            else:
                return self._save(document)
        return self.async_show_form(
            step_id="import_site",
            data_schema=vol.Schema({vol.Required(CONF_SITE_JSON): TEXT_MULTILINE}),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_export_site(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the site as SITE.json, for `ble-rtls replay` or a backup."""
        if user_input is not None:
            return self.async_abort(reason="exported")
        return self.async_show_form(
            step_id="export_site",
            data_schema=vol.Schema({}),
            description_placeholders={"site_json": json.dumps(self._document, indent=1)},
        )

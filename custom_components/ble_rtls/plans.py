"""Floor plans: an image per floor, kept under the configuration folder.

Uploaded by an administrator and drawn under the site in the browser. PNG and JPEG are
checked by decoding them. An SVG may hold no script, event handler, entity or outside link,
and is served with a policy that lets a browser run nothing from it.
"""

from __future__ import annotations

import io
import math
import re
import shutil
from http import HTTPStatus
from pathlib import Path
from xml.etree import ElementTree as ET

from aiohttp import web
from homeassistant.components.http.const import KEY_HASS_USER
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from PIL import Image

from .const import DOMAIN

# Content type -> file extension.
PLAN_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}
_TYPES = {extension: content for content, extension in PLAN_TYPES.items()}
MAX_PLAN_BYTES = 20 * 1024 * 1024
MAX_PLAN_PIXELS = 100_000_000
_FLOOR = re.compile(r"-?\d{1,3}")
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
# Served with every plan: nothing in an SVG runs, nothing is fetched, nothing sniffed.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}


class PlanError(ValueError):
    """An upload that is not a plan this integration serves."""


def plans_folder(hass: HomeAssistant, entry_id: str) -> Path:
    """Where a site's plans are kept."""
    return Path(hass.config.path(DOMAIN, "plans", entry_id))


def plan_size(data: bytes, extension: str) -> tuple[float, float]:
    """The plan's size in pixels (an SVG's from its viewBox or width and height)."""
    if extension == "svg":
        return _svg_size(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if (image.format or "").lower() != {"png": "png", "jpg": "jpeg"}[extension]:
                raise PlanError(f"not a {extension.upper()} image")
            width, height = image.size
            if width * height > MAX_PLAN_PIXELS:
                raise PlanError(f"{width} x {height} pixels is more than a plan needs")
            image.load()
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:
        raise PlanError(f"not a readable {extension.upper()} image") from err
    return float(width), float(height)


def _svg_size(data: bytes) -> tuple[float, float]:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise PlanError("an SVG with a DOCTYPE or entities is not taken")
    try:
        root = ET.fromstring(data)  # no DOCTYPE, so no entities to expand
    except ET.ParseError as err:
        raise PlanError(f"not a readable SVG: {err}") from err
    if root.tag != f"{SVG_NAMESPACE}svg":
        raise PlanError("not an SVG image")
    for element in root.iter():
        name = element.tag.rpartition("}")[2].lower()
        if name in {"script", "foreignobject", "iframe", "object", "embed"}:
            raise PlanError(f"an SVG with <{name}> is not taken")
        for attribute, value in element.attrib.items():
            key = attribute.rpartition("}")[2].lower()
            if key.startswith("on"):
                raise PlanError(f"an SVG with an event handler ({key}) is not taken")
            if key == "href" and not value.startswith(("#", "data:image/")):
                raise PlanError("an SVG that links outside itself is not taken")
    return _svg_dimensions(root)


def _svg_dimensions(root: ET.Element) -> tuple[float, float]:
    view_box = root.get("viewBox", "").replace(",", " ").split()
    try:
        if len(view_box) == 4:
            width, height = float(view_box[2]), float(view_box[3])
        else:
            width, height = float(root.get("width", "")), float(root.get("height", ""))
    except ValueError:
        width = height = math.nan
    if not (0 < width < math.inf and 0 < height < math.inf):  # NaN fails both
        raise PlanError("an SVG needs a viewBox, or a width and height in pixels")
    return width, height


def _store(folder: Path, floor: int, extension: str, data: bytes) -> str:
    """Write the floor's plan (replacing any other), whole or not at all; its file name."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"floor-{floor}.{extension}"
    partial = folder / f".{name}.partial"
    partial.write_bytes(data)
    partial.replace(folder / name)
    for other in PLAN_TYPES.values():
        if other != extension:
            (folder / f"floor-{floor}.{other}").unlink(missing_ok=True)
    return name


def _find(folder: Path, floor: int) -> Path | None:
    return next(
        (path for e in PLAN_TYPES.values() if (path := folder / f"floor-{floor}.{e}").is_file()),
        None,
    )


def copy_plans(source: Path, target: Path) -> None:
    """A site's plans into an export."""
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*"), dirs_exist_ok=True)


class PlanView(HomeAssistantView):
    """GET a floor's plan (any user); PUT a new one or DELETE it (administrators)."""

    url = "/api/ble_rtls/{entry_id}/plans/{floor}"
    name = "api:ble_rtls:plan"

    def _folder(self, request: web.Request, entry_id: str, floor: str) -> tuple[Path, int]:
        hass = request.app[KEY_HASS]
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN or not _FLOOR.fullmatch(floor):
            raise web.HTTPNotFound
        return plans_folder(hass, entry_id), int(floor)

    async def get(self, request: web.Request, entry_id: str, floor: str) -> web.Response:
        """The plan's bytes, as uploaded."""
        folder, number = self._folder(request, entry_id, floor)
        hass = request.app[KEY_HASS]
        path = await hass.async_add_executor_job(_find, folder, number)
        if path is None:
            raise web.HTTPNotFound
        body = await hass.async_add_executor_job(path.read_bytes)
        return web.Response(body=body, content_type=_TYPES[path.suffix[1:]], headers=_HEADERS)

    async def put(self, request: web.Request, entry_id: str, floor: str) -> web.Response:
        """Take a PNG, JPEG or SVG as the floor's plan; its file name and size in pixels."""
        _admin(request)
        folder, number = self._folder(request, entry_id, floor)
        extension = PLAN_TYPES.get(request.content_type)
        if extension is None:
            return self.json_message(
                f"A plan is PNG, JPEG or SVG, not {request.content_type or 'untyped'}",
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            )
        if (request.content_length or 0) > MAX_PLAN_BYTES:
            return self.json_message("A plan is at most 20 MB", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        data = await request.content.read(MAX_PLAN_BYTES + 1)
        if len(data) > MAX_PLAN_BYTES:
            return self.json_message("A plan is at most 20 MB", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        hass = request.app[KEY_HASS]
        try:
            width, height = await hass.async_add_executor_job(plan_size, data, extension)
        except PlanError as err:
            return self.json_message(str(err), HTTPStatus.BAD_REQUEST)
        name = await hass.async_add_executor_job(_store, folder, number, extension, data)
        return self.json({"file": name, "width": width, "height": height})

    async def delete(self, request: web.Request, entry_id: str, floor: str) -> web.Response:
        """Remove the floor's plan (the site then shows a plain grid)."""
        _admin(request)
        folder, number = self._folder(request, entry_id, floor)
        hass = request.app[KEY_HASS]
        path = await hass.async_add_executor_job(_find, folder, number)
        if path is None:
            raise web.HTTPNotFound
        await hass.async_add_executor_job(path.unlink)
        return self.json({"file": path.name})


def _admin(request: web.Request) -> None:
    if not request[KEY_HASS_USER].is_admin:
        raise web.HTTPUnauthorized

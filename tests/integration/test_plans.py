"""Floor plans through HA's real HTTP API: upload, serve, refuse, delete, check, export."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from homeassistant.core import HomeAssistant
from PIL import Image
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MockHAClientWebSocket

from custom_components.ble_rtls.const import CONF_SITE, DOMAIN
from custom_components.ble_rtls.plans import MAX_PLAN_BYTES, plans_folder

type Client = Callable[..., Awaitable[TestClient[Any, Any]]]
type WsClient = Callable[..., Awaitable[MockHAClientWebSocket]]
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 200">'
    b'<rect width="400" height="200" fill="#eee"/><use href="#wall"/></svg>'
)


def _png(width: int = 40, height: int = 20) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def _url(entry: MockConfigEntry, floor: object = 0) -> str:
    return f"/api/ble_rtls/{entry.entry_id}/plans/{floor}"


async def test_an_administrator_uploads_plans_that_every_user_can_see(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_client: Client,
    hass_read_only_access_token: str,
) -> None:
    admin, user = await hass_client(), await hass_client(hass_read_only_access_token)
    png = _png()
    answer = await admin.put(_url(entry), data=png, headers={"Content-Type": "image/png"})
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {"file": "floor-0.png", "width": 40.0, "height": 20.0}
    folder = plans_folder(hass, entry.entry_id)
    assert (folder / "floor-0.png").read_bytes() == png
    served = await user.get(_url(entry))
    assert served.status == 200 and served.content_type == "image/png"
    assert await served.read() == png
    assert "sandbox" in served.headers["Content-Security-Policy"]

    answer = await admin.put(_url(entry), data=SVG, headers={"Content-Type": "image/svg+xml"})
    assert await answer.json() == {"file": "floor-0.svg", "width": 400.0, "height": 200.0}
    assert sorted(p.name for p in folder.iterdir()) == ["floor-0.svg"]  # the PNG replaced
    served = await user.get(_url(entry))
    assert served.content_type == "image/svg+xml" and await served.read() == SVG

    assert (await user.delete(_url(entry))).status == 401
    assert (await admin.delete(_url(entry))).status == 200
    assert (await user.get(_url(entry))).status == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"just text", "text/plain", 415, "PNG, JPEG or SVG"),
        (b"\x89PNG\r\n\x1a\nnot really", "image/png", 400, "not a readable PNG"),
        (_png(), "image/jpeg", 400, "not a JPG"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 9 9'><script/></svg>",
            "image/svg+xml",
            400,
            "<script>",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 9 9' onload='x()'/>",
            "image/svg+xml",
            400,
            "event handler",
        ),
        (
            b"<!DOCTYPE svg [<!ENTITY a 'aa'>]><svg xmlns='http://www.w3.org/2000/svg'/>",
            "image/svg+xml",
            400,
            "DOCTYPE",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 9 9'>"
            b"<image href='https://example.com/x.png'/></svg>",
            "image/svg+xml",
            400,
            "outside",
        ),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 400, "viewBox"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 nan 9'/>",
            "image/svg+xml",
            400,
            "viewBox",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg' width='0' height='9'/>",
            "image/svg+xml",
            400,
            "viewBox",
        ),
        (b"<html/>", "image/svg+xml", 400, "not an SVG"),
        (b"<svg", "image/svg+xml", 400, "not a readable SVG"),
        (b"\0" * (MAX_PLAN_BYTES + 1), "image/png", 413, "20 MB"),
    ],
)
async def test_what_is_not_a_plan_is_refused_and_the_stored_plan_kept(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_client: Client,
    body: bytes,
    content_type: str,
    status: int,
    says: str,
) -> None:
    admin = await hass_client()
    png = _png()
    assert (await admin.put(_url(entry), data=png, headers={"Content-Type": "image/png"})).ok
    answer = await admin.put(_url(entry), data=body, headers={"Content-Type": content_type})
    assert answer.status == status
    assert says in (await answer.json())["message"]
    assert await (await admin.get(_url(entry))).read() == png


async def test_plans_need_an_administrator_a_site_and_a_floor(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_client: Client,
    hass_read_only_access_token: str,
) -> None:
    user, admin = await hass_client(hass_read_only_access_token), await hass_client()
    headers = {"Content-Type": "image/png"}
    assert (await user.put(_url(entry), data=_png(), headers=headers)).status == 401
    assert not plans_folder(hass, entry.entry_id).exists()
    for url in ("/api/ble_rtls/no-such-site/plans/0", _url(entry, "x"), _url(entry, "9999")):
        assert (await admin.put(url, data=_png(), headers=headers)).status == 404, url
    assert (await admin.get(_url(entry, 3))).status == 404  # no plan on that floor


async def test_a_plans_scale_and_origin_are_checked_and_its_file_exported(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_client: Client,
    hass_ws_client: WsClient,
) -> None:
    admin = await hass_client()
    assert (await admin.put(_url(entry), data=_png(), headers={"Content-Type": "image/png"})).ok
    ws = await hass_ws_client(hass)
    await ws.send_json_auto_id({"type": "ble_rtls/site/get", "entry_id": entry.entry_id})
    site = (await ws.receive_json())["result"]["site"]
    plan = {"floor": 0, "file": "floor-0.png", "metres_per_pixel": 0.05, "origin": [2, 18]}
    for wrong, says in (
        ({"metres_per_pixel": 0}, "plans[0]: metres_per_pixel"),
        ({"file": "floor-1.png"}, "plans[0]: file"),
        ({"origin": [1]}, "plans[0]: origin"),
        ({"floor": "0"}, "plans[0]: floor"),
    ):
        await ws.send_json_auto_id(
            {
                "type": "ble_rtls/site/update",
                "entry_id": entry.entry_id,
                "site": site | {"plans": [plan | wrong]},
            }
        )
        answer = await ws.receive_json()
        assert answer["error"]["code"] == "invalid_site" and says in answer["error"]["message"]
    await ws.send_json_auto_id(
        {
            "type": "ble_rtls/site/update",
            "entry_id": entry.entry_id,
            "site": site | {"plans": [plan]},
        }
    )
    assert (await ws.receive_json())["success"]
    await hass.async_block_till_done()
    assert entry.options[CONF_SITE]["plans"] == [plan]
    files = await hass.services.async_call(
        DOMAIN, "export_adverts", {}, blocking=True, return_response=True
    )
    exported = files[entry.entry_id] if files else None
    assert isinstance(exported, dict)
    site_file = Path(str(exported["site"]))
    assert (site_file.parent / "plans" / "floor-0.png").read_bytes() == _png()

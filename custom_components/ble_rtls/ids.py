"""The ids one site gives its devices, entities and dispatcher signals, in one place."""

from __future__ import annotations

from .const import DOMAIN


def signal(entry_id: str, kind: str, item_id: str) -> str:
    """Dispatcher signal for one tag, zone or receiver of one site."""
    return f"{DOMAIN}_{entry_id}_{kind}_{item_id}"


def site_loaded_signal(entry_id: str) -> str:
    """Dispatcher signal sent when a site has (re)loaded: its tags may have changed."""
    return signal(entry_id, "site", "loaded")


def device_identifier(entry_id: str, kind: str, item_id: str) -> tuple[str, str]:
    """Device registry identifier: the entry id and the item's stable site id."""
    return (DOMAIN, f"{entry_id}_{kind}_{item_id}")


def unique_id(entry_id: str, kind: str, item_id: str, key: str) -> str:
    """An entity's unique id: the site, the item's stable id and what the entity shows."""
    return f"{entry_id}_{kind}_{item_id}_{key}"


def device_item(entry_id: str, kind: str, identifiers: set[tuple[str, str]]) -> str | None:
    """The tag (or phone) id of a device of this site from its identifiers; None if none."""
    _, prefix = device_identifier(entry_id, kind, "")
    return next(
        (
            value.removeprefix(prefix)
            for domain, value in identifiers
            if domain == DOMAIN and value.startswith(prefix)
        ),
        None,
    )

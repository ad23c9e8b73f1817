"""Tag identities and the stored site document (pure functions, no HA instance)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ble_rtls.engine.engine import Engine
from custom_components.ble_rtls.engine.site import SiteError
from custom_components.ble_rtls.identity import (
    RESOLVED_CACHE_LIMIT,
    IdentityError,
    IdentityResolver,
    ibeacon_id,
    ibeacon_payload,
    identity_of,
    normalize,
)
from custom_components.ble_rtls.site_config import (
    engine_site,
    names,
    tag_identities,
    to_lat_lon,
    validate_document,
)
from tests.mutations import mutated

from .conftest import BEACON, IRK, two_room_site
from .test_tracking import private_address


def test_identities_are_normalised() -> None:
    assert normalize("address", " c0-ff-ee-00-00-01 ").value == "C0:FF:EE:00:00:01"
    assert normalize("ibeacon", BEACON.upper()).value == BEACON
    assert normalize("irk", "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:ab:cd:ef").value == IRK
    with pytest.raises(IdentityError, match="unknown identity kind"):
        normalize("name", "x")
    with pytest.raises(IdentityError, match="exactly one"):
        identity_of({"address": TAG, "irk": IRK})
    with pytest.raises(IdentityError, match="must be text"):
        identity_of({"address": 42})


TAG = "C0:FF:EE:00:00:01"


def test_ibeacon_payload_round_trips_and_others_are_ignored() -> None:
    payload = ibeacon_payload(BEACON)
    assert ibeacon_id({0x004C: payload}) == BEACON
    assert ibeacon_id({0x004C: b"\x12\x19" + payload[2:]}) is None  # Find My, not iBeacon
    assert ibeacon_id({0x0059: payload}) is None


def test_resolver_matches_each_kind_and_bounds_its_cache() -> None:
    resolver = IdentityResolver(
        {
            "a": normalize("address", TAG),
            "b": normalize("ibeacon", BEACON),
            "c": normalize("irk", IRK),
        }
    )
    assert resolver.resolve(TAG, {}) == "a"
    assert resolver.resolve("5A:00:00:00:00:01", {0x004C: ibeacon_payload(BEACON)}) == "b"
    other_beacon = BEACON.replace(":1:7", ":1:8")
    assert resolver.resolve("5A:00:00:00:00:02", {0x004C: ibeacon_payload(other_beacon)}) is None
    mine = private_address(IRK, 7)
    assert resolver.resolve(mine, {}) == "c"
    assert resolver.resolve(mine, {}) == "c"  # from the cache
    for prand in range(RESOLVED_CACHE_LIMIT + 5):
        assert resolver.resolve(private_address("ff" * 16, prand), {}) is None
    assert len(resolver._resolved) <= RESOLVED_CACHE_LIMIT
    assert (
        IdentityResolver({"a": normalize("address", TAG)}).resolve("11:22:33:44:55:66", {}) is None
    )


def test_document_errors_name_the_item() -> None:
    site = two_room_site()
    del site["tags"][1]["ibeacon"]
    with pytest.raises(SiteError, match=r"tags\[1\] \(phone\): identity: needs exactly one"):
        validate_document(site)
    site = two_room_site()
    for anchor, message in (
        ([52, 4], "geo_anchor: must be an object"),
        ({"latitude": 95, "longitude": 4}, "latitude: must be between -90 and 90"),
        ({"latitude": 52, "longitude": "east"}, "longitude: must be a number"),
        ({"latitude": 52, "longitude": 4, "bearing": math.inf}, "bearing: must be between"),
        ({"latitude": 10**400, "longitude": 4}, "latitude: must be between"),
    ):
        with pytest.raises(SiteError, match=message):
            validate_document(site | {"geo_anchor": anchor})
    site = two_room_site()
    site["receivers"][0]["beacon"] = "ee:00:00:00:00:01"
    site["receivers"][2]["beacon"] = "EE:00:00:00:00:01"  # the same address, written otherwise
    with pytest.raises(
        SiteError, match=r"receivers\[2\] \(AA:00:00:00:00:03\): beacon: already used by receiver"
    ):
        validate_document(site)


def test_what_only_home_assistant_reads_is_checked_and_null_is_not_given() -> None:
    site = two_room_site()
    site["receivers"][1]["name"] = True
    with pytest.raises(SiteError, match=r"receivers\[1\] \(AA:00:00:00:00:02\): name: must be a"):
        validate_document(site)
    site = two_room_site()
    site["zones"][0]["area_id"] = ["kitchen"]
    with pytest.raises(SiteError, match=r"zones\[0\] \(left\): area_id: must be a non-empty"):
        validate_document(site)
    site = two_room_site() | {"zones": None, "path_loss": None, "survey": None}
    document = validate_document(site | {"geo_anchor": None})
    assert document["zones"] == [] and not {"path_loss", "survey", "geo_anchor"} & set(document)


def test_site_metres_to_latitude_and_longitude() -> None:
    anchor = {"latitude": 52.0, "longitude": 4.0, "bearing": 0.0}
    latitude, longitude = to_lat_lon(anchor, 0.0, 111.2)
    assert latitude == pytest.approx(52.001, abs=1e-5) and longitude == pytest.approx(4.0)
    latitude, longitude = to_lat_lon(anchor | {"bearing": 90.0}, 0.0, 68.5)
    assert latitude == pytest.approx(52.0, abs=1e-7)
    assert longitude == pytest.approx(4.001, abs=1e-5)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_any_change_to_a_stored_site_is_taken_or_named(data: st.DataObject) -> None:
    """What the integration builds at set-up from a site that passed its checks: the
    engine, the identities and the names of devices; a site that fails says where."""
    good = two_room_site() | {"geo_anchor": {"latitude": 52.0, "longitude": 4.0}}
    good["receivers"][0]["beacon"] = "EE:00:00:00:00:01"
    good["tags"][0]["battery"] = True
    good["survey"] = [
        {"x": 5, "y": 5, "floor": 0, "rssi": {r["id"]: -70 for r in good["receivers"]}}
    ]
    try:
        document = validate_document(mutated(data, good))
    except SiteError as err:
        assert str(err).startswith("SITE.json")
        return
    site = engine_site(document)
    if site.receivers:
        Engine(site)
    IdentityResolver(tag_identities(document))
    for kind in ("receivers", "tags", "zones"):
        assert all(isinstance(name, str) and name for name in names(document, kind).values())
    if document.get("geo_anchor") is not None:  # null is no anchor
        assert all(math.isfinite(v) for v in to_lat_lon(document["geo_anchor"], 10.0, 5.0))

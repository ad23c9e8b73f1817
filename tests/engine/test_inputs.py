"""Bad SITE.json and ADVERTS.csv give one clear error naming file, item and field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.ble_rtls.engine.adverts import (
    Advert,
    AdvertsError,
    parse_adverts,
    read_adverts,
)
from custom_components.ble_rtls.engine.engine import Engine, EngineConfig, RssiFilter
from custom_components.ble_rtls.engine.site import (
    RSSI_RANGE_DBM,
    SiteError,
    load_site,
    parse_site,
)
from tests.mutations import mutated

GOOD: dict[str, Any] = {
    "receivers": [
        {"id": "a", "x": 0, "y": 0, "z": 2.5},
        {"id": "b", "x": 10, "y": 0},
        {"id": "c", "x": 0, "y": 8, "floor": 0, "rssi_offset": -2},
    ],
    "tags": [{"id": "forklift-3", "ref_rssi_1m": -59, "motion": "vehicle"}],
    "zones": [
        {
            "id": "dock",
            "name": "Loading dock",
            "floor": 0,
            "polygon": [[0, 0], [12, 0], [12, 6], [0, 6]],
        }
    ],
    "path_loss": {"exponent": 2.2, "ref_rssi_1m": -59},
    "survey": [{"x": 4, "y": 3, "floor": 0, "rssi": {"a": -70, "b": -75.5, "c": -72}}],
    "unknown_extra_field": True,
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """A copy of GOOD with one field replaced (or removed when value is ...)."""
    document: dict[str, Any] = json.loads(json.dumps(GOOD))
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return document


def test_good_site_parses_with_defaults() -> None:
    site = parse_site(GOOD)
    assert [r.id for r in site.receivers] == ["a", "b", "c"]
    assert site.receivers[1].z == 0.0 and site.receivers[2].rssi_offset == -2.0
    assert site.tag("forklift-3").motion == "vehicle"
    assert site.tag("unknown").ref_rssi_1m is None
    assert not site.zones[0].walls and site.path_loss.wall_loss_db == 4.0
    assert parse_site(_with("zones.0.walls", True)).zones[0].walls
    assert site.zones[0].name == "Loading dock"
    (point,) = site.survey
    assert (point.x, point.y, point.floor, point.height) == (4.0, 3.0, 0, 1.0)
    assert dict(point.rssi) == {"a": -70.0, "b": -75.5, "c": -72.0}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (_with("receivers", ...), "SITE.json: receivers: missing"),
        (_with("receivers.1.id", ...), "receivers[1]: id: missing or empty"),
        (_with("receivers.1.id", "a"), "receivers: id 'a': duplicate id"),
        (_with("receivers.0.x", "3"), "receivers[0] (a): x: must be a number"),
        (_with("receivers.0.y", ...), "receivers[0] (a): y: missing"),
        (_with("receivers.2.floor", 1.5), "receivers[2] (c): floor: must be a whole number"),
        (
            _with("tags.0.ref_rssi_1m", "loud"),
            "tags[0] (forklift-3): ref_rssi_1m: must be a number",
        ),
        (_with("tags.0.motion", "rocket"), "tags[0] (forklift-3): motion: must be one of"),
        (
            _with("zones.0.polygon", [[0, 0], [1, 1]]),
            "zones[0] (dock): polygon: needs at least 3 vertices",
        ),
        (
            _with("zones.0.polygon", [[0, 0], [1, 1], [2, 2]]),
            "zones[0] (dock): polygon: has zero area",
        ),
        (
            _with("zones.0.polygon", [[0, 0], [1, 1], [2, None]]),
            "zones[0] (dock): polygon[2]: y: missing",
        ),
        (_with("zones.0.floor", 3), "zones[0] (dock): floor: unknown floor 3"),
        (_with("path_loss.exponent", 0.2), "path_loss: exponent: must be between 1 and 6"),
        (_with("path_loss.wall_loss_db", -3), "path_loss: wall_loss_db: must be between 0 and 20"),
        (_with("zones.0.walls", "yes"), "zones[0] (dock): walls: must be true or false"),
        (
            _with("receivers.1.y", -1.9e57),
            "receivers[1] (b): y: must be between -1e+07 and 1e+07, got -1.9e+57",
        ),
        (
            _with("zones.0.polygon.2", [12, 1e300]),
            "zones[0] (dock): polygon[2]: y: must be between -1e+07 and 1e+07",
        ),
        (_with("receivers.0.z", 5000), "receivers[0] (a): z: must be between -100 and 1000"),
        (_with("receivers.2.floor", 1000), "receivers[2] (c): floor: must be between -20 and 200"),
        (_with("receivers.2.rssi_offset", 99), "receivers[2] (c): rssi_offset: must be between"),
        (_with("tags.0.ref_rssi_1m", 7e160), "tags[0] (forklift-3): ref_rssi_1m: must be between"),
        (_with("tags.0.height", -1e9), "tags[0] (forklift-3): height: must be between -100"),
        (_with("path_loss.ref_rssi_1m", 50), "path_loss: ref_rssi_1m: must be between -120 and 20"),
        (_with("survey.0.y", 2e7), "survey[0]: y: must be between -1e+07 and 1e+07"),
        (_with("receivers.0.beacon", 7), "receivers[0] (a): beacon: must be a non-empty string"),
        (
            _with("receivers.0.beacon", "forklift-3"),
            "receivers (a): beacon: 'forklift-3' is a tag's id",
        ),
        (
            GOOD | {"receivers": [r | {"beacon": "same"} for r in GOOD["receivers"]]},
            "receivers (b): beacon: 'same' is another's beacon",
        ),
        (_with("survey.0.x", math.nan), "survey[0]: x: must be finite"),
        (_with("receivers.0.x", 10**400), "x: must be finite, got a number of 401 digits"),
        (_with("survey.0.floor", 2), "survey[0]: floor: unknown floor 2"),
        (_with("survey.0.rssi", [-70]), "survey[0]: rssi: must be an object"),
        (_with("survey.0.rssi.z", -70), "survey[0]: rssi: 'z' is not a receiver of the site"),
        (_with("survey.0.rssi.b", "loud"), "survey[0]: rssi: b: must be a number"),
        (_with("survey.0.rssi.b", 40), "survey[0]: rssi: b: must be between -130 and 20, got 40"),
        (
            _with("survey.0.rssi.c", ...),
            "survey[0]: rssi: needs at least 3 receivers on floor 0, got 2",
        ),
        (
            GOOD | {"survey": GOOD["survey"] * 501},
            "SITE.json: survey: at most 500 points, got 501",
        ),
    ],
)
def test_bad_site_names_file_item_and_field(document: dict[str, Any], expected: str) -> None:
    with pytest.raises(SiteError) as caught:
        parse_site(document, "SITE.json")
    assert expected in str(caught.value)


def test_non_finite_coordinate_in_file(tmp_path: Path) -> None:
    path = tmp_path / "SITE.json"
    path.write_text(json.dumps(GOOD).replace('"x": 10', '"x": Infinity'))
    with pytest.raises(SiteError, match=rf"{path}: receivers\[1\] \(b\): x: must be finite"):
        load_site(path)


def test_unreadable_and_corrupt_site_files(tmp_path: Path) -> None:
    with pytest.raises(SiteError, match="cannot read"):
        load_site(tmp_path / "missing.json")
    corrupt = tmp_path / "SITE.json"
    corrupt.write_text('{"receivers": [')
    with pytest.raises(SiteError, match="not valid JSON"):
        load_site(corrupt)


HEADER = "time,receiver,tag,rssi\n"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("1.0,a,t,-70\n0.5,a,t,-70\n", "line 3: time: 0.5 is earlier"),
        ("x,a,t,-70\n", "line 2: time: not a number: 'x'"),
        ("1.0,a,t,nan\n", "line 2: rssi: must be finite"),
        ("1.0,a,t,\n", "line 2: rssi: not a number"),
        ("1.0,,t,-70\n", "line 2: receiver: empty"),
        ("1.0,a,,-70\n", "line 2: tag: empty"),
        ("1.0,a,t,-500\n", "line 2: rssi: -500.0 dBm is not"),
        # What the csv module cannot split at all (it had escaped as csv.Error).
        ("1.0,a,t,-70\n2.0,a," + "t" * 200_000 + ",-70\n", "after line 2: not CSV: field larger"),
    ],
)
def test_bad_advert_rows_name_line_and_field(rows: str, expected: str) -> None:
    with pytest.raises(AdvertsError) as caught:
        list(parse_adverts((HEADER + rows).splitlines(keepends=True), "ADVERTS.csv"))
    assert f"ADVERTS.csv: {expected}" in str(caught.value)


def test_missing_column_and_extra_columns() -> None:
    with pytest.raises(AdvertsError, match="missing column"):
        list(parse_adverts(["time,receiver,rssi\n"]))
    rows = list(parse_adverts(["time,receiver,tag,rssi,channel\n", "1.5,a,t,-70.5,37\n"]))
    assert rows == [Advert(1.5, "a", "t", -70.5)]


def test_unknown_receiver_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "ADVERTS.csv"
    path.write_text(HEADER + "1.0,a,t,-60\n1.1,ghost,t,-60\n1.2,ghost,t,-61\n")
    engine = Engine(parse_site(GOOD))
    accepted = [engine.observe(a) for a in read_adverts(path)]
    assert accepted == [True, False, False]
    assert engine.unknown_receivers == {"ghost": 2}
    (estimate,) = engine.update(1.5)
    assert estimate.method == "proximity" and math.isfinite(estimate.accuracy)


@settings(max_examples=1000, deadline=None)
@given(st.data())
def test_any_change_to_a_good_site_is_taken_or_named(data: st.DataObject) -> None:
    """A value replaced, removed or repeated anywhere: the site loads, and an engine runs on
    it, or the one SiteError says which file, item and field; never another exception."""
    document = mutated(data, GOOD)
    try:
        site = parse_site(document)
    except SiteError as err:
        assert str(err).startswith("SITE.json")
        return
    engine = Engine(site)
    tag = site.tags[0].id if site.tags else "pallet"
    for second in range(3):
        for number, receiver in enumerate(site.receivers):
            engine.observe(Advert(second + number / 10, receiver.id, tag, -60.0 - number))
    assert all(math.isfinite(e.x) and math.isfinite(e.y) for e in engine.update(3.0))


def test_a_site_far_from_its_origin_locates_as_near_it() -> None:
    """The origin may be anywhere (replay-format.md): a site in a national grid's metres is
    located as the same site at 0, 0, but for the grid's single-precision rounding."""
    east, north = 155_000.0, 463_000.0
    far: dict[str, Any] = json.loads(json.dumps(GOOD))
    for receiver in far["receivers"]:
        receiver["x"] += east
        receiver["y"] += north
    for zone in far["zones"]:
        zone["polygon"] = [[x + east, y + north] for x, y in zone["polygon"]]
    for point in far["survey"]:
        point["x"] += east
        point["y"] += north
    estimates = {}
    for name, document in (("near", GOOD), ("far", far)):
        engine = Engine(parse_site(document))
        adverts = [
            Advert(second + number / 10, receiver, "forklift-3", rssi)
            for second in range(5)
            for number, (receiver, rssi) in enumerate((("a", -62.0), ("b", -70.0), ("c", -66.0)))
        ]
        for advert in adverts:
            engine.observe(advert)
        (estimates[name],) = engine.update(5.0)
    near, far_estimate = estimates["near"], estimates["far"]
    assert far_estimate.x - east == pytest.approx(near.x, abs=0.1)
    assert far_estimate.y - north == pytest.approx(near.y, abs=0.1)
    assert far_estimate.zone == near.zone == "dock"


CELLS = (
    st.text(max_size=6)
    | st.floats().map(str)
    | st.integers().map(str)
    | st.text(alphabet='\x00",\n\r', max_size=3)
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(CELLS, max_size=6), max_size=6), st.booleans())
def test_any_adverts_text_is_read_or_named(rows: list[list[str]], header: bool) -> None:
    """Whatever the text, ADVERTS.csv gives adverts with finite numbers or one AdvertsError."""
    text = (HEADER if header else "") + "\n".join(",".join(row) for row in rows)
    try:
        adverts = list(parse_adverts(text.splitlines(keepends=True), "ADVERTS.csv"))
    except AdvertsError as err:
        assert str(err).startswith("ADVERTS.csv: ")
        return
    low, high = RSSI_RANGE_DBM
    assert all(math.isfinite(a.time) and low <= a.rssi <= high for a in adverts)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 3),
            st.sampled_from(["a", "b", "c", "ghost"]),
            st.sampled_from(["forklift-3", "pallet", "a"]),
            st.floats(-130, 20),
        ),
        max_size=60,
    ),
    st.sampled_from(["trimmed", "kalman"]),
)
def test_any_adverts_give_finite_estimates(
    adverts: list[tuple[float, str, str, float]], rssi_filter: RssiFilter
) -> None:
    """Any receivers, tags (a receiver's own id among them), gaps and strengths in time
    order: every estimate is a finite place with a finite accuracy."""
    engine = Engine(parse_site(GOOD), EngineConfig(rssi_filter=rssi_filter))
    now = 0.0
    for gap, receiver, tag, rssi in adverts:
        now += gap
        engine.observe(Advert(now, receiver, tag, rssi))
        for estimate in engine.update(now):
            assert all(math.isfinite(v) for v in (estimate.x, estimate.y, estimate.accuracy))


@pytest.mark.parametrize(
    ("first_heard", "first_fix"),
    [(0.1, 0.6), (0.7, 1.0)],  # half a second of adverts, or the next beat if sooner
)
def test_a_new_tags_first_fix_waits_for_the_receivers_it_is_heard_by(
    first_heard: float, first_fix: float
) -> None:
    engine = Engine(parse_site(GOOD))
    heard = [(first_heard, "a"), (first_heard + 0.01, "b"), (first_heard + 0.02, "c")]
    fixes = []
    for time, receiver in heard:
        engine.observe(Advert(time, receiver, "t", -70.0))
        fixes += engine.update(time)
    assert fixes == []  # one or two packets in, it is not yet placed
    assert engine.update(first_fix - 0.01) == []
    (estimate,) = engine.update(first_fix)
    assert estimate.receivers == 3 and estimate.method == "multilateration"
    beat = math.floor(first_fix) + 1.0  # then on the common beat
    assert engine.update(beat - 0.05) == []
    assert len(engine.update(beat)) == 1

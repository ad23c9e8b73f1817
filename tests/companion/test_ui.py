"""The app's screens, rendered offscreen: pairing errors, countdown and cancel, the queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ble_rtls_companion.companion import Companion, Status
from ble_rtls_companion.location import NoLocationSource
from ble_rtls_companion.outbox import Counts
from ble_rtls_companion.pairing import save_pairing
from ble_rtls_companion.sender import SenderStatus
from ble_rtls_companion.ui import CompanionUI, describe_alarm, describe_timer

from .conftest import UNREACHABLE, FakeClock, frames


def _paired(companion: Companion) -> Companion:
    save_pairing(companion.data_dir / "pairing.json", UNREACHABLE)
    return Companion(companion.data_dir, companion.location)


def test_unpaired_app_opens_on_pairing_and_explains_bad_codes(
    companion: Companion, make_ui: Callable[[Companion], CompanionUI]
) -> None:
    ui = make_ui(companion)
    assert ui.current == "pairing"
    screen = ui.get_screen("pairing")
    for text, expected in (
        ("", "not a pairing code"),
        ('{"v": 1, "url": "http://x", "webhook_id": "w", "name": "n"}', "no secret"),
        ('{"v": 7}', "not supported"),
    ):
        screen.ids.payload.text = text
        screen.ids.pair_button.dispatch("on_release")
        frames()
        assert expected in screen.ids.message.text
        assert ui.current == "pairing"
        assert not screen.ids.pair_button.disabled
    screen.ids.payload.text = (
        '{"v":1,"url":"http://127.0.0.1:9","webhook_id":"w","secret":"' + "s" * 43 + '","name":"n"}'
    )
    screen.ids.pair_button.dispatch("on_release")
    frames()
    assert "Cannot reach http://127.0.0.1:9" in screen.ids.message.text
    assert companion.pairing is None


def test_countdown_sends_only_when_not_cancelled(
    companion: Companion, make_ui: Callable[[Companion], CompanionUI], clock: FakeClock
) -> None:
    app = _paired(companion)
    ui = make_ui(app)
    home = ui.get_screen("home")
    countdown = ui.get_screen("countdown")
    assert ui.current == "home"

    home.ids.panic.dispatch("on_release")
    frames()
    assert ui.current == "countdown"
    assert countdown.ids.seconds.text == "3"
    clock.now += 1.2
    frames()
    assert countdown.ids.seconds.text == "2"
    countdown.ids.cancel.dispatch("on_release")
    clock.now += 5
    frames()
    assert ui.current == "home"
    assert app.outbox.counts().alarms == 0  # a pocket press sends nothing

    home.ids.panic.dispatch("on_release")
    clock.now += 2.5
    frames()
    assert ui.current == "countdown" and countdown.ids.seconds.text == "1"
    clock.now += 0.6
    frames()
    assert ui.current == "home"
    assert ui.countdown_ended == clock.now
    assert app.outbox.counts().alarms == 1
    assert "NOT YET DELIVERED" in home.ids.alarm.text
    assert not home.ids.cancel_alarm.disabled
    app.close()


def test_home_shows_queue_and_link_and_cancel(
    companion: Companion, make_ui: Callable[[Companion], CompanionUI]
) -> None:
    app = _paired(companion)
    app.set_sharing(True, interval=10.0)
    app.start()  # the server is unreachable: everything stays queued
    ui = make_ui(app)
    home = ui.get_screen("home")
    app.raise_panic()
    app.check_in()
    deadline = time.monotonic() + 10
    while app.status().link.reachable is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    frames()
    home.refresh()
    assert home.ids.queue.text.startswith("Waiting to send: 3, 1 alarm")  # location too
    assert "Cannot reach Home Assistant" in home.ids.link.text
    assert "Paired as Test phone" in home.ids.paired.text
    assert home.ids.interval.text == "10 s"
    home.ids.cancel_alarm.dispatch("on_release")
    assert app.outbox.counts().alarms == 2  # the cancel is queued behind the panic
    assert home.ids.cancel_alarm.disabled
    home.ids.sharing.active = False
    frames()
    assert not app.status().sharing
    home.ids.interval.text = "5 min"
    assert app.interval == 300.0
    app.close()


def test_a_damaged_outbox_is_kept_aside(tmp_path: Path) -> None:
    folder = tmp_path / "phone"
    folder.mkdir()
    (folder / "outbox.sqlite3").write_bytes(b"this is not a database" * 100)
    app = Companion(folder, NoLocationSource())
    assert app.outbox.recovered_from is not None
    assert app.outbox.recovered_from.read_bytes().startswith(b"this is not")
    app.raise_panic()
    assert app.outbox.counts().alarms == 1
    app.close()


def test_an_unpaired_app_queues_no_locations(companion: Companion) -> None:
    companion.start()  # the fixed source delivers a fix at once
    assert companion.status().last_fix is not None
    assert companion.outbox.counts().queued == 0


def test_the_alarm_and_timer_lines_say_what_help_knows() -> None:
    """Each answer Home Assistant can give, as the person reads it."""
    quiet = Status(
        paired_as="p",
        server="s",
        sharing=True,
        interval=60.0,
        last_fix=None,
        link=SenderStatus(),
        queue=Counts(0, 0, 0),
        active_panic=None,
        check_in_by=None,
    )
    missed = {"id": "timer-t", "reason": "missed_check_in", "by": None}
    due = time.mktime((2026, 12, 7, 21, 40, 0, 0, 0, -1))
    lines = [
        (quiet, "No alarm", "No check-in timer"),
        (
            replace(quiet, active_panic="a", queue=Counts(1, 1, 0)),
            "ALARM NOT YET DELIVERED: retrying",
            "No check-in timer",
        ),
        (
            replace(
                quiet,
                active_panic="a",
                link=SenderStatus(panic={"id": "a", "state": "acknowledged", "by": "Dad"}),
            ),
            "Alarm seen by Dad: help knows",
            "No check-in timer",
        ),
        (
            replace(quiet, check_in_by=due),
            "No alarm",
            "Check in by 21:40 (not yet received by Home Assistant)",
        ),
        (
            replace(
                quiet,
                check_in_by=due,
                link=SenderStatus(
                    panic=missed | {"state": "active"},
                    timer={"id": "t", "state": "expired", "deadline": due},
                ),
            ),
            "MISSED CHECK-IN: alarm raised. Press I'm safe if you are",
            "Check-in time passed: Home Assistant raised the alarm",
        ),
        (
            replace(
                quiet,
                check_in_by=due,
                link=SenderStatus(panic=missed | {"state": "acknowledged", "by": "Dad"}),
            ),
            "Missed check-in seen by Dad: help knows",
            "Check in by 21:40 (not yet received by Home Assistant)",
        ),
    ]
    for status, alarm, timer in lines:
        assert (describe_alarm(status), describe_timer(status)) == (alarm, timer)

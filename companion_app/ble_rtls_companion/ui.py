"""The Kivy screens: pairing, home (sharing, link, queue, alarm) and the panic countdown.

Screens only call `Companion` and show its `status()`; network work runs off the UI
thread and comes back through Kivy's Clock.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Final

from kivy.app import App
from kivy.clock import Clock
from kivy.lang import Builder
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.utils import platform

from .companion import INTERVALS, TIMER_MINUTES, Companion, Status
from .location import LocationSource, PlyerLocationSource, desktop_source
from .pairing import PairingError
from .sender import ConnectionCheckError

COUNTDOWN: Final = 3.0
RED: Final = (0.86, 0.15, 0.15, 1)
GREEN: Final = (0.2, 0.7, 0.35, 1)
GREY: Final = (0.6, 0.6, 0.6, 1)

type Runner = Callable[[Callable[[], None]], None]

KV = """
<Title@Label>:
    font_size: "22sp"
    bold: True
    size_hint_y: None
    height: "48dp"
<InfoLine@Label>:
    font_size: "16sp"
    halign: "left"
    valign: "middle"
    text_size: self.width, None
    size_hint_y: None
    height: "30dp"
<Action@Button>:
    font_size: "18sp"
    size_hint_y: None
    height: "56dp"

<CompanionUI>:
    canvas.before:
        Color:
            rgba: 0.11, 0.12, 0.14, 1
        Rectangle:
            pos: self.pos
            size: self.size

<PairingScreen>:
    BoxLayout:
        orientation: "vertical"
        padding: "16dp"
        spacing: "10dp"
        Title:
            text: "Pair with Home Assistant"
        Label:
            text: root.instructions
            text_size: self.width, None
            size_hint_y: None
            height: "72dp"
        TextInput:
            id: payload
            hint_text: "Pairing code"
            multiline: True
        BoxLayout:
            size_hint_y: None
            height: "56dp"
            spacing: "10dp"
            Action:
                text: "Paste"
                on_release: root.paste()
            Action:
                id: pair_button
                text: "Pair"
                on_release: root.pair()
        Label:
            id: message
            text: root.message
            color: root.message_color
            text_size: self.width, None
            size_hint_y: None
            height: "72dp"

<HomeScreen>:
    BoxLayout:
        orientation: "vertical"
        padding: "16dp"
        spacing: "6dp"
        Title:
            text: "BLE RTLS Companion"
        InfoLine:
            id: paired
        InfoLine:
            id: link
        BoxLayout:
            size_hint_y: None
            height: "40dp"
            Label:
                text: "Share my location"
                halign: "left"
                text_size: self.size
                valign: "middle"
            Switch:
                id: sharing
                size_hint_x: 0.3
                on_active: root.set_sharing(self.active)
            Spinner:
                id: interval
                size_hint_x: 0.4
                values: root.interval_names
                on_text: root.set_interval(self.text)
        InfoLine:
            id: last_location
        InfoLine:
            id: queue
        InfoLine:
            id: alarm
            bold: True
        Button:
            id: panic
            text: "PANIC"
            font_size: "44sp"
            bold: True
            background_normal: ""
            background_color: 0.86, 0.15, 0.15, 1
            on_release: root.press_panic()
        BoxLayout:
            size_hint_y: None
            height: "56dp"
            spacing: "10dp"
            Action:
                id: cancel_alarm
                text: "Cancel alarm"
                on_release: root.cancel_alarm()
            Action:
                id: safe
                text: "I'm safe"
                on_release: root.check_in()
        InfoLine:
            id: timer
        BoxLayout:
            size_hint_y: None
            height: "44dp"
            spacing: "10dp"
            Label:
                text: "Expect me within"
                halign: "left"
                text_size: self.size
                valign: "middle"
            Spinner:
                id: timer_minutes
                size_hint_x: 0.4
                text: root.timer_names[1]
                values: root.timer_names
            Action:
                id: start_timer
                size_hint_x: 0.5
                text: "Start"
                on_release: root.start_timer(timer_minutes.text)
        Button:
            text: "Pair again"
            size_hint_y: None
            height: "36dp"
            on_release: root.manager.current = "pairing"

<CountdownScreen>:
    canvas.before:
        Color:
            rgba: 0.86, 0.15, 0.15, 1
        Rectangle:
            pos: self.pos
            size: self.size
    BoxLayout:
        orientation: "vertical"
        padding: "24dp"
        Label:
            text: "Sending alarm in"
            font_size: "24sp"
            size_hint_y: 0.2
        Label:
            id: seconds
            text: "%d" % root.seconds_left
            font_size: "140sp"
            bold: True
        Button:
            id: cancel
            text: "CANCEL"
            font_size: "32sp"
            size_hint_y: 0.3
            on_release: root.cancel()
"""


Builder.load_string(KV, filename="ble_rtls_companion.kv")


# The app's data folder on a desktop, and where versions before 0.7 kept it.
FOLDER = "ble-rtls-companion"
OLD_FOLDER = "companion"


def in_thread(work: Callable[[], None]) -> None:
    """Run network work off the UI thread."""
    threading.Thread(target=work, daemon=True).start()


def interval_name(seconds: float) -> str:
    """10 s, 30 s, 1 min, 5 min."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


def timer_name(minutes: int) -> str:
    """20 min, 2 h."""
    return f"{minutes} min" if minutes < 60 else f"{minutes / 60:g} h"


def describe_alarm(status: Status) -> str:
    """The alarm line: what the person needs to know about help."""
    panic = status.link.panic
    by = f" by {panic['by']}" if panic and panic.get("by") else ""
    if status.active_panic is not None and status.queue.alarms:
        return "ALARM NOT YET DELIVERED: retrying"
    if panic and panic.get("reason") == "missed_check_in" and (line := _missed(status, by)):
        return line
    if status.active_panic is not None and panic and panic["id"] == status.active_panic:
        if panic["state"] == "acknowledged":
            return f"Alarm seen{by}: help knows"
        return "ALARM DELIVERED: waiting for someone to respond"
    if panic and panic["state"] == "acknowledged":
        return f"Last alarm was acknowledged{by}"
    return "No alarm"


def _missed(status: Status, by: str) -> str | None:
    """The alarm line while Home Assistant holds an alarm raised by a missed check-in."""
    state = (status.link.panic or {}).get("state")
    if state == "active":
        return "MISSED CHECK-IN: alarm raised. Press I'm safe if you are"
    if state == "acknowledged" and status.check_in_by is not None:
        return f"Missed check-in seen{by}: help knows"
    return None


def describe_timer(status: Status) -> str:
    """The timer line: when the person must check in, as Home Assistant knows it."""
    timer = status.link.timer
    if timer and timer["state"] == "expired" and status.check_in_by is not None:
        return "Check-in time passed: Home Assistant raised the alarm"
    if status.check_in_by is None:
        return "No check-in timer"
    due = time.strftime("%H:%M", time.localtime(status.check_in_by))
    known = timer is not None and timer["state"] == "running"
    return f"Check in by {due}" + ("" if known else " (not yet received by Home Assistant)")


class CompanionScreen(Screen):
    """A screen that reaches the app's Companion through its manager."""

    @property
    def companion(self) -> Companion:
        """The app's core."""
        manager: CompanionUI = self.manager
        return manager.companion


class PairingScreen(CompanionScreen):
    """Paste (or scan into the clipboard) the payload, check it and the server, save."""

    message = StringProperty("")
    message_color: tuple[float, ...] = (1, 1, 1, 1)
    instructions = (
        "In Home Assistant: Settings > BLE RTLS > Configure > Companion phones. "
        "Scan the code, or copy its text and paste it here."
    )

    def paste(self) -> None:
        """Fill the field from the clipboard (a phone's camera app copies scanned codes)."""
        from kivy.core.clipboard import Clipboard  # noqa: PLC0415  # probes the OS on first use

        self.ids.payload.text = Clipboard.paste() or ""

    def pair(self) -> None:
        """Validate and test the connection in the background; report in the message line."""
        text = self.ids.payload.text
        self.ids.pair_button.disabled = True
        self._show("Checking the code and the connection...", GREY)
        manager: CompanionUI = self.manager

        def work() -> None:
            try:
                name = self.companion.pair(text)
            except (PairingError, ConnectionCheckError) as err:
                reason = str(err)
                Clock.schedule_once(lambda _dt: self._failed(reason))
            else:
                Clock.schedule_once(lambda _dt: self._paired(name))

        manager.run(work)

    def _failed(self, reason: str) -> None:
        self.ids.pair_button.disabled = False
        self._show(reason, RED)

    def _paired(self, name: str) -> None:
        self.ids.pair_button.disabled = False
        self._show(f"Paired as {name}", GREEN)
        self.companion.start()
        self.manager.current = "home"

    def _show(self, text: str, color: tuple[float, ...]) -> None:
        self.message_color = color
        self.ids.message.color = color
        self.message = text


class HomeScreen(CompanionScreen):
    """Sharing, link, queue and alarm state; the panic, cancel and check-in buttons."""

    interval_names: ClassVar[list[str]] = [interval_name(seconds) for seconds in INTERVALS]
    timer_names: ClassVar[list[str]] = [timer_name(minutes) for minutes in TIMER_MINUTES]

    def on_pre_enter(self, *_args: Any) -> None:
        """Show the current settings before the screen appears."""
        status = self.companion.status()
        self.ids.sharing.active = status.sharing
        self.ids.interval.text = interval_name(status.interval)
        self.refresh()

    def refresh(self, *_args: Any) -> None:
        """Redraw every line from the companion's status."""
        status = self.companion.status()
        ids = self.ids
        ids.paired.text = f"Paired as {status.paired_as} with {status.server}"
        link = status.link
        if link.reachable is None:
            ids.link.text, ids.link.color = "Home Assistant: not contacted yet", GREY
        elif link.last_error:
            ids.link.text, ids.link.color = f"Home Assistant: {link.last_error}", RED
        else:
            ids.link.text, ids.link.color = "Home Assistant: reachable", GREEN
        sent = link.last_location_time
        ids.last_location.text = "Last location sent: " + (
            time.strftime("%H:%M:%S", time.localtime(sent)) if sent else "none yet"
        )
        fix = status.last_fix
        if fix is None:
            ids.last_location.text += " (no GPS fix)"
        elif sent:
            ids.last_location.text += f" ({fix.lat:.5f}, {fix.lon:.5f} ±{fix.accuracy:.0f} m)"
        queue = status.queue
        ids.queue.text = f"Waiting to send: {queue.queued}" + (
            f", {queue.alarms} alarm" if queue.alarms else ""
        )
        if queue.rejected:
            ids.queue.text += f", {queue.rejected} refused by the server"
        ids.alarm.text = describe_alarm(status)
        ids.timer.text = describe_timer(status)
        ids.alarm.color = RED if status.active_panic else (1, 1, 1, 1)
        ids.cancel_alarm.disabled = status.active_panic is None

    def set_sharing(self, active: bool) -> None:
        """The switch."""
        if active != self.companion.status().sharing:
            self.companion.set_sharing(active)

    def set_interval(self, name: str) -> None:
        """The interval spinner."""
        seconds = {interval_name(s): s for s in INTERVALS}.get(name)
        if seconds is not None and seconds != self.companion.interval:
            self.companion.set_sharing(self.companion.status().sharing, seconds)

    def press_panic(self) -> None:
        """Start the countdown; the alarm goes only if it is not cancelled."""
        countdown: CountdownScreen = self.manager.get_screen("countdown")
        countdown.begin()
        self.manager.current = "countdown"

    def cancel_alarm(self) -> None:
        """Cancel the alarm already sent (or queued)."""
        self.companion.cancel_panic()
        self.refresh()

    def check_in(self) -> None:
        """I'm safe (it also ends a check-in timer)."""
        self.companion.check_in()
        self.refresh()

    def start_timer(self, name: str) -> None:
        """Expect me within the chosen time."""
        minutes = {timer_name(m): m for m in TIMER_MINUTES}.get(name)
        if minutes is not None:
            self.companion.start_timer(minutes)
        self.refresh()


class CountdownScreen(CompanionScreen):
    """Three seconds to cancel an accidental press; then the alarm is stored and sent."""

    seconds_left = NumericProperty(COUNTDOWN)

    def begin(self) -> None:
        """Start counting down from now."""
        manager: CompanionUI = self.manager
        self._deadline = manager.clock() + COUNTDOWN
        self.seconds_left = math.ceil(COUNTDOWN)
        self._event = Clock.schedule_interval(self._tick, 0)

    def _tick(self, _dt: float) -> None:
        manager: CompanionUI = self.manager
        remaining = self._deadline - manager.clock()
        if remaining > 0:
            self.seconds_left = math.ceil(remaining)
            return
        self._event.cancel()
        manager.countdown_ended = manager.clock()
        self.companion.raise_panic()
        manager.current = "home"

    def cancel(self) -> None:
        """Nothing is sent."""
        self._event.cancel()
        self.manager.current = "home"


class CompanionUI(ScreenManager):
    """The screens, the companion they show, and how they run background work."""

    def __init__(
        self,
        companion: Companion,
        run: Runner = in_thread,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(transition=NoTransition(), **kwargs)
        self.companion = companion
        self.run = run
        self.clock = clock
        self.countdown_ended: float | None = None
        for screen in (
            PairingScreen(name="pairing"),
            HomeScreen(name="home"),
            CountdownScreen(name="countdown"),
        ):
            self.add_widget(screen)
        self.current = "home" if companion.pairing is not None else "pairing"
        self._refresh = Clock.schedule_interval(self._refresh_home, 0.5)

    def _refresh_home(self, _dt: float) -> None:
        if self.current == "home":
            home: HomeScreen = self.get_screen("home")
            home.refresh()

    def close(self) -> None:
        """Stop refreshing the home screen."""
        self._refresh.cancel()


def data_dir(default: str) -> Path:
    """One folder for the app and its Android service (p4a sets ANDROID_PRIVATE in both).

    On a desktop it is named after the app; what an earlier version kept in a folder named
    `companion` beside it is moved there once.
    """
    if private := os.environ.get("ANDROID_PRIVATE"):
        return Path(private)
    folder = Path(default)
    old = folder.with_name(OLD_FOLDER)
    if old != folder and (old / "pairing.json").exists() and not (folder / "pairing.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for item in old.iterdir():
            item.replace(folder / item.name)
        old.rmdir()
    return folder


def start_android_service() -> None:
    """Ask for location permission; start the service that keeps sending in the background."""
    from android.permissions import Permission, request_permissions  # noqa: PLC0415
    from jnius import autoclass  # noqa: PLC0415

    request_permissions(
        [
            Permission.ACCESS_FINE_LOCATION,
            Permission.ACCESS_COARSE_LOCATION,
            Permission.POST_NOTIFICATIONS,
        ]
    )
    activity = autoclass("org.kivy.android.PythonActivity").mActivity
    autoclass("org.blertls.companion.ServiceSender").start(activity, "")


class CompanionApp(App):
    """The app on a phone or desktop: data in the app's own folder, GPS where there is one."""

    title = "BLE RTLS Companion"

    @property
    def name(self) -> str:
        """The desktop data folder's name (Kivy's own, from the class name, is `companion`)."""
        return FOLDER

    def build(self) -> CompanionUI:
        """Open the outbox, start sending and sharing, show pairing or home."""
        if platform in ("android", "ios"):
            source: LocationSource = PlyerLocationSource(interval_s=10.0)
        else:
            source = desktop_source(os.environ.get("BLE_RTLS_POSITION"))
        if platform == "android":
            start_android_service()
        self.companion = Companion(data_dir(self.user_data_dir), source)
        self.companion.start()
        return CompanionUI(self.companion)

    def on_pause(self) -> bool:
        """Keep running in the background (Android): alarms must still go out."""
        return True

    def on_stop(self) -> None:
        """Queued messages stay in the outbox for the next start."""
        self.companion.close()

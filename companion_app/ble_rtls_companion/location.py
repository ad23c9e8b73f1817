"""Where the phone is: an interface, plyer's GPS on Android and iOS, a fixed desktop source."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Fix:
    """One GPS fix; accuracy is a radius in metres, time is the epoch seconds it was taken."""

    lat: float
    lon: float
    accuracy: float
    time: float
    altitude: float | None = None
    speed: float | None = None

    def as_location(self, battery: float | None) -> dict[str, float]:
        """The location fields of a message."""
        fields = {"lat": self.lat, "lon": self.lon, "accuracy": self.accuracy}
        optional = {"altitude": self.altitude, "speed": self.speed, "battery": battery}
        return fields | {key: value for key, value in optional.items() if value is not None}


type FixCallback = Callable[[Fix], None]


class LocationSource(Protocol):
    """Delivers fixes to a callback while started."""

    def start(self, on_fix: FixCallback) -> None:
        """Begin delivering fixes."""

    def stop(self) -> None:
        """Stop delivering fixes."""

    def battery(self) -> float | None:
        """Battery percentage, when the platform tells."""


class FixedLocationSource:
    """Desktop use and tests: a fixed position, delivered whenever `emit` is called."""

    def __init__(self, lat: float, lon: float, accuracy: float = 25.0) -> None:
        self.position = (lat, lon, accuracy)
        self._on_fix: FixCallback | None = None

    def start(self, on_fix: FixCallback) -> None:
        """Deliver the position now and on every `emit`."""
        self._on_fix = on_fix
        self.emit()

    def stop(self) -> None:
        """No more fixes."""
        self._on_fix = None

    def emit(self) -> None:
        """Deliver the position as a fix taken now."""
        if self._on_fix is not None:
            lat, lon, accuracy = self.position
            self._on_fix(Fix(lat, lon, accuracy, time.time()))

    def battery(self) -> float | None:
        """Desktops do not report a battery here."""
        return None


class NoLocationSource:
    """A desktop without a configured position: the app runs, panics carry no location."""

    def start(self, on_fix: FixCallback) -> None:
        """Nothing to deliver."""

    def stop(self) -> None:
        """Nothing to stop."""

    def battery(self) -> float | None:
        """Unknown."""
        return None


def desktop_source(position: str | None) -> LocationSource:
    """'lat,lon[,accuracy]' (from BLE_RTLS_POSITION) as a fixed source, else none."""
    if not position:
        return NoLocationSource()
    values = [float(part) for part in position.split(",")]
    if len(values) not in (2, 3):
        raise ValueError(f"position {position!r} is not lat,lon[,accuracy]")
    return FixedLocationSource(*values)


class PlyerLocationSource:
    """The phone's GPS through plyer (Android and iOS only; needs the location permission)."""

    def __init__(self, interval_s: float) -> None:
        from plyer import battery, gps  # noqa: PLC0415  # only on the phone

        self._gps: Any = gps
        self._battery: Any = battery
        self._interval_ms = int(interval_s * 1000)
        self._on_fix: FixCallback | None = None

    def start(self, on_fix: FixCallback) -> None:
        """Ask the OS for fixes every interval (or 10 m moved)."""
        self._on_fix = on_fix
        self._gps.configure(on_location=self._location)
        self._gps.start(minTime=self._interval_ms, minDistance=10)

    def stop(self) -> None:
        """Release the GPS."""
        self._gps.stop()
        self._on_fix = None

    def _location(self, **values: Any) -> None:
        if self._on_fix is not None:
            self._on_fix(
                Fix(
                    lat=float(values["lat"]),
                    lon=float(values["lon"]),
                    accuracy=float(values.get("accuracy", 50.0)),
                    time=time.time(),
                    altitude=values.get("altitude"),
                    speed=values.get("speed"),
                )
            )

    def battery(self) -> float | None:
        """Plyer's battery percentage."""
        percentage = self._battery.status.get("percentage")
        return None if percentage is None else float(percentage)

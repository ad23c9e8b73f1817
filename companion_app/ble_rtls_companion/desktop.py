"""Running the app on a desktop: a clear word instead of Kivy's tracebacks without a display."""

from __future__ import annotations

import sys
from collections.abc import Mapping

NO_DISPLAY = (
    "The companion app needs a screen: no X11 or Wayland display was found (DISPLAY and "
    "WAYLAND_DISPLAY are empty). Run it on a desktop, over `ssh -X`, or under a virtual "
    "display: xvfb-run -a python companion_app/main.py"
)


def missing_display(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why the app cannot show a window here, or None when it can (Android, macOS, Windows)."""
    if not platform.startswith("linux") or "ANDROID_ARGUMENT" in environ:
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return NO_DISPLAY

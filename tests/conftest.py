"""Settings every test process needs before anything imports Kivy."""

from __future__ import annotations

import os
import tempfile

# Kivy renders offscreen (SDL2 with no DISPLAY), reads no command line, logs through
# Python's logging without touching its handlers, and keeps its config out of $HOME.
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))

"""Starts the companion app: buildozer's entry point on Android, `python main.py` on a desktop."""

import os
import sys

from ble_rtls_companion.desktop import missing_display

if __name__ == "__main__":
    problem = missing_display(os.environ)
    if problem is not None:
        sys.exit(problem)
    from ble_rtls_companion.ui import CompanionApp  # Kivy opens its window on import

    CompanionApp().run()

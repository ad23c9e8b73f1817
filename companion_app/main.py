"""Starts the companion app: buildozer's entry point on Android, `python main.py` on a desktop."""

from ble_rtls_companion.ui import CompanionApp

if __name__ == "__main__":
    CompanionApp().run()

"""Android foreground service: location sharing and sending go on in the background.

Declared in buildozer.spec (`services = Sender:service.py`), started by the app.
The app and this service share the outbox; the server de-duplicates by message id, so
both sending the same queued message is harmless.
"""

import os
import threading
from pathlib import Path

from ble_rtls_companion.companion import Companion
from ble_rtls_companion.location import PlyerLocationSource


def main() -> None:
    """Run until Android stops the service."""
    companion = Companion(Path(os.environ["ANDROID_PRIVATE"]), PlyerLocationSource(10.0))
    companion.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()

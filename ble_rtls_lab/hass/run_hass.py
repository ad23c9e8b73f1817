"""Start Home Assistant with the demo's custom component importable.

Home Assistant mounts its config folder's custom_components only while it scans it; with
this repository on the import path (editable install) that scan finds the repository's
custom_components instead. Putting demo/ on the path for good makes both packages one
namespace: ble_rtls from the repository, ble_rtls_demo from demo/.
"""

from __future__ import annotations

import sys
from pathlib import Path

from homeassistant.__main__ import main

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "demo"))
    sys.exit(main())

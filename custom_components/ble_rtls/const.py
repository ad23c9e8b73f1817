"""Constants shared by the integration's modules."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "ble_rtls"

CONF_SITE: Final = "site"
CONF_SETTINGS: Final = "settings"
CONF_PHONES: Final = "phones"

# Settings (options flow "settings" step); the defaults are what the benchmark uses.
CONF_RSSI_FILTER: Final = "rssi_filter"
CONF_WINDOW: Final = "window"
CONF_LOCATE_INTERVAL: Final = "locate_interval"
CONF_SELF_CALIBRATE: Final = "self_calibrate"
CONF_ZONE_MARGIN: Final = "zone_margin"
CONF_ZONE_DWELL: Final = "zone_dwell"
CONF_PUBLISH_INTERVAL: Final = "publish_interval"
CONF_MISSING_AFTER: Final = "missing_after"
CONF_RECEIVER_SILENT_AFTER: Final = "receiver_silent_after"

DEFAULT_SETTINGS: Final[dict[str, str | float | bool]] = {
    CONF_RSSI_FILTER: "trimmed",
    CONF_WINDOW: 3.0,
    CONF_LOCATE_INTERVAL: 1.0,
    CONF_SELF_CALIBRATE: True,
    CONF_ZONE_MARGIN: 0.5,
    CONF_ZONE_DWELL: 0.0,
    CONF_PUBLISH_INTERVAL: 5.0,
    CONF_MISSING_AFTER: 120.0,
    CONF_RECEIVER_SILENT_AFTER: 300.0,
}

# How often adverts are read from the scanners and the engine is asked for estimates.
TICK_INTERVAL: Final = timedelta(seconds=1)
# A published position (or accuracy) changes within the publish interval when it moved at
# least PUBLISH_MIN_MOVE and PUBLISH_MOVE_SHARE of the published accuracy, by
# PUBLISH_MIN_MOVE alone once a minute: a standing tag's estimate wanders inside its error
# circle, and every write is a recorder row. A walking tag leaves that within one interval.
PUBLISH_MIN_MOVE: Final = 1.0
PUBLISH_MOVE_SHARE: Final = 2.0
# Work between two yields to the event loop: tags located, and look-ups of a tracked
# address in a receiver's scanner, so a large site never holds Home Assistant for long.
LOCATE_BATCH: Final = 15
INGEST_BATCH: Final = 2000
# Published positions a tag's trail on the map keeps, and the map's fastest refresh (s).
TRAIL: Final = 5
MAP_MIN_INTERVAL: Final = 2.0
# Whether each receiver is online is checked this often (s). Its advert rate is averaged
# over, and published once per, RATE_PERIOD: more often, the rates alone were a large share of
# a site's recorder rows.
HEALTH_PERIOD: Final = 10.0
RATE_PERIOD: Final = 60.0
# The learnt self-calibration is stored this often (s), at shutdown and on reload, so a
# restart resumes from it instead of the declared values.
CALIBRATION_SAVE_PERIOD: Final = 600.0
# Adverts kept for the export action (about 10 minutes of a busy house).
EXPORT_BUFFER: Final = 50_000

EVENT_ZONE_CHANGED: Final = "ble_rtls_zone_changed"
EVENT_TAG_MISSING: Final = "ble_rtls_tag_missing"
EVENT_BATTERY_LOW: Final = "ble_rtls_battery_low"
EVENT_PANIC: Final = "ble_rtls_panic"
EVENT_PANIC_CANCELLED: Final = "ble_rtls_panic_cancelled"
EVENT_PANIC_ACKNOWLEDGED: Final = "ble_rtls_panic_acknowledged"
# A notification action whose id is this followed by the panic id acknowledges that alarm
# (Home Assistant's companion apps fire it as mobile_app_notification_action).
ACKNOWLEDGE_ACTION: Final = "BLE_RTLS_ACKNOWLEDGE_"

ATTR_X: Final = "x"
ATTR_Y: Final = "y"
ATTR_FLOOR: Final = "floor"
ATTR_ZONE: Final = "zone"

ISSUE_RECEIVER_SILENT: Final = "receiver_silent"
ISSUE_PROXY_UNPLACED: Final = "proxy_unplaced"

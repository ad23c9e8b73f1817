"""ble-rtls-proxy: a Raspberry Pi's Bluetooth adverts, streamed to Home Assistant."""

__version__ = "0.1.0"

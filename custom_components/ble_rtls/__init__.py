"""BLE RTLS: Bluetooth real-time location for Home Assistant."""

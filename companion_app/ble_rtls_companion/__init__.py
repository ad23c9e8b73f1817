"""BLE RTLS companion: shares the phone's position with Home Assistant; a panic is never lost."""

"""The lab: simulation, replay, benchmarks, baselines and oracles; never shipped to HA.

`ble_rtls_lab.hass` is the Home Assistant-level simulator (simulated proxies, the demo),
`ble_rtls_lab.benchmarks` the long benchmarks against a real Home Assistant.
"""

"""Simulated Bluetooth proxies that feed a real Home Assistant (tests, benchmark, demo)."""

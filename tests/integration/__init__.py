"""Tests through a real Home Assistant with simulated proxies in its bluetooth manager."""

"""Fixtures for the vendor-fidelity suite: the emulator fixtures of ``tests/fixtures``."""

"""Vendor-behaviour tests: what the emulators do because production does it."""

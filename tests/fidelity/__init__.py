"""Vendor behaviours the emulators reproduce where production breaks connectors (issue 17)."""

"""b2sync emulators package."""

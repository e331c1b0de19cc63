"""b2sync sync package."""

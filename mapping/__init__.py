"""b2sync mapping package."""

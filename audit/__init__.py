"""b2sync audit package."""

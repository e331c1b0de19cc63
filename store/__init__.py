"""b2sync store package."""

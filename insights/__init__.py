"""b2sync insights package."""

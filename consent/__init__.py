"""b2sync consent package."""

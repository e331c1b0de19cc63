"""b2sync connectors package."""

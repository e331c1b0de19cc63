"""Alembic migrations of the state store (configured by :mod:`store._migrate`, no alembic.ini)."""

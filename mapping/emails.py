"""The one form an email address is compared, hashed and written in."""

from __future__ import annotations

__all__ = ["normalise_email"]


def normalise_email(value: str) -> str:
    """Stripped and lower-cased (what the pipelines' ``email`` transform writes)."""
    return value.strip().lower()

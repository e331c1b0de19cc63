"""b2sync mapping package: config schemas, the transform chain and the email normaliser."""

from __future__ import annotations

from mapping.emails import normalise_email

__all__ = ["normalise_email"]

"""b2sync consent package: consent synced both ways, erasure, tombstones and retention."""

from __future__ import annotations

from consent.model import ConsentStatus, Decision, normalise_email, prevails, resolve

__all__ = ["ConsentStatus", "Decision", "normalise_email", "prevails", "resolve"]

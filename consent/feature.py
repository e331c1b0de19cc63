"""What the consent feature contributes to every pipeline run.

Two record hooks, in this order: the tombstone check (an erased person must never come back,
so it runs before anything else looks at a record) and the consent gate (people without the
consent a push pipeline requires are held back).
"""

from __future__ import annotations

from consent.gate import gate_factory
from consent.tombstones import tombstone_factory
from sync.hooks import Feature

__all__ = ["feature"]


def feature() -> Feature:
    """The consent feature: tombstones first, then the consent gate."""
    return Feature(name="consent", hooks=(tombstone_factory, gate_factory))

"""The features of the product, in the order their contributions run: record hooks (every
pipeline run) and daemon tasks (``b2sync run``).

Order matters and is written down here, not left to import order: the consent feature's
tombstone hook runs first (an erased person must never come back), then its consent gate,
then the insights hook. Nothing registers itself by being imported.
"""

from __future__ import annotations

from consent.feature import feature as consent_feature
from insights.feature import feature as insights_feature
from sync.feature import Feature
from sync.hooks import HookFactory

__all__ = ["FEATURES", "RECORD_HOOKS"]

#: every feature of the product, in the order their hooks run
FEATURES: tuple[Feature, ...] = (consent_feature(), insights_feature())

#: the record hook factories of every pipeline run: tombstones, consent gate, insights
RECORD_HOOKS: tuple[HookFactory, ...] = tuple(hook for f in FEATURES for hook in f.hooks)

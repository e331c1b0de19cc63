"""What the insights feature contributes to every pipeline run.

One record hook: orders go into the insights ledger and customers get their ``insights.*``
fields. It runs after the consent feature's hooks, so it never sees an erased or held person.
"""

from __future__ import annotations

from insights.hooks import insights_hook
from sync.hooks import Feature

__all__ = ["feature"]


def feature() -> Feature:
    """The insights feature: the ledger and ``insights.*`` fields hook."""
    return Feature(name="insights", hooks=(insights_hook,))

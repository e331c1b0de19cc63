"""The pull: CRM edits merged field by field and written back to B2Connect.

``engine`` runs one pull (:class:`PullRun`); ``plan`` sorts and merges a flush (pure);
``fields`` names the fields a pull compares; ``store`` holds the pull's own state reads and
writes; ``audit`` its audit events; ``guard`` keeps the push half of a ``both`` pipeline from
overwriting CRM edits.
"""

from __future__ import annotations

from sync.pull.engine import PullRun, read_crm
from sync.pull.guard import PushGuard

__all__ = ["PullRun", "PushGuard", "read_crm"]

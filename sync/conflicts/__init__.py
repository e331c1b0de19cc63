"""Conflicts parked for a person: ``store`` lists them and holds the decisions engines apply;
``resolution`` validates an operator's choice, records it and acts on it (it runs pipelines,
so import it by its path: ``sync.conflicts.resolution``).
"""

from __future__ import annotations

from sync.conflicts.store import (
    AMBIGUOUS_MATCH,
    ConflictRow,
    Decision,
    close_open,
    decisions,
    get_conflict,
    list_conflicts,
    mark_applied,
    resolve_conflict,
)

__all__ = [
    "AMBIGUOUS_MATCH",
    "ConflictRow",
    "Decision",
    "close_open",
    "decisions",
    "get_conflict",
    "list_conflicts",
    "mark_applied",
    "resolve_conflict",
]

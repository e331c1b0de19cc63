"""Closed value sets stored as strings (see :class:`store._types.StrEnumType`)."""

from __future__ import annotations

from enum import StrEnum


class Side(StrEnum):
    """Which end of a pipeline a cursor belongs to."""

    B2CONNECT = "b2connect"
    CRM = "crm"


class RunStatus(StrEnum):
    """Lifecycle of one pipeline run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"


class DeadLetterStatus(StrEnum):
    """A rejected record waiting for retry, fixed, or given up on."""

    PENDING = "pending"
    RESOLVED = "resolved"
    ABANDONED = "abandoned"


class ConflictStatus(StrEnum):
    """A conflict parked for a person, or settled."""

    OPEN = "open"
    RESOLVED = "resolved"


class ErasureStatus(StrEnum):
    """Overall state of an erasure request (per-system detail lives in ``system_status``)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"

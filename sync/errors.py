"""The engine's exceptions, in one place.

The tree::

    Exception
    └── EngineError                 anything the engine raises on purpose
        ├── Interrupted             shutdown requested while waiting to retry: the run stops
        │   │                       between batches, status ``interrupted``
        │   └── StaleFence          a newer holder of the pipeline's lock exists: this run's
        │                           commit was rolled back (``sync.fencing``)
        ├── BreakerTripped          a run wanted to delete or blank more than its pipeline's
        │   │                       breakers allow: the run pauses, nothing is written
        │   ├── DeleteBreakerTripped
        │   └── BlankBreakerTripped
        └── ResolveError            a conflict's resolution does not fit (``usage``: exit 2)
                                    or could not be applied

Vendor and data problems are not here: connectors raise
:class:`connectors.errors.ConnectorError` (``Fatal``, ``Retriable``, ``Rejected``...), which the
engine turns into a run status or a dead letter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.breaker import BreakerTrip

__all__ = [
    "BlankBreakerTripped",
    "BreakerTripped",
    "DeleteBreakerTripped",
    "EngineError",
    "Interrupted",
    "ResolveError",
    "StaleFence",
]


class EngineError(Exception):
    """Base of the exceptions the engine raises on purpose."""


class Interrupted(EngineError):
    """Shutdown was requested while waiting to retry."""


class StaleFence(Interrupted):
    """A commit carried a fencing token lower than one the store has seen: refused."""

    def __init__(self, pipeline: str, token: int, seen: int) -> None:
        self.pipeline, self.token, self.seen = pipeline, token, seen
        super().__init__(
            f"pipeline {pipeline}: fencing token {token} is stale (the store has seen {seen}); "
            "a newer run holds the lock, this run's commit was rolled back"
        )


class BreakerTripped(EngineError):
    """A run wanted to delete or blank more than its pipeline's breakers allow."""

    def __init__(self, trip: BreakerTrip) -> None:
        self.trip = trip
        self.pipeline = trip.pipeline
        self.direction = trip.direction
        self.deletes = trip.deletes
        self.population = trip.population
        self.limit = trip.limit
        super().__init__(trip.message)


class DeleteBreakerTripped(BreakerTripped):
    """A run wanted to delete more than its pipeline's delete breaker allows."""


class BlankBreakerTripped(BreakerTripped):
    """A run wanted to blank one field in more records than its blank breaker allows."""


class ResolveError(EngineError):
    """The choice does not fit the conflict (``usage``: exit 2) or could not be applied."""

    def __init__(self, message: str, *, usage: bool = True) -> None:
        self.usage = usage
        super().__init__(message)

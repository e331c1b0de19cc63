"""The breakers: a run that would delete more than a pipeline's ``delete_breaker`` allows
deletes nothing, a run that would blank one field in more records than its
``blank_breaker`` allows blanks nothing, and the pipeline stays paused until an operator
resets it (``b2sync pipelines resume``).

Engines count the deletions (blankings) a run would make per direction (and field) and call
:func:`check_deletes` (:func:`check_blanks`) BEFORE the first write of them. The trip is a
``settings`` row (``delete_breaker:<pipeline>``, JSON with counts only, ``kind`` saying
which breaker) written in its own transaction, so it survives the failed run.

    BreakerTripped
     ├── DeleteBreakerTripped
     └── BlankBreakerTripped
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
import structlog

from mapping.config import DeletePolicy, Pipeline
from store import begin_write
from store.models import metadata
from sync import state
from sync.errors import BlankBreakerTripped, DeleteBreakerTripped

__all__ = [
    "BreakerTrip",
    "check_blanks",
    "check_deletes",
    "clear_allowance",
    "linked_population",
    "on_delete_policy",
    "record_trip",
    "reset",
    "tripped",
    "tripped_all",
]

log = structlog.get_logger(__name__)

SyncDirection = Literal["to_crm", "to_b2connect"]
PREFIX = "delete_breaker:"
ALLOW_PREFIX = "delete_allowance:"
BLANK_ALLOW_PREFIX = "blank_allowance:"
TRIPPED_EVENT = "pipeline.delete_breaker_tripped"
BLANK_TRIPPED_EVENT = "pipeline.blank_breaker_tripped"
_links = metadata.tables["links"]
_settings = metadata.tables["settings"]


@dataclass(frozen=True)
class BreakerTrip:
    """A tripped breaker: which run direction wanted how many deletions out of how many
    (``kind="blank"``: how many blankings of ``field``)."""

    pipeline: str
    direction: str
    deletes: int
    population: int
    limit: int
    tripped_at: datetime
    kind: Literal["delete", "blank"] = "delete"
    field: str | None = None

    def to_json(self) -> str:
        """The settings-row value."""
        data = asdict(self)
        data["tripped_at"] = self.tripped_at.isoformat()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BreakerTrip:
        """Parse a settings-row value."""
        data = json.loads(text)
        data["tripped_at"] = datetime.fromisoformat(data["tripped_at"])
        return cls(**data)

    @property
    def message(self) -> str:
        """What happened and what to do, for status output and run errors."""
        if self.kind == "blank":
            return (
                f"blank breaker tripped: {self.deletes} records would have field "
                f"'{self.field}' blanked {self.direction} out of {self.population} linked "
                f"records (limit {self.limit}); nothing of that batch was written. Check the "
                f"mapping and the source system, then run `b2sync pipelines resume "
                f"{self.pipeline}` (--allow-deletes if the blanking was intended)"
            )
        return (
            f"delete breaker tripped: {self.deletes} deletions {self.direction} out of "
            f"{self.population} linked records (limit {self.limit}); nothing was deleted. "
            f"Check the source system, then run `b2sync pipelines resume {self.pipeline}`"
        )


def on_delete_policy(pipeline: Pipeline, direction: SyncDirection) -> DeletePolicy:
    """The pipeline's policy for deletions travelling ``direction``."""
    return pipeline.on_delete.policy(direction)


def linked_population(conn: sa.Connection, pipeline_name: str) -> int:
    """How many live records the pipeline links (with a CRM id, not deleted)."""
    query = (
        sa.select(sa.func.count())
        .select_from(_links)
        .where(
            _links.c.pipeline == pipeline_name,
            _links.c.crm_id.is_not(None),
            _links.c.deleted_at.is_(None),
        )
    )
    return int(conn.execute(query).scalar_one())


def check_deletes(
    conn: sa.Connection,
    pipeline: Pipeline,
    *,
    direction: SyncDirection,
    deletes: int,
    population: int,
    now: datetime,
) -> None:
    """Raise :class:`DeleteBreakerTripped` (after recording the trip on ``conn``) when
    ``deletes`` is above the pipeline's limit for ``population`` linked records.

    The caller commits ``conn``'s transaction even when this raises (use its own
    ``store.begin_write`` block around this call only), so the pause outlives the run.
    """
    limit = pipeline.delete_breaker.limit(population)
    allowance = state.get_setting(conn, ALLOW_PREFIX + pipeline.name)
    if deletes <= limit or (allowance is not None and deletes <= int(allowance)):
        return
    trip = BreakerTrip(pipeline.name, direction, deletes, population, limit, now)
    _open(conn, trip, TRIPPED_EVENT, deletes=deletes)
    raise DeleteBreakerTripped(trip)


def _open(conn: sa.Connection, trip: BreakerTrip, event: str, **what: object) -> None:
    """Store ``trip`` as the pipeline's open trip and log ``event`` (counts, no values)."""
    state.set_setting(conn, PREFIX + trip.pipeline, trip.to_json())
    log.warning(
        event, pipeline=trip.pipeline, direction=trip.direction, population=trip.population,
        limit=trip.limit, **what,
    )  # fmt: skip


def check_blanks(
    conn: sa.Connection,
    pipeline: Pipeline,
    *,
    direction: SyncDirection,
    blanks: Mapping[str, int],
    population: int,
    now: datetime,
) -> None:
    """Raise :class:`BlankBreakerTripped` (after recording the trip on ``conn``) when a
    field's run total in ``blanks`` is above the pipeline's ``blank_breaker`` limit.

    Same contract as :func:`check_deletes`: the caller commits ``conn`` even when this raises.
    """
    limit = pipeline.blank_breaker.limit(population)
    allowance = state.get_setting(conn, BLANK_ALLOW_PREFIX + pipeline.name)
    for field, count in sorted(blanks.items()):
        if count <= limit or (allowance is not None and count <= int(allowance)):
            continue
        trip = BreakerTrip(
            pipeline.name, direction, count, population, limit, now, kind="blank", field=field
        )
        _open(conn, trip, BLANK_TRIPPED_EVENT, field=field, blanks=count)
        raise BlankBreakerTripped(trip)


def record_trip(db: sa.Engine, trip: BreakerTrip) -> None:
    """Store ``trip`` in a transaction of its own (after the run's own one rolled back)."""
    with begin_write(db) as conn:
        state.set_setting(conn, PREFIX + trip.pipeline, trip.to_json())


def tripped(conn: sa.Connection, pipeline_name: str) -> BreakerTrip | None:
    """The pipeline's open trip, if its breaker is tripped."""
    value = state.get_setting(conn, PREFIX + pipeline_name)
    return BreakerTrip.from_json(value) if value is not None else None


def tripped_all(conn: sa.Connection) -> dict[str, BreakerTrip]:
    """Every tripped pipeline's trip, by pipeline name."""
    rows = conn.execute(
        sa.select(_settings.c.name, _settings.c.value).where(_settings.c.name.like(PREFIX + "%"))
    )
    return {name[len(PREFIX) :]: BreakerTrip.from_json(value) for name, value in rows}


def reset(
    conn: sa.Connection,
    pipeline_name: str,
    *,
    actor: str,
    now: datetime,
    allow_deletes: bool = False,
) -> bool:
    """Close the breaker so the pipeline runs again; False when it was not tripped.

    With ``allow_deletes`` the operator confirms the deletions: runs may delete up to the
    tripped count until one succeeds (then the configured limit applies again). Without it,
    deletions still pending trip the breaker again.
    """
    trip = tripped(conn, pipeline_name)
    if trip is None:
        return False
    state.set_setting(conn, PREFIX + pipeline_name, None)
    if allow_deletes:
        prefix = BLANK_ALLOW_PREFIX if trip.kind == "blank" else ALLOW_PREFIX
        state.set_setting(conn, prefix + pipeline_name, str(trip.deletes))
    log.info(
        "pipeline.delete_breaker_reset",
        pipeline=pipeline_name,
        actor=actor,
        tripped_at=trip.tripped_at.isoformat(),
        at=now.isoformat(),
        allow_deletes=allow_deletes,
    )
    return True


def allowance_settings(pipeline_name: str) -> tuple[str, str]:
    """The settings holding an operator's one-time allowances for ``pipeline_name``."""
    return ALLOW_PREFIX + pipeline_name, BLANK_ALLOW_PREFIX + pipeline_name


def clear_allowance(conn: sa.Connection, pipeline_name: str) -> None:
    """A run succeeded: an operator's one-time allowances are used up."""
    for name in allowance_settings(pipeline_name):
        state.set_setting(conn, name, None)

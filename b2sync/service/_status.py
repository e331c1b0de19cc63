"""What ``b2sync status`` and ``GET /api/status`` report: read from the store only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from mapping.config import Pipeline
from store.models import (
    ConflictStatus,
    DeadLetterStatus,
    ErasureStatus,
    RunStatus,
    metadata,
)
from sync.breaker import BreakerTrip, tripped_all

__all__ = ["StoreTotals", "pipeline_status", "store_totals"]

_runs = metadata.tables["runs"]
_dead = metadata.tables["dead_letters"]
_conflicts = metadata.tables["conflicts"]
_settings = metadata.tables["settings"]
_erasures = metadata.tables["erasure_requests"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _count_by_pipeline(conn: sa.Connection, table: sa.Table, status: str) -> dict[str, int]:
    query = (
        sa.select(table.c.pipeline, sa.func.count())
        .where(table.c.status == status)
        .group_by(table.c.pipeline)
    )
    return {str(name): int(n) for name, n in conn.execute(query)}


def _last_runs(conn: sa.Connection, names: Sequence[str]) -> dict[str, sa.Row[Any]]:
    """The newest finished run per pipeline (not ``running``)."""
    latest = (
        sa.select(_runs.c.pipeline, sa.func.max(_runs.c.started_at).label("started"))
        .where(_runs.c.pipeline.in_(names), _runs.c.status != RunStatus.RUNNING.value)
        .group_by(_runs.c.pipeline)
        .subquery()
    )
    query = sa.select(_runs).join(
        latest,
        sa.and_(_runs.c.pipeline == latest.c.pipeline, _runs.c.started_at == latest.c.started),
    )
    return {row.pipeline: row for row in conn.execute(query)}


def _last_success(conn: sa.Connection, names: Sequence[str]) -> dict[str, datetime]:
    query = (
        sa.select(_runs.c.pipeline, sa.func.max(_runs.c.started_at))
        .where(_runs.c.pipeline.in_(names), _runs.c.status == RunStatus.SUCCEEDED.value)
        .group_by(_runs.c.pipeline)
    )
    return {str(name): started for name, started in conn.execute(query) if started is not None}


def _paused(conn: sa.Connection, names: Sequence[str], now: datetime) -> dict[str, str]:
    keys = {f"paused_until:{n}": n for n in names}
    query = sa.select(_settings.c.name, _settings.c.value).where(_settings.c.name.in_(keys))
    out: dict[str, str] = {}
    for key, value in conn.execute(query):
        if value and datetime.fromisoformat(value) > now:
            out[keys[key]] = value
    return out


def pipeline_status(
    conn: sa.Connection, pipelines: Sequence[Pipeline], now: datetime
) -> list[dict[str, Any]]:
    """One JSON-ready dict per pipeline: last run, lag, backlog, pause."""
    names = [p.name for p in pipelines]
    last = _last_runs(conn, names)
    success = _last_success(conn, names)
    dead = _count_by_pipeline(conn, _dead, DeadLetterStatus.PENDING.value)
    conflicts = _count_by_pipeline(conn, _conflicts, ConflictStatus.OPEN.value)
    paused = _paused(conn, names, now)
    trips = tripped_all(conn)
    out: list[dict[str, Any]] = []
    for pipe in pipelines:
        run = last.get(pipe.name)
        ok = success.get(pipe.name)
        out.append(
            {
                "pipeline": pipe.name,
                "enabled": pipe.enabled,
                "stream": pipe.b2connect.stream,
                "object": pipe.crm.object,
                "last_run": None if run is None else _run_json(run),
                "last_success_at": _iso(ok),
                "lag_seconds": None if ok is None else round((now - ok).total_seconds(), 3),
                "dead_letters_pending": dead.get(pipe.name, 0),
                "conflicts_open": conflicts.get(pipe.name, 0),
                "paused_until": paused.get(pipe.name),
                "delete_breaker": _trip_json(trips.get(pipe.name)),
            }
        )
    return out


def _trip_json(trip: BreakerTrip | None) -> dict[str, Any] | None:
    """A tripped delete or blank breaker (counts only): the pipeline waits for an operator."""
    if trip is None:
        return None
    return {
        "kind": trip.kind,
        "field": trip.field,
        "direction": trip.direction,
        "deletes": trip.deletes,
        "population": trip.population,
        "limit": trip.limit,
        "tripped_at": _iso(trip.tripped_at),
        "message": trip.message,
    }


def _run_json(run: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": str(run.status),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "records_read": run.records_read,
        "records_written": run.records_written,
        "records_skipped": run.records_skipped,
        "records_failed": run.records_failed,
        "api_calls": run.api_calls,
        "error": run.error,
    }


class StoreTotals(dict[str, int]):
    """Store-wide counts: open conflicts, pending dead letters, erasures not completed (and
    past their 30-day deadline)."""


def store_totals(conn: sa.Connection) -> StoreTotals:
    """Counts the metrics endpoint and the status API show."""

    def count(table: sa.Table, where: sa.ColumnElement[bool]) -> int:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one()
        )

    return StoreTotals(
        conflicts_open=count(_conflicts, _conflicts.c.status == ConflictStatus.OPEN.value),
        dead_letters_pending=count(_dead, _dead.c.status == DeadLetterStatus.PENDING.value),
        erasures_pending=count(_erasures, _erasures.c.status != ErasureStatus.COMPLETED.value),
        erasures_overdue=count(
            _erasures,
            sa.and_(
                _erasures.c.status != ErasureStatus.COMPLETED.value,
                _erasures.c.due_at < datetime.now(UTC),
            ),
        ),
    )

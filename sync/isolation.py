"""Per-record failure isolation: one record's unforeseen exception dead-letters that record.

The run-level failures (a vendor down, the budget spent, a shutdown, the store locked) still
stop the run: they are not the record's fault and its cursor must not move past them.
Everything else raised while one record is hooked, planned or written is that record's: the
flush is retried record by record, the failing ones are dead-lettered with the stage and
exception type, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
import structlog

from connectors.errors import ConnectorError
from connectors.records import Record
from sync.errors import DeleteBreakerTripped, Interrupted
from sync.hooks import HookContext, RecordHook, run_hooks
from sync.plan import Plan, failed_record
from sync.state import DeadLetterRow

if TYPE_CHECKING:
    from sync.push.writer import Flushed

__all__ = ["RUN_LEVEL", "execute_isolated", "hooks_isolated", "screened"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: failures of the run, never of one record
RUN_LEVEL: tuple[type[BaseException], ...] = (
    ConnectorError,
    Interrupted,
    DeleteBreakerTripped,
    sa.exc.OperationalError,
)


def hooks_isolated(
    hooks: Sequence[RecordHook], context: HookContext, records: list[Record]
) -> tuple[list[Record], list[DeadLetterRow]]:
    """Run the hooks on the flush; if they raise, record by record (failures dead-lettered)."""
    try:
        return run_hooks(hooks, context, records), []
    except RUN_LEVEL:
        raise
    except Exception as exc:
        log.exception("hooks.failed_for_flush", error=type(exc).__name__, records=len(records))
    kept: list[Record] = []
    dead: list[DeadLetterRow] = []
    for record in records:
        try:
            kept.extend(run_hooks(hooks, context, [record]))
        except RUN_LEVEL:
            raise
        except Exception as exc:
            log.exception("record.hook_failed", key=record.key, error=type(exc).__name__)
            dead.append(failed_record(record, "a record hook", exc))
    return kept, dead


def screened(
    step: Callable[[list[Record]], T], records: list[Record], stage: str
) -> tuple[T, list[DeadLetterRow]]:
    """``step(records)``; when it raises for the flush, find the records it fails on alone,
    dead-letter them and run ``step`` once more on the others (a lone surrogate in a key or
    a reference the store cannot even query by fails the flush's link lookups, for one)."""
    try:
        return step(records), []
    except RUN_LEVEL:
        raise
    except Exception as exc:
        log.exception("flush.step_failed", stage=stage, error=type(exc).__name__)
    good: list[Record] = []
    dead: list[DeadLetterRow] = []
    for record in records:
        try:
            step([record])
        except RUN_LEVEL:
            raise
        except Exception as exc:
            log.exception("record.step_failed", stage=stage, key=record.key)
            dead.append(failed_record(record, stage, exc))
        else:
            good.append(record)
    return step(good), dead


def execute_isolated(execute: Callable[[Plan], Flushed], plan: Plan) -> Flushed:
    """``execute(plan)``; when it raises for the flush, each write alone (failures dead-lettered).

    Every CRM write is an upsert on the B2Connect key, so writing a record again after the
    failed flush wrote part of it duplicates nothing.
    """
    try:
        return execute(plan)
    except RUN_LEVEL:
        raise
    except Exception as exc:
        if len(plan.writes) <= 1 and not plan.deleted:
            if not plan.writes:
                raise
            log.exception("record.write_failed", key=plan.writes[0].key)
            return _dead_only(execute, plan, exc)
        log.exception("write.failed_for_flush", error=type(exc).__name__, records=len(plan.writes))
    out = execute(Plan(deleted=plan.deleted, dead=plan.dead))
    for planned in plan.writes:
        one = Plan(writes=[planned])
        try:
            out.merge(execute(one))
        except RUN_LEVEL:
            raise
        except Exception as exc:
            log.exception("record.write_failed", key=planned.key, error=type(exc).__name__)
            out.merge(_dead_only(execute, one, exc))
    return out


def _dead_only(execute: Callable[[Plan], Flushed], plan: Plan, exc: Exception) -> Flushed:
    """What to commit for a plan whose only write failed: its dead letter (and older ones)."""
    dead = [*plan.dead, *(failed_record(p.record, "writing", exc) for p in plan.writes)]
    return execute(Plan(dead=dead))

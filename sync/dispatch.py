"""Run a pipeline in its direction: push, pull, or both (pull first, then a guarded push).

``both`` pulls first so that every CRM edit is merged, by the field rules, against
B2Connect's *current* values before push looks at B2Connect's changes: a field the CRM won is
written back to B2Connect and stored as last-synced, so push then sees B2Connect's echo of it
as unchanged; a field B2Connect won was already sent to the CRM by the merge. Pushing first
would send B2Connect edits over CRM edits nobody had compared them with. The push half runs
with :class:`~sync.pull.guard.PushGuard`, which defers records whose CRM side moved after the
pull read it to the next pull.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

from connectors.records import Record
from mapping.config import Direction, Pipeline
from store.models import RunStatus
from sync.create import ShopCreateRun
from sync.hooks import RecordHook
from sync.pull.engine import PullRun
from sync.pull.guard import PushGuard
from sync.push.engine import PipelineRun
from sync.run import Run, RunSummary, prefixed_progress

__all__ = ["execute_directions"]


def execute_directions(
    push: PipelineRun,
    parked: Sequence[Record] | None = None,
    members: tuple[Pipeline, Sequence[RecordHook]] | None = None,
) -> RunSummary:
    """Execute ``push`` as its pipeline's direction says (push replays are push only;
    ``parked`` CRM records, the pull's dead letters, replay through the pull only).

    A ``both`` run returns the push half's summary with the pull half's counts added as
    ``pull_<name>`` (each half keeps its own ``runs`` row). A pipeline with
    ``create_in_shop`` first creates the CRM records marked for the shop
    (:class:`~sync.create.ShopCreateRun`, ``members``: the customers pipeline and hooks of a
    company's contacts); its counts come back as ``create_<name>``.
    """
    init = {f.name: getattr(push, f.name) for f in fields(Run) if f.init}
    if push.pipeline.create_in_shop is None or push.replay or parked is not None:
        return _directions(push, init, parked)
    made = ShopCreateRun(**init, members=members).execute()
    if made.status is not RunStatus.SUCCEEDED:
        return made
    summary = _directions(push, init, parked)
    summary.counts.update({f"create_{k}": v for k, v in made.counts.items()})
    summary.api_calls.update(made.api_calls)
    summary.dry_run_plan[:0] = made.dry_run_plan
    return summary


def _directions(
    push: PipelineRun, init: dict[str, Any], parked: Sequence[Record] | None
) -> RunSummary:
    direction = push.pipeline.direction
    if parked is not None:
        return PullRun(**init, parked=parked).execute()
    if push.replay or direction is Direction.push:
        return push.execute()
    if direction is Direction.pull:
        return PullRun(**init).execute()
    if push.progress is not None:  # the pull half's progress is counted as ``pull_*`` too
        init["progress"] = prefixed_progress(push.progress, "pull_")
    pull = PullRun(**init)
    first = pull.execute()
    if first.status is not RunStatus.SUCCEEDED:
        return first
    second = replace(push, guard=PushGuard(pull)).execute()
    second.counts.update({f"pull_{k}": v for k, v in first.counts.items()})
    second.api_calls.update(first.api_calls)
    second.dry_run_plan[:0] = first.dry_run_plan
    return second

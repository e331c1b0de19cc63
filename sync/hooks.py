"""Record hooks: checks and enrichments every pipeline run applies to a flush of records.

A hook sees the records of one flush after they were read and before they are mapped and
planned, and returns the records the run goes on with: it may drop records (a tombstoned
person, a person without the consent a pipeline requires) or return copies with extra source
fields (``insights.ltv``…). A dropped record is the hook's to account for (its own table, an
audit event); the run's cursor still moves past it.

Features register a factory in :data:`HOOK_FACTORIES` when their module is imported, and name
that module in :data:`FEATURE_MODULES` so :func:`hooks_for` imports it first (``sync`` does not
import the feature packages at module level). Hooks run in registration order.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from connectors.records import Record
from mapping.config import Config, Pipeline
from sync.hashing import FieldHasher

__all__ = [
    "FEATURE_MODULES",
    "HOOK_FACTORIES",
    "HookContext",
    "HookFactory",
    "RecordHook",
    "hooks_for",
    "run_hooks",
]

Origin = Literal["b2connect", "crm"]


@dataclass(frozen=True)
class HookContext:
    """What a hook may use: the pipeline, the store, the run and where the records came from."""

    pipeline: Pipeline
    db: sa.Engine
    hasher: FieldHasher
    tenant_id: str
    run_id: str
    now: datetime
    dry_run: bool
    #: ``b2connect`` for a push read, ``crm`` for a pull read
    origin: Origin = "b2connect"


RecordHook = Callable[[HookContext, list[Record]], list[Record]]
HookFactory = Callable[[Config, Pipeline], "RecordHook | None"]

#: factories of the hooks of each pipeline; a feature appends its own at import time
HOOK_FACTORIES: list[HookFactory] = []

#: modules that register hook factories when imported (imported by :func:`hooks_for`)
FEATURE_MODULES: tuple[str, ...] = ("consent.tombstones", "consent.gate", "insights.hooks")


def hooks_for(config: Config, pipeline: Pipeline) -> list[RecordHook]:
    """The hooks a pipeline runs, in registration order."""
    for module in FEATURE_MODULES:
        importlib.import_module(module)
    built = (factory(config, pipeline) for factory in HOOK_FACTORIES)
    return [hook for hook in built if hook is not None]


def run_hooks(
    hooks: Sequence[RecordHook], context: HookContext, records: list[Record]
) -> list[Record]:
    """Pass ``records`` through every hook in turn."""
    for hook in hooks:
        if not records:
            break
        records = hook(context, records)
    return records

"""Record hooks: checks and enrichments every pipeline run applies to a flush of records.

A hook sees the records of one flush after they were read and before they are mapped and
planned, and returns the records the run goes on with: it may drop records (a tombstoned
person, a person without the consent a pipeline requires) or return copies with extra source
fields (``insights.ltv``…). A dropped record is the hook's to account for (its own table, an
audit event); the run's cursor still moves past it.

The engine does not know its features: a :class:`~sync.runner.Runner` is handed the hook
factories it runs (``Runner(hooks=...)``), in order, by the composition root
(``b2sync.features``, tombstones first); :class:`sync.feature.Feature` is what a feature
contributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from connectors.records import Record
from mapping.config import Config, Pipeline
from sync.hashing import FieldHasher

__all__ = [
    "HookContext",
    "HookFactory",
    "RecordHook",
    "Upcoming",
    "hooks_for",
    "run_hooks",
]

Origin = Literal["b2connect", "crm"]
#: what pipeline ``name`` reads from B2Connect after a cursor (its own does not move), page
#: by page through its hooks as a dry run (nothing recorded): (records, the page's cursor)
Upcoming = Callable[
    [str, Mapping[str, Any] | None], Iterator[tuple[list[Record], Mapping[str, Any] | None]]
]


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
    #: another pipeline's next B2Connect records (a runner's runs have it; None otherwise)
    upcoming: Upcoming | None = None


RecordHook = Callable[[HookContext, list[Record]], list[Record]]
HookFactory = Callable[[Config, Pipeline], "RecordHook | None"]


def hooks_for(
    factories: Sequence[HookFactory], config: Config, pipeline: Pipeline
) -> list[RecordHook]:
    """The hooks ``pipeline`` runs: each factory's hook, in the factories' order."""
    built = (factory(config, pipeline) for factory in factories)
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

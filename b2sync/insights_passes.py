"""The insights refresh of a one-off ``b2sync sync`` (and ``bench/``), beside the pipelines.

The daemon runs the refresh on its own schedule; a ``sync`` runs it itself. The first pass
starts beside the pipelines as soon as every selected customers pipeline has finished: the
customers push already carried the values of the orders read ahead into the ledger, and the
orders pipelines, re-reading those orders unchanged, mark nobody dirty, so the pass's work
(mostly local: recomputing every customer on a backfill) overlaps the orders pipelines'
calls instead of following them. A second pass after the pipelines recomputes whoever they
marked (orders that changed since the read-ahead) and finds nobody when nothing changed.
Each pass counts its own calls per CRM connection (:func:`connectors.calls.call_scope` of
that connector's counter), so the calls of the orders runs beside it are not counted twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from connectors.calls import call_scope
from mapping.config import Pipeline
from sync.runner import Runner

__all__ = ["InsightsPass", "InsightsPasses"]


@dataclass(frozen=True)
class InsightsPass:
    """One pass: what it did per tenant (``insights.refresh.RefreshSummary``) and its calls
    per CRM connection."""

    done: list[Any]
    calls: dict[str, Counter[str]] = field(default_factory=dict)


class InsightsPasses:
    """The passes of one ``sync`` of ``selected`` (none when insights are off or on a dry
    run): :meth:`beside` for :func:`sync.runner.side_by_side`, :meth:`finish` after it."""

    def __init__(self, runner: Runner, selected: Sequence[Pipeline], *, dry_run: bool) -> None:
        self.runner = runner
        self.on = not dry_run and runner.config.insights.enabled
        self.customers = [p.name for p in selected if p.b2connect.stream == "customers"]
        self.connections = sorted({p.crm.connection for p in selected})
        self.passes: list[InsightsPass] = []

    def beside(self) -> tuple[list[str], Callable[[], object]] | None:
        """What runs beside the pipelines: the first pass, once the customers pipelines are
        done (None: insights off, or no customers pipeline selected: the pass after does it)."""
        return (self.customers, self.run) if self.on and self.customers else None

    def run(self) -> None:
        """One pass of every tenant, its calls counted per connection."""
        from insights.refresh import InsightsRefresh  # imported when used: fast CLI start-up

        counters = {c: getattr(self.runner.connector(c), "calls", None) for c in self.connections}
        with ExitStack() as stack:
            scopes = {
                c: stack.enter_context(call_scope(of=counter))
                for c, counter in counters.items()
                if counter is not None
            }
            done = InsightsRefresh.for_runner(self.runner).run()
        self.passes.append(InsightsPass(done, {c: Counter(n) for c, n in scopes.items()}))

    def finish(self) -> list[InsightsPass]:
        """The pass after the pipelines; every pass, in order (none when off)."""
        if self.on:
            self.run()
        return self.passes

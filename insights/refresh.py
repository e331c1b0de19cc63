"""The insights refresh pass: recompute, push changed insight fields, fire rules.

Incremental by default: only customers marked dirty (their orders changed, or they are new)
are recomputed. A **full** pass recomputes everyone and the population-wide cut points (RFM
monetary quintiles, the High-Value threshold); it runs when asked, when no cut points exist
yet, once a day (recency and stages move with time, and orders leave the 12-month window),
and when more than ``insights.population_drift_percent`` % of customers changed since the cut
points were computed (drift). Between full passes, incremental scores use the stored cut points.

First, what the CRMs know of the linked customers is read back when due (email engagement,
support tickets and NPS answers: :mod:`insights.readback`, all reads side by side). After
recomputing, changed ``insights.*`` fields go to every customers pipeline's CRM, the
pipelines side by side (:mod:`insights.push`), rules fire on transitions
(:mod:`insights.rules`), and snapshots, rule firings and their audit events commit in one
transaction.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from audit import AuditEvent, KeyRing, record_events
from connectors.base import Connector
from insights.acquisition import Acquisition, CacTable, acquisitions, cac_table
from insights.compute import (
    Scored,
    aggregate_metrics,
    count_changes,
    lifetime_values,
    load_population,
    refresh_population,
    score_customers,
)
from insights.engagement import RecentEngagement, recent_engagement
from insights.ledger import (
    clear_dirty,
    customer_page,
    dirty_count,
    dirty_marks,
    get_value,
    set_value,
)
from insights.lifecycle import PopulationThresholds
from insights.metrics import CustomerMetrics
from insights.nps import SupportSignals
from insights.push import Pending, PushOutcome, insight_mapping, push_insights
from insights.readback import CrmReadBack
from insights.rfm import LifetimeValues
from insights.rules import Firing, Snapshot, Target, detect, run_action
from insights.snapshots import FIRINGS, firing_counts, load_state, save_snapshots
from insights.support import support_signals
from mapping.config import Config, Pipeline
from store import begin_write
from sync import state
from sync.deleted_links import deleted_links
from sync.fanout import Fanout
from sync.hashing import FieldHasher
from sync.retry import RetryPolicy

__all__ = ["FULL_EVERY", "InsightsRefresh", "RefreshSummary"]

log = structlog.get_logger(__name__)
#: a full pass at least this often (time moves recency, stages and the trailing window)
FULL_EVERY = timedelta(days=1)
_LAST_FULL = "insights:last_full:{tenant}"
_BASELINE = "insights:baseline:{tenant}"
#: customers per page of the pass: a multiple of the CRMs' write batches (HubSpot 100,
#: Salesforce 200), so splitting the pass into pages adds no write call
PAGE = 2000


@dataclass(frozen=True)
class _Page:
    """One page of customers' inputs to scoring."""

    good: list[str]
    metrics: dict[str, CustomerMetrics]
    b2b: dict[str, bool]
    snaps: dict[str, Snapshot]
    engagement: dict[str, RecentEngagement]
    support: dict[str, SupportSignals]
    acquired: dict[str, Acquisition]


@dataclass
class RefreshSummary:
    """What one refresh did for one tenant."""

    tenant_id: str
    full: bool = False
    baseline: bool = False
    recomputed: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    pushed: dict[str, Counter[str]] = field(default_factory=dict)
    fired: Counter[str] = field(default_factory=Counter)
    #: customers with new email engagement read back from the CRMs
    engaged: int = 0
    #: customers whose support tickets or NPS answers changed in the CRMs
    supported: int = 0


@dataclass
class InsightsRefresh:
    """Runs the pass for every tenant of the config's customers/orders pipelines."""

    config: Config
    db: sa.Engine
    hasher: FieldHasher
    connector: Callable[[str], Connector]
    tenant_of: Callable[[Pipeline], str]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    audit_keys: KeyRing | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    stop: threading.Event = field(default_factory=threading.Event)
    #: held around one pipeline's insight push, which moves that pipeline's link hashes
    pipeline_lock: Callable[[str], AbstractContextManager[object]] = lambda _name: nullcontext()
    #: customers recomputed, pushed and committed together (see :data:`PAGE`)
    page_size: int = PAGE

    @classmethod
    def for_runner(cls, runner: Any) -> InsightsRefresh:
        """Share a :class:`sync.runner.Runner`'s store, connectors, clock and keys."""
        return cls(
            config=runner.config,
            db=runner.db,
            hasher=runner.hasher,
            connector=runner.connector,
            tenant_of=runner.tenant_of,
            clock=runner.clock,
            audit_keys=runner.audit_keys,
            retry=runner.retry,
            stop=runner.stop,
            pipeline_lock=runner.locks.pipeline,
        )

    def customer_pipelines(self, tenant_id: str) -> list[Pipeline]:
        """Enabled customers pipelines of ``tenant_id`` (where fields go and rules act)."""
        return [
            p
            for p in self.config.pipelines
            if p.enabled and p.b2connect.stream == "customers" and self.tenant_of(p) == tenant_id
        ]

    def tenants(self) -> list[str]:
        streams = {"customers", "orders"}
        pipes = [p for p in self.config.pipelines if p.b2connect.stream in streams]
        return sorted({self.tenant_of(p) for p in pipes})

    def run(
        self, *, full: bool = False, tenants: Sequence[str] | None = None
    ) -> list[RefreshSummary]:
        """One pass per tenant; returns what each did."""
        if not self.config.insights.enabled:
            return []
        return [self.run_tenant(t, full=full) for t in (tenants or self.tenants())]

    # ------------------------------------------------------------------ one tenant

    def run_tenant(self, tenant_id: str, *, full: bool = False) -> RefreshSummary:
        """Recompute (incrementally unless a full pass is due), push, fire, commit.

        The customers are walked in pages of :attr:`page_size` (keyset order on the customer
        key): each page is scored, pushed, fired and committed (snapshots, dirty marks) before
        the next is read, so memory follows the page, not the shop. A crash between pages
        resumes where it stopped: the committed pages are no longer dirty and every write is
        an upsert. Only a full pass's population-wide cut points need every buyer's metrics at
        once, and only until the cut points are stored.
        """
        settings, now = self.config.insights, self.clock()
        summary = RefreshSummary(tenant_id)
        reads = CrmReadBack(
            self.config,
            self.db,
            self.connector,
            self.customer_pipelines,
            self.retry,
            self.stop,
            page_size=self.page_size,
        )
        summary.engaged, summary.supported = reads.read_all(tenant_id, now, full=full)
        values: LifetimeValues | None = None  # a full pass: every buyer's lifetime value
        with self.db.connect() as conn:
            stored = load_population(conn, tenant_id)
            dirty = dirty_count(conn, tenant_id)
            summary.full = full or self._full_due(conn, tenant_id, stored, now, dirty)
            anyone = customer_page(conn, tenant_id, after=None, limit=1, dirty_only=False)
            if not (dirty if not summary.full else anyone):
                return summary  # nobody to recompute: no pass to record
            summary.baseline = get_value(conn, _BASELINE.format(tenant=tenant_id)) is None
            if summary.full:
                values = lifetime_values(conn, tenant_id, settings=settings)
        population: PopulationThresholds
        if values is not None or stored is None:
            with begin_write(self.db) as conn:
                population = refresh_population(
                    conn, tenant_id, values or [], now=now, settings=settings
                )
            # the cut points only: each page aggregates its own customers again
            del values
        else:
            population = stored[0]
        table = self._cac_table(tenant_id, recount=summary.full or stored is None)
        run_id, after = str(uuid.uuid4()), None
        held: dict[str, list[Pending]] = {}  # per pipeline: writes carried to the next page
        marks: dict[str, int] = {}  # dirty marks as read before the page's (and carried) orders
        carried: set[str] = set()  # customers whose writes the last page carried to this one
        while True:
            with self.db.connect() as conn:
                keys = customer_page(
                    conn, tenant_id, after=after, limit=self.page_size, dirty_only=not summary.full
                )
                if not keys and after is None:
                    return summary  # nobody to recompute: no pass to record
                marks.update(dirty_marks(conn, tenant_id, keys))
                page = self._page(conn, tenant_id, keys, table, now, summary)
            scored = score_customers(
                page.good,
                page.metrics,
                page.b2b,
                population=population,
                now=now,
                config=settings,
                engagement=page.engagement,
                acquisitions=page.acquired,
                support=page.support,
            )
            summary.recomputed += len(scored)
            final = len(keys) < self.page_size
            failed = self._push(tenant_id, scored, now, run_id, summary, held, final=final)
            # written now: this page's customers and the ones carried from the last page,
            # except those held for the next page (they stay dirty until written)
            carry = {p.item.key for pending in held.values() for p in pending}
            failed |= carry
            done = [s.key for s in scored] + sorted(carried)
            firings = [] if summary.baseline else self._fire(tenant_id, scored, page.snaps, now)
            self._commit(
                tenant_id, scored, done, failed, firings, summary, stored, now, run_id, final,
                marks,
            )  # fmt: skip
            if final:
                break
            # only the customers carried to the next page still need their marks: the pass
            # holds a page's marks, not the shop's
            carried = carry
            marks = {key: mark for key, mark in marks.items() if key in carried}
            after = keys[-1]
        log.info(
            "insights.refreshed",
            tenant=tenant_id,
            full=summary.full,
            recomputed=summary.recomputed,
            fired=sum(summary.fired.values()),
        )
        return summary

    def _page(
        self,
        conn: sa.Connection,
        tenant_id: str,
        keys: list[str],
        table: CacTable | None,
        now: datetime,
        summary: RefreshSummary,
    ) -> _Page:
        """What scoring one page of customers needs, read for those customers only."""
        settings = self.config.insights
        metrics, errors = aggregate_metrics(conn, tenant_id, now=now, settings=settings, keys=keys)
        summary.errors.update(errors)
        good = [k for k in keys if k not in summary.errors]
        b2b, snaps = load_state(conn, tenant_id, keys)
        return _Page(
            good=good,
            metrics=metrics,
            b2b=b2b,
            snaps=snaps,
            engagement=recent_engagement(
                conn, tenant_id, keys, now=now, days=settings.lead_activity_days
            ),
            support=support_signals(conn, tenant_id, keys, now=now, days=settings.support_days),
            acquired=acquisitions(conn, tenant_id, table, good),
        )

    def _cac_table(self, tenant_id: str, *, recount: bool) -> CacTable | None:
        """The pass's CAC table (None without spend data), counted once for every page."""
        if self.config.insights.marketing_spend is None:
            return None
        with begin_write(self.db) as conn:
            return cac_table(conn, tenant_id, self.config.insights, recount=recount)

    def _full_due(
        self,
        conn: sa.Connection,
        tenant_id: str,
        stored: tuple[PopulationThresholds, dict[str, Any]] | None,
        now: datetime,
        dirty: int,
    ) -> bool:
        """No cut points yet, a day since the last full pass, or drift (this pass included)."""
        if stored is None:
            return True
        last = get_value(conn, _LAST_FULL.format(tenant=tenant_id))
        if last is None or now - datetime.fromisoformat(last) >= FULL_EVERY:
            return True
        data = stored[1]
        drift = (int(data.get("changed", 0)) + dirty) * 100
        return drift > self.config.insights.population_drift_percent * max(int(data["size"]), 1)

    def _push(
        self,
        tenant_id: str,
        scored: list[Scored],
        now: datetime,
        run_id: str,
        summary: RefreshSummary,
        held: dict[str, list[Pending]],
        *,
        final: bool,
    ) -> set[str]:
        """Each customers pipeline's push, side by side (each one's batches through its own
        pool, within its connection's gate); returns the customers some push failed.

        ``held``: each pipeline's writes carried from the previous page, replaced by the ones
        carried to the next (none after the ``final`` page)."""
        pipes = [p for p in self.customer_pipelines(tenant_id) if insight_mapping(p) is not None]

        def push(pipe: Pipeline) -> PushOutcome:
            with self.pipeline_lock(pipe.name):
                return push_insights(
                    pipe=pipe,
                    target=self.connector(pipe.crm.connection),
                    db=self.db,
                    hasher=self.hasher,
                    tenant_id=tenant_id,
                    scored=scored,
                    now=now,
                    run_id=run_id,
                    target_system=self.config.connections[pipe.crm.connection].type,
                    audit=self.audit_keys,
                    retry=self.retry,
                    stop=self.stop,
                    concurrency=pipe.concurrency
                    or self.config.connections[pipe.crm.connection].concurrency,
                    held=held.pop(pipe.name, []),
                    final=final,
                )

        fanout = Fanout(len(pipes), "b2sync-insights-push")
        try:
            outcomes = fanout.map(push, pipes)
        finally:
            fanout.close()
        failed: set[str] = set()
        for pipe, outcome in zip(pipes, outcomes, strict=True):
            summary.pushed.setdefault(pipe.name, Counter()).update(outcome.counts)
            failed |= outcome.failed
            if outcome.held:
                held[pipe.name] = outcome.held
        return failed

    def _fire(
        self,
        tenant_id: str,
        scored: list[Scored],
        snapshots: dict[str, Snapshot],
        now: datetime,
    ) -> list[Firing]:
        rules = [r for r in self.config.insights.rules if r.enabled]
        if not rules:
            return []
        by_kind: dict[str, list[tuple[str, str]]] = {}
        for s in scored:
            for kind, label in detect(snapshots.get(s.key), s.insights):
                by_kind.setdefault(kind.value, []).append((s.key, label))
        if not by_kind:
            return []
        keys = sorted({k for pairs in by_kind.values() for k, _ in pairs})
        with self.db.connect() as conn:
            counts = firing_counts(conn, tenant_id, keys)
        targets = self._targets(tenant_id, keys)
        firings: list[Firing] = []
        for rule in rules:
            for key, label in by_kind.get(rule.when.value, []):
                n = counts.get((key, rule.name, rule.when.value), 0) + 1
                firings.append(Firing(key, rule, f"{rule.when.value}:{label}#{n}"))
        for rule in rules:
            mine = [f for f in firings if f.rule is rule]
            if not mine:
                continue
            for action in rule.actions:
                for target in targets:
                    outcomes = run_action(
                        action,
                        target,
                        [f.customer_key for f in mine],
                        now=now,
                        retry=self.retry,
                        stop=self.stop,
                    )
                    for firing in mine:
                        if firing.customer_key in outcomes:
                            firing.outcomes.append(outcomes[firing.customer_key])
        return firings

    def _targets(self, tenant_id: str, keys: list[str]) -> list[Target]:
        targets: list[Target] = []
        for pipe in self.customer_pipelines(tenant_id):
            with self.db.connect() as conn:
                ids = state.link_ids(conn, pipe.name, keys)
                gone = deleted_links(conn, pipe.name, list(ids))
            live = {k: v for k, v in ids.items() if k not in gone}
            targets.append(Target(pipe, self.connector(pipe.crm.connection), live, self.db))
        return targets

    def _commit(
        self,
        tenant_id: str,
        scored: list[Scored],
        done: list[str],
        failed: set[str],
        firings: list[Firing],
        summary: RefreshSummary,
        stored: tuple[PopulationThresholds, dict[str, Any]] | None,
        now: datetime,
        run_id: str,
        final: bool,
        marks: dict[str, int],
    ) -> None:
        """One page's snapshots, dirty flags (cleared where the ``marks`` read before the
        page's orders still hold: an orders run beside the pass may have marked some again),
        firings and events; the pass's marks (baseline, last full pass) with the ``final``
        page only."""
        audited = self.audit_keys is not None and bool(firings)
        with begin_write(self.db) as conn:
            save_snapshots(conn, tenant_id, scored, now)
            clear_dirty(conn, tenant_id, [k for k in done if k not in failed], marks)
            if firings:
                conn.execute(
                    sa.insert(FIRINGS),
                    [
                        {
                            "tenant_id": tenant_id,
                            "customer_key": f.customer_key,
                            "rule": f.rule.name,
                            "transition": f.transition,
                            "fired_at": now,
                            "outcome": f.outcome,
                        }
                        for f in firings
                    ],
                )
                summary.fired.update(f.rule.name for f in firings)
            if audited and self.audit_keys is not None:
                record_events(
                    conn,
                    [_event(tenant_id, f, run_id) for f in firings],
                    keys=self.audit_keys,
                    now=now,
                )
            if final and summary.baseline:
                set_value(conn, _BASELINE.format(tenant=tenant_id), now.isoformat())
            if final and summary.full:
                set_value(conn, _LAST_FULL.format(tenant=tenant_id), now.isoformat())
            elif not summary.full and stored is not None:
                # the pages so far: the stored counter plus everyone recomputed in this pass
                count_changes(conn, tenant_id, stored[1], summary.recomputed)


def _event(tenant_id: str, firing: Firing, run_id: str) -> AuditEvent:
    return AuditEvent(
        actor=f"rule:{firing.rule.name}",
        tenant_id=tenant_id,
        action="rule.fired",
        outcome="failed" if "failed" in firing.outcome else "ok",
        stream="customers",
        record_key=firing.customer_key,
        subject=firing.customer_key,
        run_id=run_id,
        details={
            "rule": firing.rule.name,
            "transition": firing.transition,
            "outcome": firing.outcome,
        },
    )

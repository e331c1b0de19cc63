"""Build connectors from the config and run pipelines in dependency order.

A pipeline that links to or associates with another pipeline's records (orders → customers)
runs after it, so most orders find their customer's CRM id in the same ``b2sync sync``.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog

from audit import config_loaded_event, record_events
from connectors.base import Connector, SupportsFetch, load
from connectors.calls import call_scope
from connectors.errors import ConnectorError
from connectors.records import Record
from mapping.config import B2ConnectConnection, Config, Direction, Pipeline
from store import begin_write, make_engine, upgrade
from store.models import RunStatus, Side
from sync import state
from sync.breaker import BreakerTrip, allowance_settings, clear_allowance, tripped
from sync.dispatch import execute_directions
from sync.hashing import FieldHasher
from sync.hooks import HookContext, HookFactory, RecordHook, hooks_for, run_hooks
from sync.keys import open_keys
from sync.locks import Locks, guarded
from sync.push import needs_lengths
from sync.push.engine import PipelineRun
from sync.push.in_hand import records_in_memory
from sync.push.pending import associating_after
from sync.replay import ReplaySource, due_dead_letters, due_pull_dead_letters
from sync.retry import RetryPolicy, change_pages
from sync.run import Progress, RunSummary
from sync.settings import resolve

__all__ = [
    "Runner",
    "after",
    "combined",
    "dependency_order",
    "parallel_groups",
    "side_by_side",
]

log = structlog.get_logger(__name__)
R = TypeVar("R")


def dependency_order(pipelines: Sequence[Pipeline]) -> list[Pipeline]:
    """Pipelines sorted so that link/association targets come first (stable otherwise)."""
    by_name = {p.name: p for p in pipelines}
    ordered: list[Pipeline] = []
    seen: set[str] = set()

    def visit(pipe: Pipeline, stack: tuple[str, ...]) -> None:
        if pipe.name in seen or pipe.name in stack:
            return
        for dep in _dependencies(pipe):
            if dep in by_name:
                visit(by_name[dep], (*stack, pipe.name))
        seen.add(pipe.name)
        ordered.append(pipe)

    for pipe in pipelines:
        visit(pipe, ())
    return ordered


def parallel_groups(pipelines: Sequence[Pipeline]) -> list[list[Pipeline]]:
    """``pipelines`` split into groups that may run at the same time: pipelines that share a
    CRM connection (one API budget) or depend on each other (links, associations) stay in one
    group, in dependency order; different groups touch neither each other's budget nor state.
    """
    ordered = dependency_order(pipelines)
    parent = {p.name: p.name for p in ordered}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    first_of: dict[str, str] = {}
    for pipe in ordered:
        others = [first_of.setdefault(pipe.crm.connection, pipe.name)]
        others += [d for d in _dependencies(pipe) if d in parent]
        for other in others:
            parent[root(other)] = root(pipe.name)
    groups: dict[str, list[Pipeline]] = {}
    for pipe in ordered:
        groups.setdefault(root(pipe.name), []).append(pipe)
    return list(groups.values())


def side_by_side(
    pipelines: Sequence[Pipeline],
    run: Callable[[Pipeline], R | None],
    *,
    start: Callable[[list[Pipeline]], Callable[[list[R]], None]] | None = None,
    beside: tuple[Collection[str], Callable[[], object]] | None = None,
    early: bool = False,
) -> list[R]:
    """``run`` of every pipeline: the :func:`parallel_groups` groups at the same time, and
    inside a group each pipeline as soon as the ones it depends on (:func:`after`) have
    finished, so pipelines of one CRM that do not depend on each other (customers and
    companies) share its budget side by side instead of one after another; a pipeline whose
    dependency raised does not run. Results in ``pipelines``' order (None results, a
    pipeline skipped, left out). ``start(group)`` runs as a group starts; what it returns
    gets the group's results once the group is done (:meth:`Runner.warm_up`).

    ``beside = (names, job)``: ``job`` runs once the named pipelines have finished (however
    they ended), beside the pipelines still running (the insights pass beside the orders
    pipelines once the customers pipelines are done); its error is raised at the end.

    ``early``: a pipeline that only *associates* with others of its group (HubSpot orders
    with their contacts) starts at once instead of after them: the associations whose
    contact is not linked yet are deferred, and the run makes them once those pipelines
    have finished (:func:`sync.push.pending.associating_after`). Not for a dry run: it
    would plan those associations as deferred."""
    groups = parallel_groups(pipelines)
    results: dict[str, R | None] = {}
    futures: dict[str, Future[None]] = {}

    def run_one(pipe: Pipeline, needs: list[Future[None]], soft: list[Future[None]]) -> None:
        for need in needs:
            need.result()  # a dependency that raised: this one does not run
        if not soft:
            results[pipe.name] = run(pipe)
            return

        def upstream_done() -> None:
            wait(soft)  # however they ended

        with associating_after(upstream_done):
            results[pipe.name] = run(pipe)

    def run_beside(job: Callable[[], object], needs: list[Future[None]]) -> None:
        wait(needs)
        job()

    ends = [(group, start(group) if start is not None else None) for group in groups]
    with ThreadPoolExecutor(len(pipelines) + 1, thread_name_prefix="b2sync-pipeline") as pool:
        for group in groups:  # dependency order: what a pipeline needs is submitted before it
            for pipe in group:
                deps = after(pipe, group)
                later = set(associated_only(pipe, deps)) if early else set()
                needs = [futures[n] for n in deps if n in futures and n not in later]
                soft = [futures[n] for n in deps if n in futures and n in later]
                futures[pipe.name] = pool.submit(
                    contextvars.copy_context().run, run_one, pipe, needs, soft
                )
        extra = []
        if beside is not None:
            names, job = beside
            needs = [futures[n] for n in names if n in futures]
            extra.append(pool.submit(contextvars.copy_context().run, run_beside, job, needs))
        wait([*futures.values(), *extra])
    for group, done in ends:
        if done is not None:
            done([r for p in group if (r := results.get(p.name)) is not None])
    for future in [*futures.values(), *extra]:
        future.result()  # the first error (in pipelines' order) is raised
    return [result for p in pipelines if (result := results.get(p.name)) is not None]


def after(pipe: Pipeline, group: Sequence[Pipeline]) -> list[str]:
    """The pipelines of ``group`` that ``pipe`` runs after: those it links or associates
    with, and the customers pipeline whose contacts it creates in B2Connect
    (``create_in_shop``)."""
    names = {p.name for p in group}
    needs = _dependencies(pipe)
    if pipe.create_in_shop is not None and pipe.create_in_shop.contacts is not None:
        needs.append(pipe.create_in_shop.contacts)
    return [name for name in dict.fromkeys(needs) if name in names and name != pipe.name]


def associated_only(pipe: Pipeline, names: Sequence[str]) -> list[str]:
    """Those of ``names`` (pipelines ``pipe`` runs after) that ``pipe`` only associates
    with: no field links to them and it creates no contacts of theirs, so it can write
    its own records before they finish and associate once they have (a lookup field, as
    Salesforce's order-to-contact, needs the link when the record is written)."""
    if pipe.create_in_shop is not None:
        return []
    linked = {
        str(step["link"])
        for spec in [*pipe.fields, *(pipe.lines.fields if pipe.lines else [])]
        for step in spec.transform
        if isinstance(step, dict) and "link" in step
    }
    associated = {a.pipeline for a in pipe.associations}
    return [n for n in names if n in associated and n not in linked]


def _crm_of(config: Config, pipeline: str) -> str | None:
    """The CRM connection of the pipeline named ``pipeline`` (None: no such pipeline)."""
    found = [p.crm.connection for p in config.pipelines if p.name == pipeline]
    return found[0] if found else None


def _dependencies(pipe: Pipeline) -> list[str]:
    deps = [a.pipeline for a in pipe.associations]
    for spec in pipe.fields:
        deps.extend(str(s["link"]) for s in spec.transform if isinstance(s, dict) and "link" in s)
    return deps


class Runner:
    """Owns the store engine and one connector per connection for a CLI run or the daemon.

    ``hooks`` (required) are the record hook factories of every run, in the order they run;
    the product builds its runners with ``b2sync.runtime.build_runner``."""

    def __init__(
        self,
        config: Config,
        *,
        hooks: Sequence[HookFactory],
        stop: threading.Event | None = None,
        clock: Callable[[], datetime] | None = None,
        retry: RetryPolicy | None = None,
        migrate: bool = True,
        connector_options: Mapping[str, Mapping[str, Any]] | None = None,
        tenant: str | None = None,
    ) -> None:
        records_in_memory()  # a bad B2SYNC_RECORDS_IN_MEMORY refuses to start (sync.push.in_hand)
        self.config = config
        #: the record hook factories every pipeline run applies, in order (tombstones first)
        self.hooks = tuple(hooks)
        self.stop = stop or threading.Event()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.retry = retry or RetryPolicy()
        #: the store engine of ``tenant`` (default ``$B2SYNC_TENANT`` or ``default``): it sees
        #: and writes only that tenant's rows
        self.db: sa.Engine = make_engine(resolve(config.state_url), tenant=tenant)
        if migrate:
            upgrade(self.db)
        try:
            with begin_write(self.db) as conn:  # refuses keys the store was not written with
                self.audit_keys, self._hasher = open_keys(conn, config)
        except Exception:
            self.db.dispose()
            raise
        self._connectors: dict[str, Connector] = {}
        #: connection gates and pipeline locks: every connector call passes its connection's
        #: gate (up to the connection's ``concurrency`` at once), every run holds its
        #: pipeline's lock (see :mod:`sync.locks`)
        self.locks = Locks({name: c.concurrency for name, c in config.connections.items()})
        self._guarded: dict[str, Connector] = {}
        self.connector_options = dict(connector_options or {})
        if self.audit_keys is not None:
            self._audit_config()

    # ------------------------------------------------------------------ parts

    def _audit_config(self) -> None:
        """Record ``config.loaded`` when the config differs from the one last recorded."""
        pipelines = {
            p.name: hashlib.sha256(p.model_dump_json().encode()).hexdigest()
            for p in self.config.pipelines
        }
        whole = hashlib.sha256(self.config.model_dump_json().encode()).hexdigest()
        with begin_write(self.db) as conn:
            if state.get_setting(conn, "audit_config_hash") == whole:
                return
            previous = json.loads(state.get_setting(conn, "audit_config_pipelines") or "{}")
            changed = {
                name: self._changed_fields(name)
                for name, digest in pipelines.items()
                if previous.get(name) != digest
            }
            changed.update({name: ["(removed)"] for name in previous if name not in pipelines})
            tenants = sorted({self.tenant_of(p) for p in self.config.pipelines}) or ["default"]
            events = [
                config_loaded_event(tenant_id=t, config_hash=whole, changed=changed, actor="b2sync")
                for t in tenants
            ]
            assert self.audit_keys is not None
            record_events(conn, events, keys=self.audit_keys, now=self.clock())
            state.set_setting(conn, "audit_config_hash", whole)
            state.set_setting(conn, "audit_config_pipelines", json.dumps(pipelines))

    def _changed_fields(self, pipeline: str) -> list[str]:
        return [spec.crm for spec in self.config.pipeline(pipeline).fields]

    def connector(self, name: str) -> Connector:
        """The connector of connection ``name`` (built once, cached), safe to share between
        threads: each of its calls holds the connection's lock for that call only."""
        shared = self._guarded.get(name)
        if shared is not None:  # no wait for another thread's call in progress
            return shared
        with self.locks.connection(name):
            if name not in self._connectors:
                conn_cfg = self.config.connections[name]
                cls = load(conn_cfg.type)
                options = dict(self.connector_options.get(conn_cfg.type, {}))
                if conn_cfg.type == "hubspot":
                    options.setdefault("waiter", self._wait)  # rate waits end at shutdown
                built = cls.from_config(conn_cfg, secrets=resolve, **options)
                self._connectors[name] = built
                self._guarded[name] = guarded(built, self.locks.connection(name))
            return self._guarded[name]

    def _wait(self, seconds: float) -> bool:
        return self.stop.wait(seconds)

    @property
    def hasher(self) -> FieldHasher:
        """Field hasher keyed as :func:`sync.keys.open_keys` decided (and checked)."""
        return self._hasher

    def tenant_of(self, pipe: Pipeline) -> str:
        """The B2Connect tenant a pipeline reads."""
        conn_cfg = self.config.connections[pipe.b2connect.connection]
        assert isinstance(conn_cfg, B2ConnectConnection)
        return resolve(conn_cfg.tenant_id)

    def concurrency_of(self, pipe: Pipeline) -> int:
        """Write batches a run of ``pipe`` keeps in flight: its own ``concurrency``, else its
        CRM connection's (the connection's gate caps all runs together)."""
        return pipe.concurrency or self.config.connections[pipe.crm.connection].concurrency

    def warm_up(self, group: Sequence[Pipeline]) -> Callable[[Sequence[RunSummary]], None]:
        """Start preparing, on a thread of its own, what the first backfill of ``group`` will
        write into: the CRM objects (and line objects) of its push pipelines that have no
        cursor yet, all at once on a connector that can (HubSpot checks or creates each id
        property, Salesforce describes the objects whose field lengths a pipeline truncates
        to; the first write of each would, one after another). The same calls, earlier
        and side by side; a failure is left to the pipeline's own write to report. Returns
        the end of it: given the group's summaries once the group is done, it waits for the
        preparation and counts its calls in the summary of the connection's first pipeline."""
        wanted: dict[str, list[tuple[str, str | None]]] = {}
        described: dict[str, list[str]] = {}
        with self.db.connect() as conn:
            for pipe in group:
                if pipe.direction is Direction.pull:
                    continue
                stream = pipe.b2connect.stream
                if state.get_cursor(conn, pipe.name, stream, Side.B2CONNECT) is not None:
                    continue
                objects = wanted.setdefault(pipe.crm.connection, [])
                objects.append((pipe.crm.object, pipe.crm.id_property))
                if pipe.lines is not None:
                    objects.append((pipe.lines.object, pipe.lines.id_property))
                if needs_lengths(pipe):
                    lengths = described.setdefault(pipe.crm.connection, [])
                    lengths.append(pipe.crm.object)
                    if pipe.lines is not None:
                        lengths.append(pipe.lines.object)
        jobs: list[tuple[str, Callable[[Any], None], Any]] = [
            (name, prepare, objects)
            for name, objects in wanted.items()
            if (prepare := getattr(self.connector(name), "prepare_writes", None)) is not None
        ]
        jobs += [
            (name, prepare, objects)
            for name, objects in described.items()
            if (prepare := getattr(self.connector(name), "prepare_lengths", None)) is not None
        ]
        calls: dict[str, Counter[str]] = {name: Counter() for name, _, _ in jobs}

        def prepare_all() -> None:
            for name, prepare, objects in jobs:
                with call_scope() as counted:
                    try:
                        prepare(objects)
                    except ConnectorError as exc:  # the pipeline's own first write reports it
                        log.info("warm_up.failed", connection=name, error=type(exc).__name__)
                calls[name].update(counted)

        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(prepare_all,),
            name="b2sync-warm-up",
            daemon=True,
        )
        if jobs:
            thread.start()

        def finish(summaries: Sequence[RunSummary]) -> None:
            if not jobs:
                return
            thread.join()
            for name, counted in calls.items():
                mine = [s for s in summaries if _crm_of(self.config, s.pipeline) == name]
                if mine and counted:
                    mine[0].api_calls.update(counted)

        return finish

    def close(self) -> None:
        """Close connectors and the store."""
        for connector in self._connectors.values():
            connector.close()
        self._connectors.clear()
        self._guarded.clear()
        self.db.dispose()

    # ------------------------------------------------------------------ running

    def select(self, names: Sequence[str] | None) -> list[Pipeline]:
        """The named pipelines (all enabled ones by default) in dependency order."""
        if names:
            chosen = [self.config.pipeline(n) for n in names]
        else:
            chosen = [p for p in self.config.pipelines if p.enabled]
        return dependency_order(chosen)

    def paused_until(self, pipe: Pipeline) -> datetime | None:
        """When a paused pipeline may run again (None: not paused)."""
        with self.db.connect() as conn:
            value = state.get_setting(conn, f"paused_until:{pipe.name}")
        if value is None:
            return None
        until = datetime.fromisoformat(value)
        return until if until > self.clock() else None

    def breaker_trip(self, pipe: Pipeline) -> BreakerTrip | None:
        """The pipeline's tripped delete breaker (None: not tripped)."""
        with self.db.connect() as conn:
            return tripped(conn, pipe.name)

    def run_pipeline(
        self,
        pipe: Pipeline,
        *,
        full: bool = False,
        dry_run: bool = False,
        trigger: str = "manual",
        progress: Progress | None = None,
        source_override: Any = None,
        parked: Sequence[Record] | None = None,
        fence: int | None = None,
    ) -> RunSummary:
        """Run one pipeline once (honouring a pause unless it is a dry run); runs of one
        pipeline in this process take turns (the scheduler's, a consent release, a replay).
        ``parked``: replay these CRM records (the pull's dead letters) through the pull.
        ``fence``: the fencing token of a worker's distributed lock (:mod:`sync.fencing`)."""
        with self.locks.pipeline(pipe.name):
            return self._run_pipeline(
                pipe, full=full, dry_run=dry_run, trigger=trigger, progress=progress,
                source_override=source_override, parked=parked, fence=fence,
            )  # fmt: skip

    def _run_pipeline(
        self,
        pipe: Pipeline,
        *,
        full: bool,
        dry_run: bool,
        trigger: str,
        progress: Progress | None,
        source_override: Any,
        parked: Sequence[Record] | None,
        fence: int | None = None,
        restricted: bool = False,
        lane: int = 0,
    ) -> RunSummary:
        trip = None if dry_run else self.breaker_trip(pipe)
        if trip is not None:  # paused until an operator resets the delete breaker
            summary = RunSummary(pipe.name, "-", RunStatus.PAUSED)
            summary.error = trip.message
            return summary
        until = None if dry_run else self.paused_until(pipe)
        if until is not None:
            summary = RunSummary(pipe.name, "-", RunStatus.PAUSED, resume_at=until)
            summary.error = f"paused until {until.isoformat()}"
            return summary
        run = PipelineRun(
            pipeline=pipe,
            shop=source_override or self.connector(pipe.b2connect.connection),
            crm=self.connector(pipe.crm.connection),
            db=self.db,
            hasher=self.hasher,
            tenant_id=self.tenant_of(pipe),
            stop=self.stop,
            clock=self.clock,
            full=full,
            dry_run=dry_run,
            trigger=trigger,
            retry=self.retry,
            progress=progress,
            replay=source_override is not None or parked is not None,
            audit_keys=self.audit_keys,
            target_system=self.config.connections[pipe.crm.connection].type,
            hooks=hooks_for(self.hooks, self.config, pipe),
            concurrency=self.concurrency_of(pipe),
            fence=fence,
            # a webhook's records run alone: no read-ahead of another pipeline's backlog (the
            # orders a backfill has not reached: pages of calls and ledger writes per webhook)
            upcoming=None if restricted else self.upcoming,
            restricted=restricted,
            lane=lane,
        )
        summary = execute_directions(run, parked, self._members(pipe))
        if summary.status is RunStatus.SUCCEEDED and not dry_run:
            self._settle(pipe)
        return summary

    def _settle(self, pipe: Pipeline) -> None:
        """A run succeeded: a pause it outlived and the operator's one-time allowances are
        cleared. Read first: most runs have none, and a write transaction would queue behind
        a backfill's commit (a webhook's run waits for every write it begins)."""
        names = (f"paused_until:{pipe.name}", *allowance_settings(pipe.name))
        with self.db.connect() as conn:
            if all(state.get_setting(conn, name) is None for name in names):
                return
        with begin_write(self.db) as conn:
            state.set_setting(conn, names[0], None)
            clear_allowance(conn, pipe.name)

    def run_records(
        self, pipe: Pipeline, keys: Sequence[str], *, trigger: str = "webhook", lane: int = 0
    ) -> RunSummary | None:
        """Push only the named B2Connect records (fetched by id) through ``pipe`` now, beside
        a run of the whole pipeline (a backfill): its own lease, the cursor untouched (that
        run reads them later, unchanged by their hashes). None: nothing to run (a pull-only
        pipeline, a source that cannot fetch by id, no such record). Records runs of one
        ``lane`` take turns; runs on different lanes go on at once, so their callers give
        them disjoint records (a record's older version must never land after its newer)."""
        source = self.connector(pipe.b2connect.connection)
        if pipe.direction is Direction.pull or not isinstance(source, SupportsFetch):
            return None
        found = source.fetch(pipe.b2connect.stream, list(dict.fromkeys(keys)))
        if not found:
            return None
        with self.locks.pipeline(f"{pipe.name}:records:{lane}"):
            return self._run_pipeline(
                pipe, full=False, dry_run=False, trigger=trigger, progress=None,
                source_override=ReplaySource(list(found.values())), parked=None, restricted=True,
                lane=lane,
            )  # fmt: skip

    def upcoming(
        self, name: str, cursor: Mapping[str, Any] | None
    ) -> Iterator[tuple[list[Record], Mapping[str, Any] | None]]:
        """What pipeline ``name`` reads from B2Connect after ``cursor`` (its stored cursor
        does not move), page by page through its hooks as a dry run (nothing recorded,
        nothing written): (records, the page's cursor). A feature's hook reads another
        pipeline's changes ahead with it (:class:`sync.hooks.HookContext`)."""
        pipe = self.config.pipeline(name)
        stream = pipe.b2connect.stream
        shop = self.connector(pipe.b2connect.connection)
        hooks = hooks_for(self.hooks, self.config, pipe)
        context = HookContext(
            pipeline=pipe,
            db=self.db,
            hasher=self.hasher,
            tenant_id=self.tenant_of(pipe),
            run_id=f"upcoming:{pipe.name}",
            now=self.clock(),
            dry_run=True,
        )
        feed = change_pages(
            shop, stream, cursor, what=f"read {stream} ahead", stop=self.stop, policy=self.retry
        )
        for page in feed:
            yield run_hooks(hooks, context, list(page.records)), page.cursor

    def _members(self, pipe: Pipeline) -> tuple[Pipeline, list[RecordHook]] | None:
        """The customers pipeline (and its hooks) creating a marked company's contacts."""
        spec = pipe.create_in_shop
        if spec is None or spec.contacts is None:
            return None
        contacts = self.config.pipeline(spec.contacts)
        return contacts, hooks_for(self.hooks, self.config, contacts)

    def replay(
        self,
        pipe: Pipeline,
        *,
        everything: bool = False,
        progress: Progress | None = None,
        fence: int | None = None,
    ) -> RunSummary | None:
        """Re-run a pipeline's pending dead letters (due ones, or all with ``everything``):
        the pull's through the pull, then the push's (records and order lines); ``fence``:
        the distributed lock's token, as for :meth:`run_pipeline`."""
        now = self.clock()
        with self.db.connect() as conn:
            pulled = due_pull_dead_letters(conn, pipe, now, everything=everything)
            pushed = due_dead_letters(conn, pipe, now, everything=everything)
        summaries = []
        if pulled:
            summaries.append(
                self.run_pipeline(
                    pipe, trigger="replay", progress=progress, parked=pulled, fence=fence
                )
            )
        if pushed:
            summaries.append(
                self.run_pipeline(
                    pipe,
                    trigger="replay",
                    progress=progress,
                    source_override=ReplaySource(pushed),
                    fence=fence,
                )
            )
        return combined(summaries)


def combined(summaries: Sequence[RunSummary]) -> RunSummary | None:
    """One summary of consecutive runs of a pipeline: counts and calls added up, the first
    run that did not succeed gives the status and error."""
    if not summaries:
        return None
    first, *rest = summaries
    for summary in rest:
        first.counts.update(summary.counts)
        first.api_calls.update(summary.api_calls)
    failed = next((s for s in summaries if s.status is not RunStatus.SUCCEEDED), None)
    if failed is not None:
        first.status, first.error, first.resume_at = failed.status, failed.error, failed.resume_at
    return first

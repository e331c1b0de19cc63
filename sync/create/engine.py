"""Records created in the CRM, created in the shop: ``create_in_shop`` (off unless set).

A :class:`ShopCreateRun` reads the pipeline's CRM object from its own cursor (``cursors`` row
with side ``crm`` and stream ``create:<object>``), and per page:

1. keeps the live records meeting ``create_in_shop.when`` (``B2C_Create_In_Shop__c = true``);
2. identity first, never a duplicate: a record already linked (by its CRM id), or carrying a
   B2Connect key in its id property, is left to push and pull; for the rest B2Connect's
   create route matches on the email (customers) or VAT id (companies) and answers with the
   live record it already has, which is then linked instead of created (``matched``) unless
   another CRM record is linked to it already: a duplicate in the CRM, dead-lettered as
   ``DUPLICATE_IN_CRM`` for a person to merge (the shop gets no second record);
3. runs the record hooks (``origin="crm"``: tombstones, so an erased person is never
   re-created from a stale CRM record) on the B2Connect-shaped records;
4. creates them (``POST /api/crm/customers|companies``) from the CRM values mapped back
   through the pipeline's invertible fields, whatever their direction. No consent is sent:
   nobody gets marketing consent by being created (the consent sync alone carries decisions);
5. for a companies pipeline with ``contacts:``, reads each marked company's contacts and
   creates them the same way through that customers pipeline (``companyId`` set,
   ``customerType: Business``);
6. writes the new B2Connect key into the CRM record's id property, then commits links (with
   the CRM values' field hashes, so the next push and pull find nothing to write back),
   audit events (``b2connect.write``, outcome ``created`` or ``matched``),
   dead letters of refused creates and the cursor in one transaction, after the writes.

A crash between a create and the commit replays the page: B2Connect then answers the
customer's create with the record it made (same email), which is linked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import structlog

from audit import AuditEvent, record_events
from audit.events import B2CONNECT_WRITE
from connectors.base import SupportsCreate, SupportsMembers
from connectors.errors import Fatal
from connectors.records import Record, WriteItem, WriteResult
from mapping.compiler import compile_fields
from mapping.config import Direction, Pipeline, Rule
from store import begin_write
from store.models import Side
from sync import state
from sync.create.store import DUPLICATE_IN_CRM, parked_twins
from sync.hooks import RecordHook, run_hooks
from sync.pull.audit import PullFacts, pull_event
from sync.pull.engine import DEFAULT_ID_PROPERTY, PullRun
from sync.pull.fields import PullField, nest, pull_fields
from sync.pull.plan import crm_side
from sync.pull.store import links_by_crm_id
from sync.replay import crm_dead_letter as _crm_dead_letter
from sync.run import latest_per_key
from sync.state import DeadLetterRow

__all__ = ["CREATE_STREAM", "ShopCreateRun"]

log = structlog.get_logger(__name__)

#: the cursor stream of a pipeline's create step
CREATE_STREAM = "create:{object}"
#: what a contact created with its company carries besides its mapped fields
BUSINESS = {"customerType": "Business"}


@dataclass
class _Side:
    """One pipeline the step creates records of: its fields (all invertible ones, whatever
    their direction), id property, hooks and CRM field lengths."""

    pipeline: Pipeline
    fields: list[PullField]
    id_property: str
    hooks: Sequence[RecordHook]
    lengths: dict[str, int | None]

    @property
    def crm_fields(self) -> list[str]:
        return sorted({f.crm for f in self.fields} | {self.id_property})


@dataclass
class _Made:
    """What one page's creates commit, per pipeline."""

    links: dict[str, list[tuple[str, str | None, dict[str, str], str]]] = field(
        default_factory=dict
    )
    dead: dict[str, list[DeadLetterRow]] = field(default_factory=dict)
    resolved: dict[str, list[str]] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    #: CRM id -> B2Connect key of the records created or matched (the companies)
    keys: dict[str, str] = field(default_factory=dict)


@dataclass
class ShopCreateRun(PullRun):
    """Creates in B2Connect the CRM records of one pipeline marked for the shop (and, for a
    companies pipeline with ``contacts:``, their contacts through ``members``)."""

    #: the customers pipeline creating a marked company's contacts, and its hooks
    members: tuple[Pipeline, Sequence[RecordHook]] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        spec = self.pipeline.create_in_shop
        if spec is None:
            raise ValueError(f"pipeline '{self.pipeline.name}' has no create_in_shop")
        self.when = spec.when
        self.own = self._side(self.pipeline, self.hooks)
        self.contacts = None if self.members is None else self._side(*self.members)

    def _side(self, pipe: Pipeline, hooks: Sequence[RecordHook]) -> _Side:
        loose = pipe.model_copy(
            update={
                "direction": Direction.both,
                "fields": [
                    f.model_copy(update={"direction": None, "rule": Rule.two_way})
                    for f in pipe.fields
                ],
            }
        )
        schema = self.shop.describe(pipe.b2connect.stream)
        writable = {name for name, info in schema.fields.items() if info.updateable}
        fields = pull_fields(loose, compile_fields(loose.fields), writable)
        id_property = pipe.crm.id_property or DEFAULT_ID_PROPERTY.get(self.crm.name, "b2connect_id")
        return _Side(pipe, fields, id_property, hooks, {})

    # ------------------------------------------------------------------ the loop

    def _run(self) -> None:
        stream = CREATE_STREAM.format(object=self.pipeline.crm.object)
        with self.db.connect() as conn:
            cursor = state.get_cursor(conn, self.pipeline.name, stream, Side.CRM)
        self.own.lengths = self._lengths_of(self.own)
        if self.contacts is not None:
            self.contacts.lengths = self._lengths_of(self.contacts)
        wanted = sorted({*self.own.crm_fields, self.when.field})
        for page in self.crm_pages(None if self.full else cursor, wanted):
            self._bump({"read": len(page.records)})
            made = self._page(latest_per_key(page.records))
            if not self.dry_run:
                self._commit_created(made, stream, page.cursor)
            self._bump(made.counts)
            if self.stop.is_set():
                return

    def _lengths_of(self, side: _Side) -> dict[str, int | None]:
        if not any(n == "truncate" for f in side.fields for n, _, _ in f.compiled.steps):
            return {}
        crm_object = side.pipeline.crm.object
        schema = self._retry(lambda: self.crm.describe(crm_object), "describe")
        return {n: info.length for n, info in schema.fields.items()}

    def _page(self, records: Sequence[Record]) -> _Made:
        made = _Made()
        marked = [r for r in records if not r.deleted and self.when.holds(r.fields)]
        self._make(self.own, marked, {}, made)
        if self.contacts is not None and made.keys:
            self._make_contacts(self.contacts, made)
        return made

    def _make_contacts(self, side: _Side, made: _Made) -> None:
        crm = self.crm
        if not isinstance(crm, SupportsMembers):
            raise Fatal(f"connector '{crm.name}' cannot read the contacts of companies")
        companies = dict(made.keys)
        company_object, contact_object = self.pipeline.crm.object, side.pipeline.crm.object
        found: dict[str, list[Record]] = self._retry(
            lambda: crm.members(company_object, sorted(companies), contact_object, side.crm_fields),
            f"read {contact_object} of {company_object}",
        )
        for company, contacts in sorted(found.items()):
            extra = {**BUSINESS, "companyId": companies[company]}
            self._make(side, contacts, extra, made)

    # ------------------------------------------------------------------ one batch

    def _make(
        self, side: _Side, records: Sequence[Record], extra: Mapping[str, Any], made: _Made
    ) -> None:
        """Create (or match) the B2Connect records of ``records`` through ``side``."""
        name = side.pipeline.name
        keys = [r.key for r in records]
        with self.db.connect() as conn:
            linked = links_by_crm_id(conn, name, keys)
            twins = parked_twins(conn, name, _dead_stream(side.pipeline), keys)
        for record in records:
            if record.key in linked and linked[record.key].key:
                made.keys[record.key] = linked[record.key].key
        fresh = [r for r in records if r.key not in linked and not r.fields.get(side.id_property)]
        made.counts["already_linked"] += len(records) - len(fresh)
        parked = {r.key for r in fresh if r.key in twins and twins[r.key] == _stamp_of(r)}
        fresh = [r for r in fresh if r.key not in parked]  # unchanged CRM duplicates wait
        made.counts["duplicate_in_crm"] += len(parked)
        bodies = self._bodies(side, fresh, extra, made)
        passed = self._screened(side, fresh, bodies, made)
        if self.dry_run:
            self._describe_creates(side, passed, bodies)
            return
        results = self._create(side, [WriteItem(r.key, bodies[r.key][0]) for r in passed])
        self._settle_all(side, passed, bodies, results, made)
        self._stamp(side, [r for r in results.values() if r.ok and r.crm_id])

    def _bodies(
        self, side: _Side, records: Sequence[Record], extra: Mapping[str, Any], made: _Made
    ) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
        """CRM id -> (the B2Connect create body, the CRM values' field hashes); a value that
        cannot be mapped back dead-letters its record."""
        bodies: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        for record in records:
            values, hashes, bad = crm_side(record, side.fields, self.hasher, side.lengths)
            if bad is not None:
                why = f"the CRM value of {bad} cannot be mapped to B2Connect"
                dead = _dead(side, _crm_dead_letter(record, "BAD_VALUE", why, bad))
                made.dead.setdefault(side.pipeline.name, []).append(dead)
                continue
            body: dict[str, Any] = dict(extra)
            for spec in side.fields:
                if values.get(spec.crm) not in (None, ""):
                    nest(spec.path, spec.back(values[spec.crm]), body)
            bodies[record.key] = (body, hashes)
        return bodies

    def _settle_all(
        self,
        side: _Side,
        passed: Sequence[Record],
        bodies: Mapping[str, tuple[dict[str, Any], dict[str, str]]],
        results: dict[str, WriteResult],
        made: _Made,
    ) -> None:
        """Links, audit events and dead letters of the creates; a match another CRM record
        is linked to already is the CRM's duplicate (dropped from ``results``: no stamp)."""
        name = side.pipeline.name
        matched = [str(r.crm_id) for r in results.values() if r.ok and r.crm_id and not r.created]
        with self.db.connect() as conn:
            taken = state.load_links(conn, name, matched)
        for record in passed:
            result = results.get(record.key)
            link = taken.get(str(result.crm_id)) if result is not None else None
            if link is not None and link.crm_id not in (None, record.key):
                why = (
                    f"B2Connect's {side.pipeline.b2connect.stream} {link.key} (same identity) "
                    f"is already linked to CRM record {link.crm_id}: merge the duplicate in the CRM"
                )
                dead = _dead(side, _crm_dead_letter(record, DUPLICATE_IN_CRM, why))
                made.dead.setdefault(name, []).append(dead)
                made.counts["duplicate_in_crm"] += 1
                results.pop(record.key)
                continue
            self._settle_create(side, record, bodies[record.key], result, made)

    def _stamp(self, side: _Side, results: Sequence[WriteResult]) -> None:
        """Write the B2Connect key into the CRM records' id property (by their CRM id), so a
        CRM user sees which records the shop has and a lost link can be found again."""
        items = [WriteItem(str(r.crm_id), {}, crm_id=r.key) for r in results]
        kwargs = {"id_property": side.id_property}
        for key, result in self._send(self.crm, side.pipeline.crm.object, items, kwargs).items():
            if not result.ok:
                log.warning("create.stamp_failed", key=key, code=result.error and result.error.code)

    def _screened(
        self,
        side: _Side,
        records: Sequence[Record],
        bodies: Mapping[str, tuple[dict[str, Any], dict[str, str]]],
        made: _Made,
    ) -> list[Record]:
        """The records the hooks let through (an erased person's stale record is blocked)."""
        candidates = [r for r in records if r.key in bodies]
        if not side.hooks or not candidates:
            return candidates
        views = [
            Record(side.pipeline.b2connect.stream, r.key, {"id": r.key, **bodies[r.key][0]},
                   updated_at=r.updated_at, tenant_id=self.tenant_id, modified_by=r.modified_by)
            for r in candidates
        ]  # fmt: skip
        context = replace(self._hook_context(), origin="crm", pipeline=side.pipeline)
        kept = {r.key for r in run_hooks(side.hooks, context, views)}
        made.counts["blocked"] += len(candidates) - len(kept)
        return [r for r in candidates if r.key in kept]

    def _describe_creates(
        self,
        side: _Side,
        records: Sequence[Record],
        bodies: Mapping[str, tuple[dict[str, Any], dict[str, str]]],
    ) -> None:
        stream = side.pipeline.b2connect.stream
        for record in records:
            self.summary.dry_run_plan.append(
                {"key": record.key, "action": "create", "object": stream,
                 "fields": bodies[record.key][0]}
            )  # fmt: skip
        self._bump({"would_create": len(records)})

    def _create(self, side: _Side, items: list[WriteItem]) -> dict[str, WriteResult]:
        if not items:
            return {}
        shop = self.shop
        if not isinstance(shop, SupportsCreate):
            raise Fatal(f"connector '{shop.name}' cannot create records", code="NO_CREATE")
        stream = side.pipeline.b2connect.stream
        results = cast(
            list[WriteResult], self._retry(lambda: shop.create(stream, items), f"create {stream}")
        )
        return {r.key: r for r in results}

    def _settle_create(
        self,
        side: _Side,
        record: Record,
        body_hashes: tuple[dict[str, Any], dict[str, str]],
        result: WriteResult | None,
        made: _Made,
    ) -> None:
        name = side.pipeline.name
        body, hashes = body_hashes
        if result is None or not result.ok or not result.crm_id:
            error = result.error if result is not None else None
            made.dead.setdefault(name, []).append(
                _dead(
                    side,
                    _crm_dead_letter(
                        record,
                        error.code if error else "NO_RESULT",
                        error.message if error else "B2Connect returned no outcome",
                        error.field if error else None,
                        retry_at=self.clock() if error is None or error.retriable else None,
                    ),
                )
            )
            return
        key = result.crm_id
        made.keys[record.key] = key
        made.links.setdefault(name, []).append(
            (key, record.key, hashes, self.hasher.record(hashes))
        )
        made.resolved.setdefault(name, []).append(record.key)
        outcome = "created" if result.created else "matched"
        made.counts[outcome] += 1
        made.counts["written"] += int(result.created)
        facts = PullFacts(self.tenant_id, self.run_id, self.target_system)
        made.audit.append(
            pull_event(side.pipeline, facts, B2CONNECT_WRITE, key, sorted(body), outcome, body)
        )

    # ------------------------------------------------------------------ commit

    def _commit_created(self, made: _Made, stream: str, cursor: Mapping[str, Any] | None) -> None:
        now = self.clock()
        with begin_write(self.db) as conn:
            for name, rows in made.links.items():
                crm_object = self._pipeline_named(name).crm.object
                state.upsert_links(
                    conn, pipeline=name, tenant_id=self.tenant_id, crm_object=crm_object,
                    rows=rows, now=now,
                )  # fmt: skip
            for name, keys in made.resolved.items():
                dead_stream = _dead_stream(self._pipeline_named(name))
                state.resolve_dead_letters(conn, name, keys, now, stream=dead_stream)
            for name, dead in made.dead.items():
                state.add_dead_letters(conn, name, self.run_id, dead, now)
            if self.audit_keys is not None and made.audit:
                record_events(conn, made.audit, keys=self.audit_keys, now=now)
            if cursor is not None:
                state.set_cursor(conn, self.pipeline.name, stream, Side.CRM, cursor, now)
            failed = sum(len(d) for d in made.dead.values())
            made.counts["dead_lettered"] += failed
            state.add_run_counts(
                conn, self.run_id,
                {"records_written": made.counts["written"], "records_failed": failed},
            )  # fmt: skip
            self._renew(conn, now)
        log.info(
            "create.committed",
            created=made.counts["created"],
            matched=made.counts["matched"],
            dead_lettered=made.counts["dead_lettered"],
        )

    def _pipeline_named(self, name: str) -> Pipeline:
        if self.contacts is not None and name == self.contacts.pipeline.name:
            return self.contacts.pipeline
        return self.pipeline


def _stamp_of(record: Record) -> str | None:
    """A CRM record's modification time as its dead letter stores it."""
    return record.updated_at.isoformat() if record.updated_at else None


def _dead_stream(pipe: Pipeline) -> str:
    """The stream of the create step's dead letters (apart from the pull's, which a pull
    read of the same CRM record resolves): retried when the step reads the record again."""
    return CREATE_STREAM.format(object=pipe.crm.object)


def _dead(side: _Side, row: DeadLetterRow) -> DeadLetterRow:
    """A pull's dead letter (:func:`sync.replay.crm_dead_letter`) moved to the create step's
    stream."""
    return replace(row, stream=_dead_stream(side.pipeline))

"""What the CRMs know about linked customers, read back for the insights pass.

Per tenant and CRM connection of its customers pipelines, when due (every full pass, else at
most every ``insights.engagement_every_minutes`` / ``insights.support_every_minutes``):
email engagement counters (:mod:`insights.engagement`, connectors that are
:class:`~connectors.base.SupportsEngagement`) and support tickets and NPS answers
(:mod:`insights.support`, :class:`~connectors.base.SupportsTouchpoints`). Customers whose
data changed are marked dirty, so the pass rescores them.

The reads do not wait for one another: every due read of every connection, cut into the
connector's ``read_chunk`` (HubSpot: the 100 ids of one batch call; Salesforce: the ids one
SOQL ``IN`` clause holds), goes through one bounded :class:`sync.fanout.Fanout`, and each
connection's gate keeps its own calls in flight within its ``concurrency``. The cut costs no
call: each piece is what the connector would have sent anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import zip_longest
from typing import Any

import sqlalchemy as sa
import structlog

from connectors.base import Connector, SupportsEngagement, SupportsTouchpoints
from connectors.errors import ConnectorError
from insights.engagement import record_engagement
from insights.ledger import get_value, set_value
from insights.support import record_touchpoints
from mapping.config import Config, Pipeline
from store import begin_write
from store.models import metadata
from sync.fanout import Fanout
from sync.retry import RetryPolicy, call

log = structlog.get_logger(__name__)

__all__ = ["PAGE_SIZE", "CrmReadBack"]

#: linked customers a read-back reads and records at a time (a multiple of HubSpot's 100 ids
#: per batch read and of Salesforce's ids per query)
PAGE_SIZE = 2000
#: when a CRM connection's engagement / support data was last read for a tenant
_CRM_READ = "insights:{kind}_read:{tenant}:{source}"


@dataclass(frozen=True)
class _Kind:
    """One kind of read-back: its name (in the mark), the protocol a connector implements
    for it, how often (from the config), the read, its name in the log, and how what was
    read is recorded (``record(conn, tenant, source, found, {key: CRM id}, now)``: the
    customers it marked dirty)."""

    name: str
    protocol: type
    #: the ``insights`` setting that says how often, in minutes
    setting: str
    #: the connector's method that reads it: ``method(crm object, [CRM ids])``
    method: str
    what: str
    record: Callable[[sa.Connection, str, str, Any, dict[str, str], datetime], int]

    def every_minutes(self, config: Config) -> int:
        return int(getattr(config.insights, self.setting))

    def read(self, connector: Any, obj: str, ids: list[str]) -> Any:
        return getattr(connector, self.method)(obj, ids)


def _record_engagement(
    conn: sa.Connection,
    tenant_id: str,
    source: str,
    readings: Any,
    ids: dict[str, str],
    now: datetime,
) -> int:
    by_key = {k: readings[i] for k, i in ids.items() if i in readings}
    return len(record_engagement(conn, tenant_id, source, by_key, now))


def _record_support(
    conn: sa.Connection,
    tenant_id: str,
    source: str,
    found: Any,
    ids: dict[str, str],
    now: datetime,
) -> int:
    del now
    by_key = {k: found.get(i, []) for k, i in ids.items()}
    return len(record_touchpoints(conn, tenant_id, source, by_key))


_ENGAGEMENT, _SUPPORT = (
    _Kind("engagement", SupportsEngagement, "engagement_every_minutes", "read_engagement",
          "read email engagement", _record_engagement),
    _Kind("support", SupportsTouchpoints, "support_every_minutes", "read_touchpoints",
          "read support tickets and NPS answers", _record_support),
)  # fmt: skip


@dataclass
class _Due:
    """One read that is due: a kind, on one CRM connection, of a pipeline's linked contacts
    read a page at a time (``after``: the last customer key of the page read), and the
    settings name that marks it done."""

    kind: _Kind
    source: str
    pipe: Pipeline
    connector: Any
    mark: str
    after: str | None = None
    done: bool = False
    failed: bool = False

    def parts(self, ids: dict[str, str]) -> list[list[str]]:
        """The CRM ids of a page in the pieces read side by side: the connector's
        ``read_chunk`` ids each (as many calls as one read of them all), or all at once
        when it does not say."""
        wanted = sorted(set(ids.values()))
        size = getattr(self.connector, "read_chunk", None)
        if not isinstance(size, int) or size <= 0:
            return [wanted]
        return [wanted[start : start + size] for start in range(0, len(wanted), size)]


@dataclass
class CrmReadBack:
    """Reads engagement and support data of a tenant's linked contacts from its CRMs."""

    config: Config
    db: sa.Engine
    connector: Callable[[str], Connector]
    #: the tenant's enabled customers pipelines
    pipelines: Callable[[str], list[Pipeline]]
    retry: RetryPolicy
    stop: threading.Event
    #: linked customers per read and record (a page of every due read at a time), so the
    #: read-back holds a page's ids and readings, not the shop's
    page_size: int = PAGE_SIZE

    def _due(self, tenant_id: str, now: datetime, *, full: bool, kind: _Kind) -> Iterator[_Due]:
        """Per CRM connection of the tenant's customers pipelines that implements the
        ``kind``'s protocol and is due for its read."""
        every = timedelta(minutes=kind.every_minutes(self.config))
        seen: set[str] = set()
        for pipe in self.pipelines(tenant_id):
            source = pipe.crm.connection
            connector = self.connector(source)
            if source in seen or not isinstance(connector, kind.protocol):
                continue
            seen.add(source)
            mark = _CRM_READ.format(kind=kind.name, tenant=tenant_id, source=source)
            with self.db.connect() as conn:
                last = get_value(conn, mark)
            if not full and last and now - datetime.fromisoformat(last) < every:
                continue
            yield _Due(kind, source, pipe, connector, mark)

    def read_all(self, tenant_id: str, now: datetime, *, full: bool) -> tuple[int, int]:
        """Every due read (email engagement, support) of every CRM connection, side by side,
        a page of linked customers at a time: the pieces of a page of all of them through
        one bounded pool (each connection's gate caps its own calls in flight), then each
        read's page recorded in one transaction, and once all its pages are, its mark.
        Returns (customers with new engagement, customers whose support rows changed), all
        marked dirty. A read of which a piece keeps failing is not marked read: the next pass
        tries again."""
        due = [d for kind in _KINDS for d in self._due(tenant_id, now, full=full, kind=kind)]
        if not due:
            return 0, 0
        sources = {d.source for d in due}
        fanout = Fanout(sum(self.config.connections[s].concurrency for s in sources), _POOL)
        totals = {kind.name: 0 for kind in _KINDS}
        try:
            while pages := [(d, self._next_page(d)) for d in due if not (d.done or d.failed)]:
                parts = _interleaved([(d, chunk) for d, ids in pages for chunk in d.parts(ids)])
                found = fanout.map(lambda part: self._piece(*part), parts)
                for d, ids in pages:
                    pieces = [f for (owner, _), f in zip(parts, found, strict=True) if owner is d]
                    if d.failed or any(piece is None for piece in pieces):
                        d.failed = True
                        continue
                    merged: dict[str, Any] = {}
                    for piece in pieces:
                        merged.update(piece)
                    with begin_write(self.db) as conn:
                        totals[d.kind.name] += d.kind.record(
                            conn, tenant_id, d.source, merged, ids, now
                        )
        finally:
            fanout.close()
        for d in due:
            if not d.failed:
                with begin_write(self.db) as conn:
                    set_value(conn, d.mark, now.isoformat())
        return totals[_ENGAGEMENT.name], totals[_SUPPORT.name]

    def _next_page(self, due: _Due) -> dict[str, str]:
        """The next page of the read's linked customers (key → live CRM id), in key order."""
        with self.db.connect() as conn:
            ids = _live_links(conn, due.pipe.name, after=due.after, limit=self.page_size)
        due.done = len(ids) < self.page_size
        if ids:
            due.after = next(reversed(ids))  # the last in the database's own key order
        return ids

    def _piece(self, due: _Due, ids: list[str]) -> Any:
        """One piece of a read, with retries; None, logged, when the CRM keeps failing: a
        read-back only enriches the profiles, so the pass goes on with what it has."""
        what = f"{due.kind.what} from {due.source}"
        read = partial(due.kind.read, due.connector, due.pipe.crm.object, ids)
        try:
            return call(read, what=what, stop=self.stop, policy=self.retry)
        except ConnectorError as exc:
            log.warning("insights.readback_failed", what=what, code=exc.code, error=str(exc))
            return None


def _interleaved(parts: list[tuple[_Due, list[str]]]) -> list[tuple[_Due, list[str]]]:
    """``parts`` taking turns by connection, so no connection's pieces wait for a thread
    behind another's that wait for their connection's gate."""
    by_source: dict[str, list[tuple[_Due, list[str]]]] = {}
    for part in parts:
        by_source.setdefault(part[0].source, []).append(part)
    turns = zip_longest(*by_source.values())
    return [part for turn in turns for part in turn if part is not None]


_KINDS = (_ENGAGEMENT, _SUPPORT)
#: the read-back pool's thread names
_POOL = "b2sync-readback"


def _live_links(
    conn: sa.Connection, pipeline: str, *, after: str | None, limit: int
) -> dict[str, str]:
    """B2Connect key → CRM id of the pipeline's links to live CRM records: ``limit`` of
    them, the first keys after ``after``."""
    links = metadata.tables["links"]
    query = sa.select(links.c.b2connect_key, links.c.crm_id).where(
        links.c.pipeline == pipeline,
        links.c.crm_id.is_not(None),
        links.c.deleted_at.is_(None),
    )
    if after is not None:
        query = query.where(links.c.b2connect_key > after)
    rows = conn.execute(query.order_by(links.c.b2connect_key).limit(limit))
    return {str(key): str(crm_id) for key, crm_id in rows}

"""What the CRMs know about linked customers, read back for the insights pass.

Per tenant and CRM connection of its customers pipelines, when due (every full pass, else at
most every ``insights.engagement_every_minutes`` / ``insights.support_every_minutes``):
email engagement counters (:mod:`insights.engagement`, connectors that are
:class:`~connectors.base.SupportsEngagement`) and support tickets and NPS answers
(:mod:`insights.support`, :class:`~connectors.base.SupportsTouchpoints`). Customers whose
data changed are marked dirty, so the pass rescores them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
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
from sync.retry import RetryPolicy, call

log = structlog.get_logger(__name__)

__all__ = ["CrmReadBack"]

#: when a CRM connection's engagement / support data was last read for a tenant
_CRM_READ = "insights:{kind}_read:{tenant}:{source}"


@dataclass(frozen=True)
class _Kind:
    """One kind of read-back: its name (in the mark), the protocol a connector implements
    for it, how often (from the config), the read and its name in the log."""

    name: str
    protocol: type
    every_minutes: Callable[[Config], int]
    read: Callable[[Any, str, list[str]], Any]
    what: str


_ENGAGEMENT = _Kind(
    "engagement",
    SupportsEngagement,
    lambda config: config.insights.engagement_every_minutes,
    lambda connector, obj, ids: connector.read_engagement(obj, ids),
    "read email engagement",
)
_SUPPORT = _Kind(
    "support",
    SupportsTouchpoints,
    lambda config: config.insights.support_every_minutes,
    lambda connector, obj, ids: connector.read_touchpoints(obj, ids),
    "read support tickets and NPS answers",
)


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

    def _due(
        self,
        tenant_id: str,
        now: datetime,
        *,
        full: bool,
        kind: _Kind,
    ) -> Iterator[tuple[str, Pipeline, Any, dict[str, str], str]]:
        """Per CRM connection of the tenant's customers pipelines that implements the
        ``kind``'s protocol and is due for its read: (connection, pipeline, connector,
        {customer key: live CRM id}, the settings name that marks the read)."""
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
                ids = _live_links(conn, pipe.name)
            yield source, pipe, connector, ids, mark

    def _read_back(
        self,
        tenant_id: str,
        now: datetime,
        full: bool,
        kind: _Kind,
        record: Callable[[sa.Connection, str, Any, dict[str, str]], int],
    ) -> int:
        """One ``kind`` read of every due CRM connection, then ``record(conn, source, found,
        {customer key: CRM id})`` and the read's mark in one transaction; returns the sum of
        what ``record`` counts. A connection whose read keeps failing is not marked read: the
        next pass tries again."""
        total = 0
        due = self._due(tenant_id, now, full=full, kind=kind)
        for source, pipe, connector, ids, mark in due:
            found = self._read(
                partial(kind.read, connector, pipe.crm.object, sorted(set(ids.values()))),
                f"{kind.what} from {source}",
            )
            if found is None:
                continue
            with begin_write(self.db) as conn:
                total += record(conn, source, found, ids)
                set_value(conn, mark, now.isoformat())
        return total

    def engagement(self, tenant_id: str, now: datetime, *, full: bool) -> int:
        """Read the email counters of linked contacts from each CRM that reports them (when
        due); returns how many customers have new engagement (marked dirty)."""

        def record(conn: sa.Connection, source: str, readings: Any, ids: dict[str, str]) -> int:
            by_key = {k: readings[i] for k, i in ids.items() if i in readings}
            return len(record_engagement(conn, tenant_id, source, by_key, now))

        return self._read_back(tenant_id, now, full, _ENGAGEMENT, record)

    def _read(self, read: Callable[[], Any], what: str) -> Any:
        """``read()`` with retries; None, logged, when the CRM keeps failing: a read-back
        only enriches the profiles, so the pass goes on with what it has."""
        try:
            return call(read, what=what, stop=self.stop, policy=self.retry)
        except ConnectorError as exc:
            log.warning("insights.readback_failed", what=what, code=exc.code, error=str(exc))
            return None

    def support(self, tenant_id: str, now: datetime, *, full: bool) -> int:
        """Read the linked contacts' tickets/cases and NPS answers from each CRM that has
        them (when due); returns how many customers' support rows changed (marked dirty)."""

        def record(conn: sa.Connection, source: str, found: Any, ids: dict[str, str]) -> int:
            by_key = {k: found.get(i, []) for k, i in ids.items()}
            return len(record_touchpoints(conn, tenant_id, source, by_key))

        return self._read_back(tenant_id, now, full, _SUPPORT, record)


def _live_links(conn: sa.Connection, pipeline: str) -> dict[str, str]:
    """B2Connect key → CRM id of the pipeline's links to live CRM records."""
    links = metadata.tables["links"]
    rows = conn.execute(
        sa.select(links.c.b2connect_key, links.c.crm_id).where(
            links.c.pipeline == pipeline,
            links.c.crm_id.is_not(None),
            links.c.deleted_at.is_(None),
        )
    )
    return {str(key): str(crm_id) for key, crm_id in rows}

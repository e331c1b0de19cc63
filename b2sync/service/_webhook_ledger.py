"""What the webhook endpoints remember: replay receipts, waiting erasures, refusals.

:class:`StoreLedger` keeps receipts (digests of signatures and signed event ids) in a
``webhook_receipts`` table until the replay window is over, written before the webhook is
answered. A delivery's receipts go to the store's intake journal (:func:`store.intake_journal`:
on SQLite a file of its own), so recording one never waits behind the store's write
transactions (a backfill's batch commits, a consent run) while the sender holds back its next
delivery. A delivery carrying erasure requests writes its receipts and the requests
(``erasure_inbox``) in ONE transaction of the store itself: a request is either recorded with
its receipts or the delivery is not answered 2xx. Refused
deliveries of an authenticated sender (a payload naming another tenant or portal) are audited.
:class:`SeenEvents` is the in-memory stand-in used by unit tests.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

import sqlalchemy as sa
import structlog

from audit import AuditEvent, KeyRing, record_events
from consent.erasure.inbox import put_in_inbox
from consent.erasure.sources import IntakeItem
from consent.erasure.store import seal_key
from store import begin_write, intake_journal
from store.models import metadata
from sync.hashing import FieldHasher
from sync.settings import SecretError, resolve

__all__ = [
    "EVENT_TTL_S",
    "SIGNATURE_TTL_S",
    "TOLERANCE_S",
    "Ledger",
    "Receipt",
    "SeenEvents",
    "StoreLedger",
    "WebhookOutcome",
    "digest",
    "resolved",
]

log = structlog.get_logger("b2sync.service.webhooks")
_receipts = metadata.tables["webhook_receipts"]
#: a delivery's timestamp may differ from our clock by this much either way (HubSpot: 5 min)
TOLERANCE_S = 300
#: a signature can only verify within the window, so it is remembered a little longer
SIGNATURE_TTL_S = 2 * TOLERANCE_S + 60
#: signed event ids are remembered a day (senders retry a delivery with a fresh signature)
EVENT_TTL_S = 24 * 3600


class Receipt(NamedTuple):
    """A replay key and how long to remember it."""

    key: str
    ttl_s: float


@dataclass
class WebhookOutcome:
    """HTTP status, a short reason, and the pipelines to mark due."""

    status: int
    reason: str
    pipelines: list[str] = field(default_factory=list)
    #: erasure requests the delivery carried (already in the inbox when a StoreLedger admitted)
    erasures: list[IntakeItem] = field(default_factory=list)
    #: the B2Connect record ids the delivery names (its pipelines can run just those)
    keys: list[str] = field(default_factory=list)
    #: a refused authenticated delivery: tenant, connection, what the payload claimed (audited)
    refused: dict[str, str] | None = None

    def body(self) -> dict[str, Any]:
        return {"status": self.reason, "pipelines": self.pipelines}


class Ledger(Protocol):
    """Where receipts (and webhook-borne erasures) are recorded."""

    def known(self, keys: Sequence[str]) -> set[str]: ...
    def admit(self, source: str, receipts: Sequence[Receipt], erasures: list[IntakeItem]) -> bool:
        """Record every receipt and erasure at once; False (nothing recorded) on a replay."""
        ...

    def refuse(self, source: str, outcome: WebhookOutcome) -> None: ...


def digest(kind: str, *parts: str) -> str:
    """``kind:<sha256>`` of the parts (fixed length, nothing readable stored)."""
    return f"{kind}:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def resolved(ref: str | None) -> str | None:
    """A config value with its ``${VAR}`` resolved; None when unset or unresolvable."""
    if not ref:
        return None
    try:
        return resolve(ref) or None
    except SecretError:
        return None


class SeenEvents:
    """In-memory ledger (tests): receipts until their TTL, erasures and refusals in lists."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self.erasures: list[IntakeItem] = []
        self.refusals: list[tuple[str, dict[str, str]]] = []

    def _now(self) -> float:
        return self._clock() if self._clock else datetime.now(UTC).timestamp()

    def known(self, keys: Sequence[str]) -> set[str]:
        now = self._now()
        with self._lock:
            return {k for k in keys if self._seen.get(k, 0.0) > now}

    def admit(self, source: str, receipts: Sequence[Receipt], erasures: list[IntakeItem]) -> bool:
        now = self._now()
        with self._lock:
            if any(self._seen.get(r.key, 0.0) > now for r in receipts):
                return False
            self._seen.update((r.key, now + r.ttl_s) for r in receipts)
            self.erasures.extend(erasures)
            return True

    def refuse(self, source: str, outcome: WebhookOutcome) -> None:
        self.refusals.append((source, dict(outcome.refused or {})))


class Store(Protocol):
    """What the ledger needs of the daemon's :class:`sync.runner.Runner`."""

    @property
    def db(self) -> sa.Engine: ...
    @property
    def hasher(self) -> FieldHasher: ...
    @property
    def audit_keys(self) -> KeyRing | None: ...
    def clock(self) -> datetime: ...


class StoreLedger:
    """The daemon's ledger, in the runner's store and its intake journal."""

    def __init__(self, runner: Callable[[], Store]) -> None:
        self._runner = runner
        self._journal: tuple[sa.Engine, sa.Engine] | None = None  # (store, its journal)

    def journal(self, db: sa.Engine) -> sa.Engine:
        """Where receipts of a delivery without erasures go (``db`` itself on PostgreSQL)."""
        known = self._journal
        if known is None or known[0] is not db:  # first use, or a reload built a new runner
            known = self._journal = (db, intake_journal(db, [_receipts]))
        return known[1]

    def known(self, keys: Sequence[str]) -> set[str]:
        runner = self._runner()
        now, found = runner.clock(), set[str]()
        # the journal, and the store (receipts of erasure-bearing deliveries, older ones)
        for engine in dict.fromkeys((self.journal(runner.db), runner.db)):
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.select(_receipts.c.key).where(
                        _receipts.c.key.in_(list(keys)), _receipts.c.expires_at > now
                    )
                )
                found.update(row.key for row in rows)
        return found

    def admit(self, source: str, receipts: Sequence[Receipt], erasures: list[IntakeItem]) -> bool:
        runner = self._runner()
        now = runner.clock()
        # the same delivery always goes to the same place (whether it carries erasures is in
        # its signed body), so a concurrent replay of it hits the same primary key
        target = runner.db if erasures else self.journal(runner.db)
        try:
            with begin_write(target) as conn:
                conn.execute(_receipts.delete().where(_receipts.c.expires_at <= now))
                for receipt in receipts:
                    conn.execute(
                        _receipts.insert().values(
                            key=receipt.key, source=source, received_at=now,
                            expires_at=now + timedelta(seconds=receipt.ttl_s),
                        )
                    )  # fmt: skip
                if erasures:
                    put_in_inbox(conn, seal_key(runner.hasher), erasures, now)
        except sa.exc.IntegrityError:
            return False
        return True

    def refuse(self, source: str, outcome: WebhookOutcome) -> None:
        details = dict(outcome.refused or {})
        log.warning("webhook.refused", source=source, reason=outcome.reason, **details)
        runner = self._runner()
        if runner.audit_keys is None:
            return
        event = AuditEvent(
            actor=f"webhook:{source}", tenant_id=details.get("tenant") or "unknown",
            action="webhook.refused", outcome="refused", source_system=source,
            stream="webhooks", details={"reason": outcome.reason, **details},
        )  # fmt: skip
        with begin_write(runner.db) as conn:
            record_events(conn, [event], keys=runner.audit_keys, now=runner.clock())

"""Test kit for erasure: a config with a shop and two CRMs, a store, fake systems, a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from audit import KeyRing
from connectors.errors import Fatal, Retriable
from connectors.records import ErasureResult, Subject, WriteItem, WriteResult
from connectors.testing import FakeConnector
from consent.erasure.intake import CustomerFetcher, ErasureDesk
from consent.erasure.process import ErasureProcessor
from mapping.config import Config, parse_config
from store import make_engine, upgrade
from store.models import metadata
from sync.hashing import FieldHasher

CONFIG = """\
version: 1
audit: {enabled: %(audit)s}
connections:
  shop: {type: b2connect, url: http://127.0.0.1:9, token: "${T}", tenant_id: T1}
  hs: {type: hubspot, token: "${H}"}
  sf:
    type: salesforce
    instance_url: https://127.0.0.1:9
    auth: {method: session, session_id: "${S}"}
pipelines:
  - name: people-hs
    b2connect: {connection: shop, stream: customers}
    crm: {connection: hs, object: contacts, id_property: b2connect_id}
    fields:
      - {b2connect: email, crm: email, transform: [email]}
      - {b2connect: firstName, crm: firstname}
  - name: people-sf
    b2connect: {connection: shop, stream: customers}
    crm: {connection: sf, object: Contact, id_property: B2Connect_Id__c}
    fields:
      - {b2connect: email, crm: Email, transform: [email]}
  - name: orders-hs
    b2connect: {connection: shop, stream: orders}
    crm: {connection: hs, object: orders}
    fields:
      - {b2connect: totalAmount, crm: hs_total_price}
"""
MASTER_KEY = bytes(range(32))
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class System(FakeConnector):
    """A fake system whose erase (and erasure write-back) can be made to fail."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.system = name
        #: None: works; "down": Retriable (503); "refuse": Fatal; "not_done": done=False;
        #: "quote": Fatal whose vendor message quotes the person's email
        self.mode: str | None = None
        self.writes: list[tuple[str, WriteItem]] = []

    def erase(self, subject: Subject) -> ErasureResult:
        if self.mode == "down":
            raise Retriable(f"{self.system} answered 503", code="503")
        if self.mode == "refuse":
            raise Fatal(f"{self.system} refused: missing permission", code="FORBIDDEN")
        if self.mode == "quote":
            raise Fatal(
                f"{self.system} refused: value too large: {subject.email}", code="TOO_LARGE"
            )
        if self.mode == "not_done":
            return ErasureResult(self.system, done=False, detail="subject still present")
        self.erased.append(subject)
        return ErasureResult(self.system, done=True, detail="erased")

    def write(self, stream: str, batch: Any, **_options: Any) -> list[WriteResult]:
        self.writes.extend((stream, item) for item in batch)
        return super().write(stream, batch)


@dataclass
class Kit:
    """Everything an erasure test needs."""

    config: Config
    db: sa.Engine
    hasher: FieldHasher
    keys: KeyRing | None
    now: list[datetime] = field(default_factory=lambda: [T0])
    systems: dict[str, System] = field(default_factory=dict)
    customers: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def clock(self) -> datetime:
        return self.now[0]

    def fetch(self) -> CustomerFetcher:
        def run(connection: str, customer_id: str) -> dict[str, Any] | None:
            del connection
            return self.customers.get(customer_id, {})

        return run

    def desk(self) -> ErasureDesk:
        return ErasureDesk(
            config=self.config, db=self.db, hasher=self.hasher, keys=self.keys,
            clock=self.clock, fetch_customer=self.fetch(),
        )  # fmt: skip

    def processor(self) -> ErasureProcessor:
        return ErasureProcessor(
            db=self.db, hasher=self.hasher, connector=lambda name: self.systems[name],
            keys=self.keys, clock=self.clock,
        )  # fmt: skip

    def link(self, pipeline: str, key: str, crm_id: str, email: str) -> None:
        """A link as the push engine leaves it (the email only as a field hash)."""
        email_field = "Email" if pipeline == "people-sf" else "email"
        with self.db.begin() as conn:
            conn.execute(
                metadata.tables["links"].insert().values(
                    pipeline=pipeline, tenant_id="t1", b2connect_key=key, crm_object="contacts",
                    crm_id=crm_id, field_hashes={email_field: self.hasher.value(email_field, email)},
                    record_hash="x", last_synced_at=T0, created_at=T0,
                )
            )  # fmt: skip

    def count(self, table: str) -> int:
        with self.db.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(metadata.tables[table])
                ).scalar_one()
            )


def make_kit(tmp_path: Path, *, audit: bool = True) -> Kit:
    """A kit with a fresh SQLite store."""
    config = parse_config(CONFIG % {"audit": "true" if audit else "false"})
    db = make_engine(f"sqlite:///{tmp_path}/state.db")
    upgrade(db)
    kit = Kit(
        config,
        db,
        FieldHasher(b"erasure-test-key-0123456789"),
        KeyRing(MASTER_KEY) if audit else None,
    )
    kit.systems = {name: System(name) for name in ("shop", "hs", "sf")}
    return kit

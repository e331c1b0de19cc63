"""Engine test kit: pipelines from YAML, fake connectors, a migrated SQLite store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.records import Record
from connectors.testing import FakeConnector
from mapping.config import Config, parse_config
from store import make_engine, upgrade
from sync.hashing import FieldHasher
from sync.push.engine import PipelineRun
from sync.retry import RetryPolicy
from sync.run import RunSummary

CONFIG = """\
version: 1
connections:
  shop: {type: b2connect, url: http://127.0.0.1:9, token: "${T}", tenant_id: t1}
  hs: {type: hubspot, token: "${H}"}
pipelines:
  - name: customers
    b2connect: {connection: shop, stream: customers}
    crm: {connection: hs, object: contacts}
    match_key: {b2connect: email, crm: email}
    fields:
      - {b2connect: email, crm: email, transform: [email], required: true}
      - {b2connect: firstName, crm: firstname, transform: [strip, {truncate: 10}]}
      - {b2connect: phone, crm: phone, transform: [e164_phone]}
  - name: orders
    b2connect: {connection: shop, stream: orders}
    crm: {connection: hs, object: orders}
    fields:
      - {b2connect: totalAmount, crm: hs_total_price, transform: [{decimal: 2}]}
      - {b2connect: customerId, crm: contact_id, transform: [{link: customers}]}
    associations:
      - {field: customerId, pipeline: customers, to_object: contacts, type_id: 507}
    lines:
      object: line_items
      association_type: 513
      fields:
        - {b2connect: productName, crm: name}
        - {b2connect: quantity, crm: quantity, transform: [number]}
"""


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG)


@pytest.fixture
def db(tmp_path: Path) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    upgrade(engine)
    return engine


def customer(key: str, email: str, name: str = "Ann", **extra: Any) -> Record:
    fields = {"id": key, "email": email, "firstName": name, "phone": "030 1234567", **extra}
    return Record("customers", key, fields, datetime(2026, 1, 1, tzinfo=UTC), tenant_id="t1")


def order(key: str, customer_id: str, total: float = 10.0, lines: int = 2) -> Record:
    items = [{"id": f"{key}-l{i}", "productName": f"P{i}", "quantity": i + 1} for i in range(lines)]
    fields = {"id": key, "customerId": customer_id, "totalAmount": total, "items": items}
    return Record("orders", key, fields, datetime(2026, 1, 1, tzinfo=UTC), tenant_id="t1")


RunFn = Callable[..., RunSummary]


@pytest.fixture
def run(config: Config, db: sa.Engine) -> RunFn:
    hasher = FieldHasher(b"k" * 32)

    def go(name: str, source: FakeConnector, target: FakeConnector, **kw: Any) -> RunSummary:
        return PipelineRun(
            pipeline=config.pipeline(name),
            shop=source,
            crm=target,
            db=db,
            hasher=hasher,
            tenant_id="t1",
            retry=RetryPolicy(attempts=3, initial=0.001, maximum=0.01),
            **kw,
        ).execute()

    return go

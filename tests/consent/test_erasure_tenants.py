"""An erasure for one tenant purges that tenant's rows only, whatever the other one holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from audit import KeyRing
from consent.erasure.model import SubjectIds
from mapping.config import parse_config
from store import make_engine, upgrade
from store.models import DeadLetterStatus, RunStatus, metadata
from sync.hashing import FieldHasher
from tests.consent.erasure_kit import CONFIG, MASTER_KEY, T0, Kit

SECOND = """\
  shop2: {type: b2connect, url: http://127.0.0.1:9, token: "${T}", tenant_id: T2}
"""
PIPE2 = """\
  - name: people2-hs
    b2connect: {connection: shop2, stream: customers}
    crm: {connection: hs, object: contacts, id_property: b2connect_id}
    fields:
      - {b2connect: email, crm: email, transform: [email]}
"""
EMAIL = "ada@example.com"


@pytest.fixture
def kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Kit:
    for name in ("T", "H", "S"):
        monkeypatch.setenv(name, "x")
    text = CONFIG % {"audit": "true"}
    text = text.replace("  hs: {type: hubspot", SECOND + "  hs: {type: hubspot")
    text += PIPE2
    db = make_engine(f"sqlite:///{tmp_path}/state.db")
    upgrade(db)
    hasher = FieldHasher(b"erasure-test-key-0123456789")
    return Kit(parse_config(text), db, hasher, KeyRing(MASTER_KEY))


def _seed(kit: Kit, pipeline: str, tenant: str) -> None:
    """A link, a run and a pull-side dead letter (keyed by the CRM id) of customer c1."""
    kit.link(pipeline, "c1", f"hs-{tenant}", EMAIL)
    with kit.db.begin() as conn:
        conn.execute(
            metadata.tables["runs"].insert().values(
                id=f"run-{tenant}", pipeline=pipeline, started_at=T0, status=RunStatus.FAILED,
                trigger="schedule", records_read=0, records_written=0, records_skipped=0,
                records_failed=1, api_calls=0, error=f"rejected {EMAIL}",
            )
        )  # fmt: skip
        conn.execute(
            metadata.tables["dead_letters"].insert().values(
                pipeline=pipeline, run_id=f"run-{tenant}", stream="contacts",
                record_key=f"hs-{tenant}", payload={"source": {"email": EMAIL}},
                error_code="INVALID", error_message="rejected", status=DeadLetterStatus.PENDING,
                attempts=1, created_at=T0, updated_at=T0,
            )
        )  # fmt: skip


def _rows(kit: Kit, pipeline: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with kit.db.connect() as conn:
        for name in ("links", "dead_letters"):
            table = metadata.tables[name]
            out[name] = int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(table.c.pipeline == pipeline)
                ).scalar_one()
            )
        runs = metadata.tables["runs"]
        error = conn.execute(sa.select(runs.c.error).where(runs.c.pipeline == pipeline)).scalar()
    out["runs quoting the email"] = int(EMAIL in str(error))
    return out


def test_erasure_for_one_tenant_leaves_the_other_tenants_rows(kit: Kit) -> None:
    """The same customer id and email in tenants T1 and T2: erasing in T1 purges T1's link,
    dead letter and run error, and T2 keeps all of its rows."""
    _seed(kit, "people-hs", "t1")
    _seed(kit, "people2-hs", "t2")
    intake = kit.desk().file(SubjectIds(customer_id="c1", email=EMAIL), tenant="t1")
    assert intake.status == "filed", intake
    assert _rows(kit, "people-hs") == {"links": 0, "dead_letters": 0, "runs quoting the email": 0}
    assert _rows(kit, "people2-hs") == {"links": 1, "dead_letters": 1, "runs quoting the email": 1}

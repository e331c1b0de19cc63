"""The audit trail of tenants sharing one PostgreSQL database: a chain per tenant; `b2sync
--tenant t01 audit search / verify / hold` show, check and write only t01's events."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from typer.testing import CliRunner

from audit.events import OPERATOR_COMMAND, AuditEvent, record_events
from audit.keystore import load_keyring
from b2sync.cli import app
from b2sync.worker import Enqueuer, WorkerSettings, make_app
from store import make_engine, metadata, upgrade
from tests.scale.kit import MASTER_KEY, PIPE, Fleet, fleet
from tests.scale.test_tenants import table_rows, wait_synced

TENANTS = ("t01", "t02")


def _events(store: str, tenant: str) -> list[tuple[str, int, str, str]]:
    """(chain, seq, prev_hash, hash) of every audit event the tenant's own engine sees."""
    table = metadata.tables["audit_events"]
    engine = make_engine(store, tenant=tenant)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.tenant_id, table.c.seq, table.c.prev_hash, table.c.hash).order_by(
                    table.c.tenant_id, table.c.seq
                )
            ).all()
    finally:
        engine.dispose()
    return [(str(r.tenant_id), int(r.seq), str(r.prev_hash), str(r.hash)) for r in rows]


def _counts(store: str, tenant: str) -> dict[str, tuple[int, int]]:
    engine = make_engine(store, tenant=tenant)
    try:
        return table_rows(engine)
    finally:
        engine.dispose()


def _chained(events: list[tuple[str, int, str, str]]) -> bool:
    """Each chain numbered 1, 2, … and each event pointing at the hash of the one before."""
    heads: dict[str, tuple[int, str]] = {}
    for chain, seq, prev, digest in events:
        last_seq, last_hash = heads.get(chain, (0, "0" * 64))
        if (seq, prev) != (last_seq + 1, last_hash):
            return False
        heads[chain] = (seq, digest)
    return True


def _sync(fl: Fleet, enqueuer: Enqueuer, client: redis.Redis, tenant: str) -> None:
    enqueuer.run(tenant, PIPE)
    wait_synced(fl, client, (tenant,))


@pytest.mark.postgres
def test_audit_commands_of_a_tenant_sharing_postgresql_see_and_write_only_its_chain(
    tmp_path: Path, redis_url: str, postgres_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """t01 and t02 audit into ONE PostgreSQL database, their runs interleaved: each tenant's
    chain is whole and numbered from 1 (a chain per tenant, not one chain across both);
    `audit search` as t01 lists exactly t01's events, `audit verify` as t01 checks only t01's
    chains, and `audit hold` as t01 (an operator event on the chain ``default``, which t02 has
    too) changes nothing of t02's."""
    with fleet(tmp_path, redis_url, tenants=2, customers=6,
               store_url=lambda _tenant: postgres_store_url) as fl:  # fmt: skip
        for tenant in TENANTS:  # the base has the audit off; each tenant turns it on
            override = fl.root / "tenants" / f"{tenant}.yaml"
            override.write_text(
                override.read_text(encoding="utf-8") + "audit: {enabled: true}\n", encoding="utf-8"
            )
        fl.start_worker("w0")
        client = redis.Redis.from_url(redis_url)
        enqueuer = Enqueuer(make_app(WorkerSettings(redis_url)), client)
        _sync(fl, enqueuer, client, "t01")
        _sync(fl, enqueuer, client, "t02")
        # t01 writes again after t02 wrote: its chain continues from its own head
        edited = sorted(fl.shop_customers("t01"))[0]
        fl.shop.admin_patch("customers", edited, {"firstName": "Audited"})
        enqueuer.run("t01", PIPE)
        for _ in range(360):
            contact = fl.crm_contacts("t01").get(edited, [{}])[0]
            if contact.get("properties", {}).get("firstname") == "Audited":
                break
            threading.Event().wait(0.25)
        else:
            pytest.fail("t01's second run did not write the edit")
        wait_synced(fl, client, ("t01",))

        for key, value in fl.env().items():
            monkeypatch.setenv(key, value)
        cli, base = CliRunner(), ["--tenants", str(fl.tenants_file)]
        # both tenants' operators put a hold on the chain named ``default`` of their own store
        for tenant in TENANTS:
            held = cli.invoke(app, [*base, "--tenant", tenant, "audit", "hold", "--subject",
                                    f"{tenant}-hold@example.org"])  # fmt: skip
            assert held.exit_code == 0, held.output
        events = {t: _events(postgres_store_url, t) for t in TENANTS}
        for tenant in TENANTS:
            chains = {chain for chain, *_ in events[tenant]}
            assert chains == {fl.guids[tenant], "default"}, (tenant, chains)
            assert _chained(events[tenant]), (tenant, events[tenant])
        assert events["t01"][-1][:2] == ("default", 1) == events["t02"][-1][:2], "a chain each"
        t01_events = {(c, s) for c, s, *_ in events["t01"]}
        updates = [e for e in events["t01"] if e[0] == fl.guids["t01"]]
        assert len(updates) > len(fl.shop_customers("t01")), "t01 wrote before and after t02"

        before = (_counts(postgres_store_url, "t02"), events["t02"])
        found = cli.invoke(app, [*base, "--tenant", "t01", "audit", "search", "--format", "json"])
        assert found.exit_code == 0, found.output
        listed = json.loads(found.stdout)
        assert {(e["tenant_id"], e["seq"]) for e in listed} == t01_events, "t01's own events"
        other = set(fl.shop_customers("t02")) | {fl.guids["t02"], "t02-hold@example.org"}
        assert not [word for word in other if word in found.stdout], "nothing of t02"
        checked = cli.invoke(app, [*base, "--tenant", "t01", "audit", "verify"])
        assert checked.exit_code == 0, checked.output
        assert "ok: every chain is whole" in checked.output
        counted = {line.split(": ")[0]: line for line in checked.output.splitlines()}
        assert f"{fl.guids['t01']}: {len(updates)} events checked" in checked.output
        assert fl.guids["t02"] not in counted, checked.output
        held = cli.invoke(app, [*base, "--tenant", "t01", "audit", "hold", "--off", "--subject",
                                "t01-hold@example.org"])  # fmt: skip
        assert held.exit_code == 0, held.output
        after = (_counts(postgres_store_url, "t02"), _events(
            postgres_store_url, "t02"))  # fmt: skip
        assert after == before, "t01's audit commands changed nothing of t02's"
        assert _chained(_events(postgres_store_url, "t01"))
        for tenant in TENANTS:
            whole = cli.invoke(app, [*base, "--tenant", tenant, "audit", "verify"])
            assert whole.exit_code == 0, whole.output


@pytest.mark.postgres
def test_an_append_to_one_tenants_chain_does_not_wait_for_another_tenant(
    postgres_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """t01 holds its chain ``default`` (an append not yet committed); t02 appends to its own
    chain ``default`` in the same database at once: the chain lock is per tenant's chain, so
    t02 does not wait (the lock wait is capped: waiting fails the test)."""
    monkeypatch.setenv("B2SYNC_MASTER_KEY", MASTER_KEY)
    engines = {t: make_engine(postgres_store_url, tenant=t) for t in TENANTS}
    try:
        for engine in engines.values():
            upgrade(engine)
        event = AuditEvent(actor="operator", tenant_id="default", action=OPERATOR_COMMAND)
        with engines["t01"].begin() as held:
            assert record_events(held, [event], keys=load_keyring(held)) == 1
            with engines["t02"].begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                assert record_events(conn, [event], keys=load_keyring(conn)) == 1
        assert [e[:2] for e in _events(postgres_store_url, "t02")] == [("default", 1)]
    finally:
        for engine in engines.values():
            engine.dispose()

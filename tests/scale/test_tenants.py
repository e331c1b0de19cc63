"""Tenants: base + overrides, per-tenant secrets and stores; no tenant reaches another's rows."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from b2sync.tenants import load_tenants
from b2sync.worker import Enqueuer, WorkerSettings, make_app
from connectors.b2connect import sign_webhook
from mapping.config import resolve_reference
from store import (
    TENANT_COLUMN,
    connection_tenant,
    intake_journal,
    make_engine,
    metadata,
    utc_now,
)
from tests.scale.conftest import free_port
from tests.scale.kit import B2SYNC, PIPE, Fleet, fleet, webhook_secret

BASE = """\
version: 1
state_url: sqlite:///base.db
audit: {enabled: false}
connections:
  shop: {type: b2connect, url: "${SHOP_URL}", token: "${SHOP_TOKEN}", tenant_id: "${SHOP_TENANT}"}
  hubspot: {type: hubspot, url: "${HUBSPOT_URL}", token: "${HUBSPOT_TOKEN}"}
pipelines:
  - name: customers-to-hubspot
    b2connect: {connection: shop, stream: customers}
    crm: {connection: hubspot, object: contacts, id_property: b2connect_id}
    direction: push
    schedule: {every: 5m}
    fields:
      - {b2connect: email, crm: email, transform: [email], required: true}
      - {b2connect: firstName, crm: firstname}
"""


def write_tenants(tmp_path: Path, acme_store: str, globex_store: str) -> Path:
    (tmp_path / "base.yaml").write_text(BASE, encoding="utf-8")
    (tmp_path / "acme.yaml").write_text(
        f"state_url: sqlite:///{acme_store}\n"
        "pipelines:\n"
        "  - name: customers-to-hubspot\n"
        "    schedule: {every: 1m}\n",
        encoding="utf-8",
    )
    (tmp_path / "globex.yaml").write_text(
        f"base: base.yaml\nstate_url: sqlite:///{globex_store}\n", encoding="utf-8"
    )
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "secrets" / "HUBSPOT_TOKEN").write_text("pat-globex-file\n", encoding="utf-8")
    path = tmp_path / "tenants.yaml"
    path.write_text(
        "tenants:\n"
        "  - {id: acme, config: acme.yaml, base: base.yaml, env_prefix: ACME_}\n"
        "  - {id: globex, config: globex.yaml, secrets_dir: secrets}\n",
        encoding="utf-8",
    )
    return path


def test_base_overrides_and_secrets_per_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each tenant: the base merged with its overrides, its own store, its own secrets."""
    path = write_tenants(tmp_path, "/srv/acme.db", "/srv/globex.db")
    monkeypatch.setenv("ACME_HUBSPOT_TOKEN", "pat-acme-env")
    monkeypatch.setenv("HUBSPOT_TOKEN", "pat-shared-never-used")
    tenants = load_tenants(path)
    acme, globex = tenants.get("acme").config(), tenants.get("globex").config()
    assert acme.pipeline(PIPE).schedule.every == "1m", "the override wins"
    assert [f.crm for f in acme.pipeline(PIPE).fields] == ["email", "firstname"], "base kept"
    assert globex.pipeline(PIPE).schedule.every == "5m"
    assert acme.state_url == "sqlite:////srv/acme.db" != globex.state_url
    assert resolve_reference(acme.connections["hubspot"].token) == "pat-acme-env"  # type: ignore[union-attr]
    assert resolve_reference(globex.connections["hubspot"].token) == "pat-globex-file"  # type: ignore[union-attr]


def test_two_tenants_on_one_sqlite_file_are_refused(tmp_path: Path) -> None:
    """Two tenants naming one SQLite file (no row-level security): the scheduler refuses to
    start (exit 2)."""
    path = write_tenants(tmp_path, "/srv/same.db", "/srv/same.db")
    result = CliRunner().invoke(app, ["scheduler", "--tenants", str(path), "--once"])
    assert result.exit_code == 2
    assert "names the state store of tenant 'acme'" in result.output
    assert "SQLite file holds one tenant" in result.output


def test_two_tenants_may_share_one_postgresql_database(
    tmp_path: Path, postgres_store_url: str, redis_url: str
) -> None:
    """Two tenants naming one PostgreSQL database: allowed (row-level security keeps their rows
    apart), the scheduler starts once its role is found to obey the policies."""
    path = write_tenants(tmp_path, "/srv/acme.db", "/srv/globex.db")
    for name in ("acme.yaml", "globex.yaml"):  # the same database, written out in both files
        config = tmp_path / name
        text = config.read_text(encoding="utf-8").replace("sqlite:////srv/acme.db", "X")
        config.write_text(text.replace("sqlite:////srv/globex.db", "X").replace(
            "X", postgres_store_url), encoding="utf-8")  # fmt: skip
    result = CliRunner().invoke(
        app, ["scheduler", "--tenants", str(path), "--once", "--broker", redis_url]
    )
    assert result.exit_code == 0, result.output


ADMIN_ENV = "B2SYNC_TEST_POSTGRES_ADMIN_URL"


@pytest.mark.postgres
def test_a_role_that_bypasses_row_level_security_is_refused(tmp_path: Path) -> None:
    """Tenants sharing a PostgreSQL store through a BYPASSRLS role: the scheduler exits 2 naming
    the role and the fix before anything starts (RLS would not filter its queries)."""
    admin_url = os.environ.get(ADMIN_ENV)
    if not admin_url:
        pytest.skip(
            f"PostgreSQL admin not available: set {ADMIN_ENV} (a superuser: BYPASSRLS roles need one)"
        )
    role, password = f"b2sync_bypass_{secrets.token_hex(4)}", secrets.token_hex(16)
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN BYPASSRLS PASSWORD '{password}'")
        url = sa.make_url(admin_url).set(username=role, password=password)
        path = write_tenants(tmp_path, "/srv/acme.db", "/srv/globex.db")
        rendered = url.render_as_string(hide_password=False)
        for name in ("acme.yaml", "globex.yaml"):
            config = tmp_path / name
            text = config.read_text(encoding="utf-8")
            for store in ("sqlite:////srv/acme.db", "sqlite:////srv/globex.db"):
                text = text.replace(store, rendered)
            config.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(
            app, ["scheduler", "--tenants", str(path), "--once", "--broker", "redis://127.0.0.1:1"]
        )
        assert result.exit_code == 2, result.output
        assert f"role '{role}' is BYPASSRLS" in result.output
        assert "NOBYPASSRLS" in result.output and password not in result.output
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.engine.dispose()


def test_a_sqlite_file_of_another_tenant_is_refused(tmp_path: Path) -> None:
    """A SQLite store records its tenant; a command of another tenant on it exits 2, naming
    both tenants, and leaves the file as it was."""
    path = write_tenants(tmp_path, f"{tmp_path}/acme.db", f"{tmp_path}/acme.db")
    runner = CliRunner()
    env = {"ACME_HUBSPOT_TOKEN": "pat-acme-env", "SHOP_URL": "http://127.0.0.1:9",
           "SHOP_TOKEN": "t", "SHOP_TENANT": "g", "HUBSPOT_URL": "http://127.0.0.1:9"}  # fmt: skip
    base = ["--tenants", str(path)]
    made = runner.invoke(app, [*base, "--tenant", "acme", "db", "upgrade"], env=env)
    assert made.exit_code == 0, made.output
    before = (tmp_path / "acme.db").read_bytes()
    crossed = runner.invoke(app, [*base, "--tenant", "globex", "status", "--json"], env=env)
    assert crossed.exit_code == 2, crossed.output
    assert "belongs to tenant 'acme', not 'globex'" in crossed.output
    assert (tmp_path / "acme.db").read_bytes() == before


def test_no_task_or_command_of_one_tenant_touches_another(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker runs tenant t01's task: only t01's portal and store change; `b2sync --tenant`
    commands see only their own tenant's runs."""
    with fleet(tmp_path, redis_url, tenants=2, customers=30) as fl:
        fl.start_worker("w0")
        client = redis.Redis.from_url(redis_url)
        Enqueuer(make_app(WorkerSettings(redis_url)), client).run("t01", PIPE)
        for _ in range(240):
            if fl.verdict("t01")["synced"] and not client.keys("b2sync:lock:*"):
                break
            threading.Event().wait(0.25)
        one, two = fl.verdict("t01"), fl.verdict("t02")
        assert one["synced"] > 0 and one["crossed"] == 0 and one["lost"] == 0
        assert two["synced"] == 0 and fl.portals["t02"].admin_list("contacts") == []
        assert not Path(fl.store_urls["t02"].removeprefix("sqlite:///")).exists()
        for key, value in fl.env().items():
            monkeypatch.setenv(key, value)
        runner = CliRunner()
        base = ["--tenants", str(fl.tenants_file)]
        assert runner.invoke(app, [*base, "--tenant", "t02", "db", "upgrade"]).exit_code == 0
        seen = {}
        for tenant in ("t01", "t02"):
            result = runner.invoke(app, [*base, "--tenant", tenant, "status", "--json"])
            assert result.exit_code == 0, result.output
            rows = json.loads(result.stdout)["pipelines"]
            seen[tenant] = [row.get("last_run") for row in rows]
        assert seen["t01"] != [None], "t01's run is in t01's store"
        assert seen["t02"] == [None], "t02's store holds no run of t01"
        unknown = runner.invoke(app, [*base, "--tenant", "t99", "status"])
        assert unknown.exit_code == 2 and "unknown tenant 't99'" in unknown.output


def _delivery(tenant_guid: str, secret: str, event_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"eventId": event_id, "eventType": "customer.updated",
                       "tenantId": tenant_guid, "data": {"id": "c-1"}}).encode()  # fmt: skip
    stamp = str(int(time.time()))
    return body, {
        "Content-Type": "application/json",
        "X-B2Connect-Timestamp": stamp,
        "X-B2Connect-Signature": sign_webhook(secret, stamp, body),
    }


def test_webhook_routes_are_per_tenant_and_only_enqueue(tmp_path: Path, redis_url: str) -> None:
    """`b2sync front`: t01's delivery at /t/t01 is accepted, stored in t01's store and enqueued
    once on the webhooks lane; the same delivery at /t/t02 is refused (401)."""
    with fleet(tmp_path, redis_url, tenants=2, customers=5) as fl:
        with front(fl, fl.env()) as (http, url):
            body, headers = _delivery(fl.guids["t01"], webhook_secret("t01"), "ev-1")
            crossed = http.post(f"{url}/t/t02/webhooks/b2connect", data=body, headers=headers)
            assert crossed.status_code == 401
            accepted = http.post(f"{url}/t/t01/webhooks/b2connect", data=body, headers=headers)
            assert accepted.status_code == 202, accepted.text
            body2, headers2 = _delivery(fl.guids["t01"], webhook_secret("t01"), "ev-2")
            again = http.post(f"{url}/t/t01/webhooks/b2connect", data=body2, headers=headers2)
            assert again.status_code == 202
        client = redis.Redis.from_url(redis_url)
        assert client.get(f"b2sync:queued:t01:{PIPE}") == b"webhooks"
        assert client.llen("webhooks") == 1, "two changes, one queued run"
        assert client.get(f"b2sync:queued:t02:{PIPE}") is None
        counts = {}
        for tenant in ("t01", "t02"):
            engine = make_engine(fl.store_urls[tenant], tenant=tenant)
            # the receipts go to the store's intake journal (on SQLite a file beside it)
            journal = intake_journal(engine, [metadata.tables["webhook_receipts"]])
            with journal.connect() as conn:
                counts[tenant] = conn.execute(
                    sa.text("SELECT count(*) FROM webhook_receipts")
                ).scalar()
            engine.dispose()
        assert counts["t01"] and counts["t01"] >= 2, "the deliveries were stored before the 2xx"
        assert counts["t02"] == 0


def wait_synced(fl: Fleet, client: redis.Redis, tenants: tuple[str, ...]) -> None:
    """Until every customer of each tenant is in its CRM or dead-lettered, and no run is left."""
    for _ in range(360):
        done = all(fl.verdict(t)["lost"] == 0 and fl.verdict(t)["synced"] for t in tenants)
        if done and not client.keys("b2sync:lock:*") and not client.keys("b2sync:queued:*"):
            return
        threading.Event().wait(0.25)
    raise AssertionError({t: fl.verdict(t) for t in tenants})


@contextmanager
def front(fl: Fleet, env: dict[str, str]) -> Iterator[tuple[requests.Session, str]]:
    """A ``b2sync front`` process for the fleet's tenants, answering its health check: an
    HTTP session and the service's URL; the process is stopped afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [B2SYNC, "front", "--tenants", str(fl.tenants_file), "--broker", fl.redis_url,
         "--listen", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with requests.Session() as http:
            http.trust_env = False
            for _ in range(200):
                try:
                    if http.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    threading.Event().wait(0.1)
            yield http, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _api_status(fl: Fleet) -> dict[str, dict[str, Any]]:
    """``GET /t/<tenant>/api/status`` of each tenant, from a ``b2sync front`` process."""
    env = {**fl.env(), **{f"{t.upper()}_STATUS_TOKEN": _status_token(t) for t in fl.portals}}
    out = {}
    with front(fl, env) as (http, url):
        for tenant in fl.portals:
            auth = {"Authorization": f"Bearer {_status_token(tenant)}"}
            got = http.get(f"{url}/t/{tenant}/api/status", headers=auth, timeout=30)
            assert got.status_code == 200, got.text
            out[tenant] = got.json()
    return out


def _status_token(tenant: str) -> str:
    return f"status-{tenant}-test-only-0123456789abcdef"


def table_rows(engine: sa.Engine) -> dict[str, tuple[int, int]]:
    """Per table: (rows this engine sees, of those the ones not of its tenant)."""
    out = {}
    with engine.connect() as conn:
        tenant = connection_tenant(conn)
        for name in sorted(metadata.tables):
            table = metadata.tables[name]
            column = table.c[TENANT_COLUMN]
            seen = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            foreign = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(column != tenant)
            ).scalar_one()
            out[name] = (seen, foreign)
    return out


@pytest.mark.postgres
def test_tenants_sharing_one_postgresql_database_see_only_their_rows(
    tmp_path: Path, redis_url: str, postgres_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tenants in ONE PostgreSQL database, synced by a worker: every row carries its tenant;
    a tenant's engine, commands, API route and tasks see and change only its rows (RLS)."""
    customers = 12
    with fleet(
        tmp_path, redis_url, tenants=2, customers=customers,
        store_url=lambda _tenant: postgres_store_url,  # one database for both tenants
        extra="http: {status_token: '${STATUS_TOKEN}'}\n",
    ) as fl:  # fmt: skip
        fl.start_worker("w0")
        client = redis.Redis.from_url(redis_url)
        enqueuer = Enqueuer(make_app(WorkerSettings(redis_url)), client)
        for tenant in ("t01", "t02"):
            enqueuer.run(tenant, PIPE)
        wait_synced(fl, client, ("t01", "t02"))
        for tenant in ("t01", "t02"):
            verdict = fl.verdict(tenant)
            assert verdict["lost"] == verdict["crossed"] == verdict["duplicated"] == 0, verdict
        engines = {t: make_engine(postgres_store_url, tenant=t) for t in ("t01", "t02")}
        try:
            # (a) the column is NOT NULL on every table: no row anywhere lacks its tenant
            with engines["t01"].connect() as conn:
                nullable = conn.execute(
                    sa.text(
                        "SELECT table_name FROM information_schema.columns "
                        "WHERE column_name = :c AND is_nullable = 'NO' "
                        "AND table_schema = current_schema()"
                    ),
                    {"c": TENANT_COLUMN},
                ).scalars()
                assert set(nullable) == set(metadata.tables)
            # (b) each engine sees exactly its own rows, though both are in the same tables
            rows = {t: table_rows(engines[t]) for t in engines}
            for tenant in engines:
                assert all(foreign == 0 for _, foreign in rows[tenant].values()), rows[tenant]
                assert rows[tenant]["links"][0] == fl.verdict(tenant)["synced"], "its own links"
                assert rows[tenant]["runs"][0] >= 1 and rows[tenant]["settings"][0] >= 1
            with engines["t01"].connect() as conn, conn.begin() as tx:
                updated = conn.execute(sa.text("UPDATE links SET crm_object = crm_object"))
                deleted = conn.execute(sa.text("DELETE FROM cursors"))
                assert updated.rowcount == rows["t01"]["links"][0], "an UPDATE touches t01's rows"
                assert deleted.rowcount == rows["t01"]["cursors"][0]
                tx.rollback()
            settings = metadata.tables["settings"]
            with engines["t01"].connect() as conn, pytest.raises(sa.exc.ProgrammingError) as err:
                conn.execute(settings.insert().values(name="x", value="y", b2sync_tenant="t02"))
            assert "row-level security" in str(err.value)
            with engines["t01"].begin() as conn:  # an insert that forgets the tenant gets t01
                conn.execute(settings.insert().values(name="probe", value="1"))
            with engines["t02"].connect() as conn:
                assert (
                    conn.execute(sa.select(settings.c.name).where(settings.c.name == "probe")).all()
                    == []
                )
            # (c) t02 has a dead letter; t01's commands and a t01 task never see or change it
            dead = metadata.tables["dead_letters"]
            runs = metadata.tables["runs"]
            with engines["t02"].begin() as conn:
                run_id = conn.execute(sa.select(runs.c.id).limit(1)).scalar_one()
                conn.execute(dead.insert().values(
                    pipeline=PIPE, run_id=run_id, stream="customers", record_key="t02-only",
                    payload={}, error_code="REJECTED", error_message="test", attempts=0,
                    status="pending", created_at=utc_now(), updated_at=utc_now(),
                ))  # fmt: skip
            before = table_rows(engines["t02"])
            for key, value in fl.env().items():
                monkeypatch.setenv(key, value)
            cli, base = CliRunner(), ["--tenants", str(fl.tenants_file)]
            listed = {}
            for tenant in ("t01", "t02"):
                out = cli.invoke(app, [*base, "--tenant", tenant, "deadletters", "list", "--json"])
                assert out.exit_code == 0, out.output
                listed[tenant] = [row["record_key"] for row in json.loads(out.stdout)]
            assert "t02-only" in listed["t02"] and "t02-only" not in listed["t01"]
            assert set(listed["t01"]) == fl.dead_letters("t01"), "t01's own dead letters"
            status = cli.invoke(app, [*base, "--tenant", "t01", "status", "--json"])
            assert status.exit_code == 0, status.output
            assert json.loads(status.stdout)["dead_letters_pending"] == len(listed["t01"])
            api = _api_status(fl)
            assert api["t01"]["dead_letters_pending"] == len(listed["t01"])
            assert api["t02"]["dead_letters_pending"] == len(listed["t02"])
            one = next(iter(fl.shop_customers("t01")))
            erased = cli.invoke(
                app, [*base, "--tenant", "t01", "erase", "--customer-id", one, "--no-process"]
            )
            assert erased.exit_code == 0, erased.output
            runs_before = table_rows(engines["t01"])["runs"][0]
            enqueuer.run("t01", PIPE)  # a worker task of t01
            for _ in range(360):
                idle = not client.keys("b2sync:lock:*") and not client.keys("b2sync:queued:*")
                if idle and table_rows(engines["t01"])["runs"][0] > runs_before:
                    break
                threading.Event().wait(0.25)
            else:
                pytest.fail("t01's task did not run")
            assert table_rows(engines["t02"]) == before, "nothing of t02 changed"
            assert table_rows(engines["t01"])["erasure_requests"][0] == 1
        finally:
            for engine in engines.values():
                engine.dispose()

"""Many tenants for the scale tests and the benchmark: one B2Connect emulator serving every
tenant (it is multi-tenant, like the platform), one HubSpot emulator (portal) per tenant, a
tenants.yaml with a shared base config and per-tenant overrides, and real worker processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from starlette.responses import Response

from emulators import FaultPlan
from emulators.b2connect import B2ConnectEmulator
from emulators.hubspot import HubSpotEmulator
from emulators.seed import generate
from store import make_engine
from store.models import metadata

B2SYNC = shutil.which("b2sync", path=str(Path(sys.executable).parent)) or "b2sync"
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LWZvci1iMnN5bmMtdGVzdHM="
PIPE = "customers-to-hubspot"

BASE = """\
version: 1
state_url: sqlite:///unused.db
audit: {enabled: false}
connections:
  shop:
    type: b2connect
    url: ${B2SYNC_B2CONNECT_URL}
    token: ${B2SYNC_B2CONNECT_TOKEN}
    tenant_id: ${B2SYNC_B2CONNECT_TENANT_ID}
    webhook_secret: ${B2SYNC_B2CONNECT_WEBHOOK_SECRET}
  hubspot:
    type: hubspot
    url: ${B2SYNC_HUBSPOT_URL}
    token: ${B2SYNC_HUBSPOT_TOKEN}
%(connections)spipelines:
%(pipelines)s%(extra)s"""

CUSTOMERS_PIPELINE = """  - name: customers-to-hubspot
    b2connect: {connection: shop, stream: customers}
    crm: {connection: hubspot, object: contacts, id_property: b2connect_id}
    direction: push
    match_key: {b2connect: email, crm: email}
    batch_size: %(batch)d
    schedule: {every: 1h}
    fields:
      - {b2connect: email, crm: email, transform: [email], required: true}
      - {b2connect: firstName, crm: firstname, transform: [strip]}
      - {b2connect: lastName, crm: lastname, transform: [strip]}
"""
COMPANIES_PIPELINE = """  - name: companies-to-hubspot
    b2connect: {connection: shop, stream: companies}
    crm: {connection: hubspot, object: companies, id_property: b2connect_id}
    match_key: {b2connect: website, crm: domain}
    schedule: {every: 1h}
    fields:
      - {b2connect: name, crm: name, transform: [strip]}
      - {b2connect: website, crm: domain, transform: [strip, lower]}
"""
ORDERS_PIPELINE = """  - name: orders-to-hubspot
    b2connect: {connection: shop, stream: orders}
    crm: {connection: hubspot, object: orders, id_property: b2connect_id}
    schedule: {every: 1h}
    fields:
      - {b2connect: orderNumber, crm: hs_order_name, transform: [{coalesce: [orderNumber, id]}]}
      - {b2connect: currency, crm: hs_currency_code, transform: [upper]}
"""
#: two more pipelines on the same portal (three runs of one tenant can go on at once)
MORE_PIPELINES = COMPANIES_PIPELINE + ORDERS_PIPELINE


@dataclass(frozen=True)
class Stream:
    """One of a tenant's HubSpot pipelines: its shop stream, name, portal object and text."""

    stream: str
    pipeline: str
    crm_object: str
    text: str


#: the pipelines a fleet's tenants can run, by shop stream (``fleet(..., streams=...)``)
STREAMS: dict[str, Stream] = {
    s.stream: s
    for s in (
        Stream("customers", PIPE, "contacts", CUSTOMERS_PIPELINE),
        Stream("companies", "companies-to-hubspot", "companies", COMPANIES_PIPELINE),
        Stream("orders", "orders-to-hubspot", "orders", ORDERS_PIPELINE),
    )
}


def webhook_secret(tenant: str) -> str:
    """Each tenant's own B2Connect webhook secret (test value)."""
    return f"whsec-{tenant}-test-only-0123456789"


class CountingHubSpot(HubSpotEmulator):
    """A HubSpot portal that counts the 429s it answered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rejected_429 = 0

    def error_response(self, err: Any) -> Response:
        if err.status == 429:
            self.rejected_429 += 1
        return super().error_response(err)


@dataclass
class Fleet:
    """Tenants, their emulated shops and portals, and worker processes."""

    root: Path
    redis_url: str
    shop: B2ConnectEmulator
    portals: dict[str, CountingHubSpot]
    guids: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    page_size: int = 500
    rate_limit_per_10s: int = 190
    #: each tenant's state store (default: a SQLite file per tenant under ``root/state``)
    store_urls: dict[str, str] = field(default_factory=dict)
    #: more environment for the workers (a Salesforce org's variables, budget knobs)
    extra_env: dict[str, str] = field(default_factory=dict)
    #: the shop streams whose pipelines every tenant runs (what :meth:`verdict` counts)
    streams: tuple[str, ...] = ("customers",)

    @property
    def tenants_file(self) -> Path:
        return self.root / "tenants.yaml"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("B2SYNC_")}
        env.update(B2SYNC_MASTER_KEY=MASTER_KEY, B2SYNC_VISIBILITY_TIMEOUT_S="4", B2SYNC_LOCK_TTL_S="3",
                   B2SYNC_HUBSPOT_PER_10S=str(self.rate_limit_per_10s),
                   PYTHONPATH=str(Path(__file__).resolve().parents[2]),
                   B2SYNC_CONNECTOR_OPTIONS=json.dumps(
                       {"b2connect": {"batch_size": self.page_size}}))  # fmt: skip
        for tenant, portal in self.portals.items():
            prefix = tenant.upper().replace("-", "_") + "_"
            env.update({
                f"{prefix}B2SYNC_B2CONNECT_URL": self.shop.url,
                f"{prefix}B2SYNC_B2CONNECT_TOKEN": self.shop.token_for(
                    self.guids[tenant], lifetime_s=24 * 3600
                ),
                f"{prefix}B2SYNC_B2CONNECT_TENANT_ID": self.guids[tenant],
                f"{prefix}B2SYNC_B2CONNECT_WEBHOOK_SECRET": webhook_secret(tenant),
                f"{prefix}B2SYNC_HUBSPOT_URL": portal.url,
                f"{prefix}B2SYNC_HUBSPOT_TOKEN": portal.token,
                f"{prefix}STATE_URL": self.store_urls[tenant],
            })  # fmt: skip
        env.update(self.extra_env)
        return env

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        """A ``b2sync worker`` process (its own session: a kill takes its children too)."""
        with (self.root / f"{name}.log").open("ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [B2SYNC, "worker", "--tenants", str(self.tenants_file), "--broker",
                 self.redis_url, "--concurrency", "1", "--name", f"{name}@%h"],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.workers.append(proc)
        return proc

    def wait_ready(self, name: str, timeout_s: float = 180) -> None:
        """Until worker ``name`` has booted (imports, broker connection, pool): Celery logs
        ``<name>@<host> ready.``"""
        path = self.root / f"{name}.log"
        text = ""
        for _ in range(int(timeout_s * 10)):
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            if f"{name}@" in text and " ready." in text:
                return
            threading.Event().wait(0.1)
        raise AssertionError(f"worker {name} not ready:\n{text[-2000:]}")

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker and its pool."""
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                self.kill(proc)
        self.workers.clear()

    def schedule_once(self) -> str:
        """``b2sync scheduler --once``: enqueue every tenant's due runs."""
        out = subprocess.run(
            [B2SYNC, "scheduler", "--tenants", str(self.tenants_file), "--broker",
             self.redis_url, "--once"],
            env=self.env(), capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return out.stdout

    def tasks(self, name: str, what: str) -> set[str]:
        """Ids of the run tasks worker ``name``'s log says were ``received`` / ``succeeded``."""
        path = self.root / f"{name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        return set(re.findall(r"Task b2sync\.run\[([0-9a-f-]+)\] " + what, text))

    # ---- the truth

    def shop_records(self, tenant: str, stream: str = "customers") -> dict[str, dict[str, Any]]:
        """The tenant's records of one shop stream, by B2Connect key."""
        guid = self.guids[tenant]
        return {r["id"]: r for r in self.shop.admin_list(stream) if r["tenantId"] == guid}

    def shop_customers(self, tenant: str) -> dict[str, dict[str, Any]]:
        return self.shop_records(tenant, "customers")

    def crm_records(
        self, tenant: str, crm_object: str = "contacts"
    ) -> dict[str, list[dict[str, Any]]]:
        """The tenant's portal records of one object, by the B2Connect key they carry."""
        out: dict[str, list[dict[str, Any]]] = {}
        for record in self.portals[tenant].admin_list(crm_object):
            key = record.get("properties", {}).get("b2connect_id")
            if key and not record.get("archived"):
                out.setdefault(key, []).append(record)
        return out

    def crm_contacts(self, tenant: str) -> dict[str, list[dict[str, Any]]]:
        return self.crm_records(tenant, "contacts")

    def _query(self, tenant: str, query: Callable[[sa.Connection], Any], empty: Any) -> Any:
        """``query`` over the tenant's rows (a shared store holds more), or ``empty`` when the
        store does not exist (yet)."""
        url = self.store_urls[tenant]
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
            return empty
        engine = make_engine(url, tenant=tenant)
        try:
            with engine.connect() as conn:
                return query(conn)
        except (sa.exc.OperationalError, sa.exc.ProgrammingError):
            return empty
        finally:
            engine.dispose()

    def dead_letters(self, tenant: str, pipeline: str = PIPE) -> set[str]:
        table = metadata.tables["dead_letters"]
        select = sa.select(table.c.record_key).where(table.c.pipeline == pipeline)
        return set(self._query(tenant, lambda c: {str(r) for r in c.execute(select).scalars()}, ()))

    def latest_runs(self, tenant: str) -> dict[str, tuple[str, str]]:
        """Each pipeline's latest finished run in the tenant's store: (status, error)."""
        runs = metadata.tables["runs"]
        select = (
            sa.select(runs.c.pipeline, runs.c.status, runs.c.error)
            .where(runs.c.finished_at.is_not(None))
            .order_by(runs.c.finished_at)
        )
        rows = self._query(tenant, lambda c: c.execute(select).all(), [])
        return {str(r.pipeline): (str(r.status), str(r.error or "")) for r in rows}

    def until_ran(self, tenant: str, pipelines: Sequence[str], timeout_s: float = 180) -> None:
        """Wait until nothing is queued or running and each of ``pipelines`` has run."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            for _ in range(int(timeout_s * 4)):
                idle = not client.keys("b2sync:queued:*") and not client.keys("b2sync:lock:*")
                if idle and set(pipelines) <= set(self.latest_runs(tenant)):
                    return
                threading.Event().wait(0.25)
        finally:
            client.close()
        raise AssertionError(f"runs not finished: {self.latest_runs(tenant)}")

    def erased(self, tenant: str) -> set[str]:
        """Customers of the tenant's shop with an erasure request (the worker's erasure task
        files and carries them out: they must not reach the CRM)."""
        guid = self.guids[tenant]
        return {
            str(e["subjectId"])
            for e in self.shop.admin_list("erasures")
            if e.get("tenantId") == guid and e.get("subjectId")
        }

    def verdict(self, tenant: str) -> dict[str, int]:
        """Over the fleet's streams: lost (neither in the CRM nor dead-lettered nor erased),
        duplicated, crossed (another tenant's or an unknown key in this portal), wrong
        (customers whose values differ from the shop), synced (records in the portal)."""
        erased = self.erased(tenant)
        out = dict.fromkeys(("lost", "duplicated", "crossed", "wrong", "synced"), 0)
        for name in self.streams:
            stream = STREAMS[name]
            shop = self.shop_records(tenant, name)
            crm = self.crm_records(tenant, stream.crm_object)
            done = self.dead_letters(tenant, stream.pipeline)
            if name == "customers":
                done |= erased
            elif name == "orders":  # an erased shopper's orders: blocked by the tombstone
                done |= {k for k, order in shop.items() if order.get("customerId") in erased}
            out["lost"] += len([k for k in shop if k not in crm and k not in done])
            out["duplicated"] += sum(len(v) - 1 for v in crm.values())
            out["crossed"] += len([k for k in crm if k not in shop])
            out["synced"] += len(crm)
            if name == "customers":
                out["wrong"] += self._wrong_names(shop, crm)
        return out

    @staticmethod
    def _wrong_names(shop: dict[str, dict[str, Any]], crm: dict[str, list[dict[str, Any]]]) -> int:
        wrong = 0
        for key, contacts in crm.items():
            source = shop.get(key)
            if source is None:
                continue
            props = contacts[0]["properties"]
            if (props.get("firstname") or "") != (source.get("firstName") or "").strip():
                wrong += 1
        return wrong


@contextmanager
def fleet(root: Path, redis_url: str, tenants: int, customers: int, *, batch: int = 50,
          rate_limit_per_10s: int = 190, latency_s: float = 0.0, daily_limit: int = 650_000,
          page_size: int = 500, extra: str = "", connections: str = "",
          store_url: Callable[[str], str] | None = None,
          streams: Sequence[str] = ("customers",)) -> Iterator[Fleet]:  # fmt: skip
    """``tenants`` tenants (t01…), ``customers`` shoppers each, with a tenants.yaml; each
    tenant runs the HubSpot pipelines of ``streams`` (:data:`STREAMS`), then ``extra``."""
    ids = [f"t{i:02d}" for i in range(1, tenants + 1)]
    guids = {t: str(uuid.UUID(int=0x5CA1E000 + i)) for i, t in enumerate(ids, start=1)}
    shop = B2ConnectEmulator(tenants=list(guids.values()))
    portals = {
        t: CountingHubSpot(token=f"pat-{t}-token", portal_id=5000 + i,
                           rate_limit_per_10s=rate_limit_per_10s, daily_limit=daily_limit)
        for i, t in enumerate(ids, start=1)
    }  # fmt: skip
    started: list[Any] = []
    try:
        for emu in (shop, *portals.values()):
            emu.start(0)
            started.append(emu)
        if latency_s:  # every vendor call takes this long, as over the internet
            for portal in portals.values():
                portal.faults = FaultPlan.from_json(
                    {"rules": [{"match": "*", "kind": "slow", "delay_s": latency_s}]}
                )
        for i, t in enumerate(ids, start=1):
            shop.load(generate(customers, seed=1900 + i, tenant_id=guids[t]))
        (root / "tenants").mkdir(parents=True, exist_ok=True)
        (root / "base.yaml").write_text(
            BASE % {"extra": extra, "connections": connections,
                    "pipelines": "".join(STREAMS[s].text for s in streams) % {"batch": batch}},
            encoding="utf-8",
        )  # fmt: skip
        lines = ["tenants:"]
        urls = {t: store_url(t) if store_url else f"sqlite:///{root}/state/{t}.db" for t in ids}
        for t in ids:
            # the store URL is the tenant's secret too: ${STATE_URL} reads T01_STATE_URL
            (root / "tenants" / f"{t}.yaml").write_text(
                "state_url: ${STATE_URL}\n", encoding="utf-8"
            )
            prefix = t.upper() + "_"
            lines.append(f"  - {{id: {t}, config: tenants/{t}.yaml, base: base.yaml, "
                         f"env_prefix: {prefix}}}")  # fmt: skip
        (root / "tenants.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        fl = Fleet(
            root,
            redis_url,
            shop,
            portals,
            guids,
            page_size=page_size,
            rate_limit_per_10s=rate_limit_per_10s,
            store_urls=urls,
            streams=tuple(streams),
        )
        try:
            yield fl
        finally:
            fl.stop_workers()
    finally:
        for emu in reversed(started):
            emu.stop()

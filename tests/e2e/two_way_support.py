"""Kit for the two-way tests: a ``direction: both`` config, one runner kept across cycles,
CRM-user and shopper edits through the emulators' admin API, and write-call counting."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from b2sync.runtime import build_runner
from emulators.stack import EmulatorStack
from mapping.config import Config
from store.models import metadata
from sync.run import RunSummary
from sync.runner import Runner
from tests.e2e.conftest import E2E, FAST_RETRY, config_for

HS = "customers-to-hubspot"
SF = "customers-to-salesforce"
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")

CONFIG = """\
version: 1
state_url: sqlite:///state/b2sync.db
audit: {{enabled: true}}
connections:
  shop:
    type: b2connect
    url: ${{B2SYNC_B2CONNECT_URL}}
    token: ${{B2SYNC_B2CONNECT_TOKEN}}
    tenant_id: ${{B2SYNC_B2CONNECT_TENANT_ID}}
  hubspot:
    type: hubspot
    url: ${{B2SYNC_HUBSPOT_URL}}
    token: ${{B2SYNC_HUBSPOT_TOKEN}}
  salesforce:
    type: salesforce
    instance_url: ${{B2SYNC_SALESFORCE_URL}}
    ca_file: ${{B2SYNC_SALESFORCE_CA_FILE}}
    auth: {{method: session, session_id: "${{B2SYNC_SALESFORCE_SESSION_ID}}"}}
pipelines:
  - name: customers-to-hubspot
    b2connect: {{connection: shop, stream: customers}}
    crm: {{connection: hubspot, object: contacts, id_property: b2connect_id}}
    direction: {hs_direction}
    on_delete: {{to_crm: archive, to_b2connect: {hs_delete}}}
    match_key: {{b2connect: email, crm: email}}
    fields:
      - {{b2connect: email, crm: email, transform: [email], required: true, direction: push}}
      - {{b2connect: firstName, crm: firstname, transform: [strip], rule: {first_rule}}}
      - {{b2connect: lastName, crm: lastname, transform: [strip], rule: two_way}}
      - {{b2connect: phone, crm: phone, transform: [e164_phone], rule: prefer_crm_unless_blank}}
      - {{b2connect: billingAddress.city, crm: city, transform: [strip], rule: prefer_b2connect}}
      - {{b2connect: language, crm: hs_language, transform: [lower], rule: b2connect_only}}
{salesforce}"""

SALESFORCE = """\
  - name: customers-to-salesforce
    b2connect: {{connection: shop, stream: customers}}
    crm: {{connection: salesforce, object: Contact, id_property: B2Connect_Id__c}}
    direction: both
    on_delete: {{to_crm: archive, to_b2connect: archive}}
    delete_breaker: {breaker}
    match_key: {{b2connect: email, crm: Email}}
    fields:
      - {{b2connect: email, crm: Email, transform: [email], required: true, direction: push}}
      - {{b2connect: firstName, crm: FirstName, transform: [strip, {{truncate: 40}}]}}
      - {{b2connect: lastName, crm: LastName, transform: [strip, {{truncate: 80}}], default: "(unknown)"}}
      - {{b2connect: phone, crm: Phone, transform: [e164_phone], rule: prefer_crm_unless_blank}}
      - {{b2connect: billingAddress.city, crm: MailingCity, transform: [strip], rule: prefer_b2connect}}
"""


def two_way_config(
    tmp_path: Path,
    *,
    first_rule: str = "two_way",
    salesforce: bool = True,
    hs_delete: str = "archive",
    breaker: str = "{max_count: 100, max_share: 1.0}",
    hs_direction: str = "both",
) -> tuple[Config, Path]:
    """The kit's config (its store in ``tmp_path``)."""
    sf = SALESFORCE.format(breaker=breaker) if salesforce else ""
    text = CONFIG.format(
        first_rule=first_rule, salesforce=sf, hs_delete=hs_delete, hs_direction=hs_direction
    )
    return config_for(tmp_path, text)


@dataclass
class TwoWay:
    """The emulators, a ``both`` config and one runner for every cycle."""

    e2e: E2E
    runner: Runner
    summaries: list[RunSummary] = field(default_factory=list)

    @property
    def stack(self) -> EmulatorStack:
        return self.e2e.stack

    def cycle(self) -> list[RunSummary]:
        """Run every pipeline once (as the scheduler would)."""
        done = [self.runner.run_pipeline(p) for p in self.runner.select(None)]
        self.summaries.extend(done)
        return done

    def settle(self, limit: int = 8) -> int:
        """Run cycles until one writes nothing anywhere; the number of cycles it took."""
        for n in range(1, limit + 1):
            if not self.writes_during(self.cycle):
                return n
        raise AssertionError(f"not settled after {limit} cycles")

    def writes_during(self, action: Any) -> dict[str, int]:
        """Write calls each emulator counted while ``action()`` ran (reads excluded)."""
        before = self.all_calls()
        action()
        after = self.all_calls()
        out: dict[str, int] = {}
        for system, counts in after.items():
            for key, value in counts.items():
                method, _, path = key.partition(" ")
                if method in WRITE_METHODS and not path.endswith(("/search", "/batch/read")):
                    grown = value - before[system].get(key, 0)
                    if grown:
                        out[f"{system} {key}"] = grown
        return out

    def all_calls(self) -> dict[str, dict[str, int]]:
        return {s: self.e2e.calls(s) for s in ("b2connect", "hubspot", "salesforce")}

    # ---- edits as people make them

    def shopper(self, key: str, changes: dict[str, Any]) -> None:
        """A shopper (or shop admin) edits a customer in B2Connect."""
        self.stack.b2connect.admin_patch("customers", key, changes)
        tick()

    def hubspot_user(self, contact_id: str, props: dict[str, Any]) -> None:
        """A HubSpot user edits a contact."""
        self.stack.hubspot.admin_patch("contacts", contact_id, {"properties": props})
        tick()

    def salesforce_user(self, contact_id: str, fields: dict[str, Any]) -> None:
        """A Salesforce user edits a contact."""
        self.stack.salesforce.admin_patch("Contact", contact_id, fields)
        tick()

    # ---- reading the systems

    def customer(self, key: str) -> dict[str, Any]:
        return self.stack.b2connect.admin_get("customers", key)

    def hs_contact(self, key: str) -> dict[str, Any]:
        """The HubSpot contact holding B2Connect key ``key`` (live ones only)."""
        [found] = [
            c
            for c in self.e2e.records("hubspot", "contacts")
            if c["properties"].get("b2connect_id") == key and not c.get("archived")
        ]
        return found

    def sf_contact(self, key: str) -> dict[str, Any]:
        [found] = [
            c
            for c in self.e2e.records("salesforce", "Contact")
            if c.get("B2Connect_Id__c") == key and not c.get("IsDeleted")
        ]
        return found

    def linked(self, pipeline: str = HS) -> dict[str, str]:
        """B2Connect key → CRM id of the pipeline's live links."""
        table = metadata.tables["links"]
        with self.runner.db.connect() as conn:
            rows = conn.execute(
                sa.select(table.c.b2connect_key, table.c.crm_id).where(
                    table.c.pipeline == pipeline,
                    table.c.crm_id.is_not(None),
                    table.c.deleted_at.is_(None),
                )
            )
            return {str(k): str(v) for k, v in rows}

    def rows(self, name: str, pipeline: str = HS) -> list[dict[str, Any]]:
        table = metadata.tables[name]
        with self.runner.db.connect() as conn:
            query = sa.select(table).where(table.c.pipeline == pipeline)
            return [dict(r._mapping) for r in conn.execute(query)]


def tick() -> None:
    """Let the millisecond clocks of the emulators move on (edits get distinct times)."""
    time.sleep(0.003)


def open_two_way(e2e: E2E, config: Config) -> Iterator[TwoWay]:
    """A :class:`TwoWay` over ``e2e``'s stack (search limit raised: cycles come fast)."""
    limits = e2e.stack.hubspot.limits
    saved = limits.search_per_second
    limits.search_per_second = 1000
    e2e.config = config
    options = {"hubspot": {"waiter": e2e.waits.append}, "salesforce": {"bulk_wait_s": 0.01}}
    runner = build_runner(config, retry=FAST_RETRY, connector_options=options)
    try:
        yield TwoWay(e2e, runner)
    finally:
        runner.close()
        limits.search_per_second = saved

"""Duplicate emails in the shop, through the CLI and both CRMs.

A shop's database can hold several customers with one email (guest checkouts, case
variants, imports). Both CRMs must treat them alike: one CRM record for the person and the
other shop records parked as conflicts for a person to decide, never a duplicate in
Salesforce while HubSpot refuses the second create.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from emulators.seed import SeedData
from tests.e2e.conftest import E2E
from tests.e2e.test_cli_sync import cli

EMAIL = "Dana.Twice@Example.com"
KEYS = ("00000000-0000-4000-8000-00000000d001", "00000000-0000-4000-8000-00000000d002",
        "00000000-0000-4000-8000-00000000d003")  # fmt: skip
LATE = "00000000-0000-4000-8000-00000000d004"  # a duplicate that arrives after the first sync
PIPELINES = {"customers-to-hubspot": ("hubspot", "contacts"),
             "customers-to-salesforce": ("salesforce", "Contact")}  # fmt: skip


def _load_duplicates(e2e: E2E, keys: tuple[str, ...], emails: tuple[str, ...]) -> None:
    """Shop customers with one email (case varies), as the shop's own data."""
    shop = e2e.stack.b2connect
    template = {k: v for k, v in shop.admin_list("customers")[0].items() if k != "id"}
    customers = []
    for index, (key, email) in enumerate(zip(keys, emails, strict=True)):
        record = copy.deepcopy(template)
        record.update(id=key, email=email, firstName=f"Dana{index}", companyId=None)
        customers.append(record)
    shop.load(SeedData(shop.tenant_id, str(template["updatedAt"]), customers=customers))


def _with_email(e2e: E2E, system: str, obj: str) -> list[dict[str, Any]]:
    found = []
    for record in e2e.records(system, obj):
        fields = record.get("properties", record)
        live = not record.get("archived") and not record.get("IsDeleted")
        if live and str(fields.get("email") or fields.get("Email") or "").lower() == EMAIL.lower():
            found.append(record)
    return found


def _open_conflicts(e2e: E2E, pipeline: str) -> list[dict[str, Any]]:
    listed = cli(e2e, "conflicts", "list", "--pipeline", pipeline, "--json",
                 "--config", str(e2e.config_path))  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    return [c for c in json.loads(listed.stdout) if c["record_key"] in (*KEYS, LATE)]


@pytest.mark.slow
def test_duplicate_shop_emails_park_conflicts_alike_in_both_crms(e2e: E2E) -> None:
    """One CRM record per CRM; the other shop records parked as conflicts in both; no dupes."""
    _load_duplicates(e2e, KEYS, (EMAIL, EMAIL.lower(), f" {EMAIL.upper()}"))
    names = list(PIPELINES)
    parked = sorted(KEYS[1:])
    for attempt in range(3):  # a rerun neither duplicates nor re-asks; a late duplicate parks
        if attempt == 2:
            _load_duplicates(e2e, (LATE,), (EMAIL.lower(),))
            parked = sorted([*KEYS[1:], LATE])
        result = cli(e2e, "sync", *names, "--json", "--config", str(e2e.config_path))
        assert result.returncode == 0, result.stderr[-3000:]
        assert all(s["status"] == "succeeded" for s in json.loads(result.stdout))
        for pipeline, (system, obj) in PIPELINES.items():
            assert len(_with_email(e2e, system, obj)) == 1, (attempt, pipeline)
            conflicts = _open_conflicts(e2e, pipeline)
            assert sorted(c["record_key"] for c in conflicts) == parked, (attempt, pipeline)
            assert {c["kind"] for c in conflicts} == {"ambiguous_match"}
    for pipeline in names:
        listed = cli(e2e, "deadletters", "list", "--pipeline", pipeline, "--json",
                     "--config", str(e2e.config_path))  # fmt: skip
        rows = json.loads(listed.stdout)
        assert not [r for r in rows if r["record_key"] in (*KEYS, LATE)], pipeline

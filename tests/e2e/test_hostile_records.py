"""Hostile records: what the B2Connect wire can carry never blocks a pipeline.

A corpus of customers and an order, loaded into the B2Connect emulator as the shop's own data
(its seed path: no write-back validation, as a shop's database can hold anything its JSON can
carry), with wrong JSON types at every mapped field, huge and tiny numbers, NaN/Infinity,
lone surrogates, control characters, 1 MB strings and nested objects. ``b2sync sync`` must
sync each record exactly as the mapping says or dead-letter it naming the field; the cursor
moves on and a second run neither re-crashes nor re-reads.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.hubspot import to_text
from emulators.seed import SeedData
from mapping.compiler import compile_fields
from mapping.config import Direction
from tests.e2e.conftest import E2E, by_key
from tests.e2e.test_cli_sync import cli

PIPELINES = ("customers-to-hubspot", "orders-to-hubspot")
#: the mapped source fields made hostile, one record per (field, value)
FIELDS = ("firstName", "lastName", "phone", "email", "language", "billingAddress")
ORDER_FIELDS = ("orderNumber", "currency", "customerId")
HUGE_ORDER = "00000000-0000-4000-a000-000000000001"
#: per stream: the pipeline, the HubSpot object and the CRM properties b2sync computes itself
STREAMS = {
    "customers": ("customers-to-hubspot", "contacts", "b2c_"),
    "orders": ("orders-to-hubspot", "orders", "@"),
}
HOSTILE: dict[str, Any] = {
    "surrogate": "Ann\ud800e",
    "nested": {"a": {"b": [1, {"c": None}]}},
    "list": [1, "two"],
    "huge": 1e308,
    "tiny": 5e-324,
    "nan": float("nan"),
    "inf": float("-inf"),
    "control": "a\x01\x1b[31mb\u202e",
    "megabyte": "x" * 1_000_000,
    "bool": True,
    "bigint": 10**30,
}


def _corpus(
    template: dict[str, Any], fields: tuple[str, ...], prefix: str
) -> dict[str, tuple[str, dict[str, Any]]]:
    """id → (hostile field, record): one record per (field, hostile value)."""
    corpus: dict[str, tuple[str, dict[str, Any]]] = {}
    for f_index, name in enumerate(fields):
        for v_index, value in enumerate(HOSTILE.values()):
            rid = f"00000000-0000-4000-{prefix}-{f_index:06d}{v_index:06d}"
            record = copy.deepcopy(template)
            record["id"] = rid
            if "email" in record:
                record["email"] = f"hostile.{f_index}.{v_index}@example.com"
            if name == "billingAddress":  # the nested city, and the address itself
                record[name] = {**record[name], "city": value} if v_index % 2 else value
            else:
                record[name] = value
            corpus[rid] = (name, record)
    return corpus


def _load(e2e: E2E) -> dict[str, tuple[str, dict[str, Any]]]:
    """The hostile customers and orders, loaded as the shop's own data."""
    shop = e2e.stack.b2connect
    template = {k: v for k, v in shop.admin_list("customers")[0].items() if k != "id"}
    order = {k: v for k, v in shop.admin_list("orders")[0].items() if k != "tenantId"}
    corpus = _corpus(template, FIELDS, "8000")
    orders = _corpus(order, ORDER_FIELDS, "9000")
    huge = copy.deepcopy(order)
    huge.update(id=HUGE_ORDER, totalAmount=1e20, orderNumber="")
    seed = SeedData(
        tenant_id=shop.tenant_id,
        now=str(template["updatedAt"]),
        customers=[record for _, record in corpus.values()],
        orders=[huge, *(record for _, record in orders.values())],
    )
    shop.load(seed)
    return {**corpus, **orders}


def _dead_letters(e2e: E2E) -> dict[str, dict[str, Any]]:
    listed = cli(e2e, "deadletters", "list", "--json", "--config", str(e2e.config_path))
    assert listed.returncode == 0, listed.stderr
    return {row["record_key"]: row for row in json.loads(listed.stdout)}


@pytest.mark.slow
def test_hostile_corpus_syncs_or_dead_letters_and_never_blocks(e2e: E2E) -> None:
    """Every hostile record is synced as mapped or dead-lettered by field; runs go on."""
    corpus = _load(e2e)
    first = cli(e2e, "sync", *PIPELINES, "--json", "--config", str(e2e.config_path))
    assert first.returncode == 0, first.stderr[-3000:]
    summaries = json.loads(first.stdout)
    assert [s["status"] for s in summaries] == ["succeeded", "succeeded"], summaries

    dead = _dead_letters(e2e)
    synced = 0
    for stream, (pipeline, obj, computed) in STREAMS.items():
        in_crm = by_key(e2e.records("hubspot", obj), "b2connect_id")
        mapping = compile_fields(e2e.config.pipeline(pipeline).fields)
        shop = {r["id"]: r for r in e2e.stack.b2connect.admin_list(stream)}
        for rid, (hostile_field, _record) in corpus.items():
            if rid not in shop:
                continue  # the other stream's
            if rid in dead:
                assert dead[rid]["error_field"] in (hostile_field, f"{hostile_field}.city"), rid
                assert rid not in in_crm
                continue
            [crm_record] = in_crm[rid]
            expected = mapping.apply(shop[rid], direction=Direction.push).payload
            for prop, value in expected.items():
                if not prop.startswith(computed):
                    assert crm_record["properties"].get(prop, "") == to_text(value), (rid, prop)
            synced += 1
        # the normal records synced too
        normal = [r for r in shop.values() if r["id"] not in corpus and r["id"] != HUGE_ORDER]
        assert all(r["id"] in in_crm or r["id"] in dead for r in normal), stream
        assert sum(1 for r in normal if r["id"] in in_crm) >= len(normal) // 2, stream
    assert synced >= len(FIELDS)  # control characters, 1 MB strings... go through as mapped
    # the order with an absurd total reached the CRM and did not sink the insights ledger
    assert HUGE_ORDER in by_key(e2e.records("hubspot", "orders"), "b2connect_id")

    second = cli(e2e, "sync", *PIPELINES, "--json", "--config", str(e2e.config_path))
    assert second.returncode == 0, second.stderr[-3000:]
    for again in json.loads(second.stdout):
        assert again["status"] == "succeeded"
        assert again["counts"].get("read", 0) == 0  # the cursor moved past every hostile record
        assert again["counts"].get("pull_to_b2connect", 0) == 0  # nothing bounced back
    assert _dead_letters(e2e).keys() == dead.keys()
    after = {r["id"]: r for r in e2e.stack.b2connect.admin_list("customers")}
    for rid, (name, record) in corpus.items():
        if rid in after and record[name] == record[name]:  # NaN is never equal to itself
            assert after[rid][name] == record[name], (rid, name)


@pytest.mark.slow
def test_hostile_crm_records_never_block_the_pull(e2e: E2E) -> None:
    """CRM records carrying a lone surrogate (in the id property, in a pulled field) are
    dead-lettered naming the field; the shop keeps its value; the pull never re-crashes."""
    config = str(e2e.config_path)
    assert cli(e2e, "sync", "customers-to-hubspot", "--config", config).returncode == 0
    hubspot = e2e.stack.hubspot
    hubspot.admin_create("contacts", {"properties": {"email": "odd@example.com",
                                                     "b2connect_id": "k\ud800"}})  # fmt: skip
    linked = next(c for c in hubspot.admin_list("contacts") if c["properties"].get("b2connect_id"))
    key = linked["properties"]["b2connect_id"]
    before = e2e.stack.b2connect.admin_get("customers", key)["firstName"]
    hubspot.admin_patch("contacts", linked["id"], {"properties": {"firstname": "B\udc00"}})
    for attempt in range(2):
        result = cli(e2e, "sync", "customers-to-hubspot", "--json", "--config", config)
        assert result.returncode == 0, result.stderr[-3000:]
        [summary] = json.loads(result.stdout)
        assert summary["status"] == "succeeded", (attempt, summary)
    assert e2e.stack.b2connect.admin_get("customers", key)["firstName"] == before
    fields = {row["error_field"] for row in _dead_letters(e2e).values()}
    assert {"b2connect_id", "firstname"} <= fields

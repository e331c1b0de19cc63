"""docs/b2connect-integration-api.yaml: it parses, and the emulator answers in its shapes."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from emulators.b2connect import B2ConnectEmulator
from tests.fixtures.b2connect import WebhookSink, read_feed

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "b2connect-integration-api.yaml"
ENTITY_SCHEMAS = {
    "customers": "Customer",
    "companies": "Company",
    "orders": "Order",
    "consents": "Consent",
    "erasures": "Erasure",
}


@cache
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        return json.loads(json.dumps(YAML(typ="safe").load(fh)))


def validator(name: str) -> Draft202012Validator:
    root = {"$ref": f"#/components/schemas/{name}", "components": spec()["components"]}
    return Draft202012Validator(root)


def assert_valid(name: str, instance: object) -> None:
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_spec_is_openapi_31_with_webhooks() -> None:
    """The file parses as YAML and declares OpenAPI 3.1 with a webhooks section."""
    doc = spec()
    assert doc["openapi"] == "3.1.0"
    assert "b2connectEvent" in doc["webhooks"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"


def test_component_schemas_are_valid_json_schema() -> None:
    """Every component schema is a valid JSON Schema 2020-12 document."""
    for schema in spec()["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_emulator_route_is_documented(b2connect_emulator: B2ConnectEmulator) -> None:
    """Each vendor route the emulator serves appears in paths."""
    paths = spec()["paths"]
    for method, route, _ in b2connect_emulator.api.routes():
        template = route.replace("{rid}", "{id}")
        expanded = (
            [template.replace("{entity}", e) for e in ENTITY_SCHEMAS]
            if "{entity}" in template
            else [template]
        )
        for path in expanded:
            assert method.lower() in paths.get(path, {}), f"{method} {path} undocumented"


@pytest.mark.parametrize("entity", list(ENTITY_SCHEMAS))
def test_delta_pages_match_schema(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session, entity: str
) -> None:
    """Every page of every feed validates against its DeltaPage schema."""
    name = ENTITY_SCHEMAS[entity]
    query: dict[str, Any] = {"batchSize": 40}
    while True:
        body = b2connect_session.get(
            f"{b2connect_emulator.url}/api/crm/{entity}/delta", params=query, timeout=10
        ).json()
        assert_valid(f"{name}DeltaPage", body)
        if not body["hasMore"]:
            break
        query["continuationToken"] = body["continuationToken"]


def test_records_use_only_documented_fields(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Record data in the feeds has no field the contract does not name."""
    schemas = spec()["components"]["schemas"]
    for entity, name in ENTITY_SCHEMAS.items():
        documented = set(schemas[name]["properties"])
        changes, _, _ = read_feed(b2connect_session, b2connect_emulator.url, entity, batchSize=1000)
        for change in changes:
            assert set(change["data"]) <= documented, set(change["data"]) - documented


def test_all_change_types_match_schema(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Updated, Deleted and Restored changes validate too."""
    _, watermark, _ = read_feed(b2connect_session, b2connect_emulator.url, "customers")
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    b2connect_emulator.admin_patch("customers", cid, {"shippingAddress": {"city": "Basel"}})
    b2connect_emulator.admin_patch("customers", cid, {"deleted": True})
    b2connect_emulator.admin_patch("customers", cid, {"deleted": False})
    body = b2connect_session.get(
        f"{b2connect_emulator.url}/api/crm/customers/delta",
        params={"watermark": watermark},
        timeout=10,
    ).json()
    assert [c["changeType"] for c in body["changes"]] == ["Updated", "Deleted", "Restored"]
    assert_valid("CustomerDeltaPage", body)


def test_orders_page_matches_schema(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """GET /api/v1/orders validates against OrdersPage."""
    body = b2connect_session.get(
        f"{b2connect_emulator.url}/api/v1/orders", params={"pageSize": 100}, timeout=10
    ).json()
    assert_valid("OrdersPage", body)


def test_single_records_match_schema(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """GET /api/crm/{entity}/{id} returns the entity schema."""
    for entity, name in ENTITY_SCHEMAS.items():
        rid = b2connect_emulator.admin_list(entity)[0]["id"]
        body = b2connect_session.get(
            f"{b2connect_emulator.url}/api/crm/{entity}/{rid}", timeout=10
        ).json()
        assert_valid(name, body)


def test_problem_matches_schema(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """Errors are Problem documents; validation errors carry errors."""
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    body = b2connect_session.patch(
        f"{b2connect_emulator.url}/api/crm/customers/{cid}", json={"nope": 1}, timeout=10
    ).json()
    assert_valid("Problem", body)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-00", body["traceId"])


def test_patch_schemas_agree_with_the_emulator(
    b2connect_emulator: B2ConnectEmulator, b2connect_session: requests.Session
) -> None:
    """A patch the schema accepts, the emulator accepts; an unknown field fails both."""
    good = {"firstName": "Zoë", "billingAddress": {"city": "Lyon", "countryCode": "FR"}}
    bad = {"shoeSize": 42}
    assert not list(validator("CustomerPatch").iter_errors(good))
    assert list(validator("CustomerPatch").iter_errors(bad))
    cid = b2connect_emulator.admin_list("customers")[0]["id"]
    url = f"{b2connect_emulator.url}/api/crm/customers/{cid}"
    assert b2connect_session.patch(url, json=good, timeout=10).status_code == 200
    assert b2connect_session.patch(url, json=bad, timeout=10).status_code == 400


def test_webhook_event_matches_schema(
    b2connect_emulator: B2ConnectEmulator, b2connect_webhook_sink: WebhookSink
) -> None:
    """Webhook bodies validate against WebhookEvent."""
    b2connect_emulator.webhook_url = b2connect_webhook_sink.url
    oid = b2connect_emulator.admin_list("orders")[0]["id"]
    b2connect_emulator.admin_patch("orders", oid, {"notes": "Bitte klingeln"})
    headers, body = b2connect_webhook_sink.next()
    event = json.loads(body)
    assert_valid("WebhookEvent", event)
    assert_valid("Order", event["data"])
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["x-b2connect-signature"])

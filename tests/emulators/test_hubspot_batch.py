"""HubSpot emulator: CRM v3 batch endpoints, 207 multi-status and the 409 rules."""

from __future__ import annotations

import json
from typing import Any

import hubspot
import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
)
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert as ObjectUpsertBatch,
)
from hubspot.crm.properties import PropertyCreate

from emulators import FaultPlan, FaultRule
from emulators.hubspot import HubSpotEmulator


def _create_batch(client: hubspot.Client, inputs: list[dict[str, Any]]) -> Any:
    return client.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    )


def _unique_property(client: hubspot.Client, object_type: str = "contacts") -> None:
    client.crm.properties.core_api.create(
        object_type,
        PropertyCreate(
            name="b2connect_id",
            label="B2Connect ID",
            type="string",
            field_type="text",
            group_name={"orders": "orderinformation"}.get(object_type, "contactinformation"),
            has_unique_value=True,
        ),
    )


def test_batch_create_answers_201_envelope(hubspot_client: hubspot.Client) -> None:
    """batch/create is 201 with a COMPLETE envelope and populated results."""
    resp = _create_batch(
        hubspot_client,
        [{"properties": {"email": f"b{i}@example.com"}} for i in range(3)],
    )
    assert resp is not None and resp.status == "COMPLETE"
    assert sorted(r.properties["email"] for r in resp.results) == [
        "b0@example.com",
        "b1@example.com",
        "b2@example.com",
    ]
    assert resp.started_at is not None and resp.completed_at is not None
    assert not hasattr(resp, "errors")


def test_batch_create_duplicate_without_trace_ids_fails_whole_batch(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Without objectWriteTraceIds one existing email fails the whole batch with one 409."""
    existing = hubspot_emulator.admin_create("contacts", {"properties": {"email": "x@example.com"}})
    with pytest.raises(ApiException) as info:
        _create_batch(
            hubspot_client,
            [
                {"properties": {"email": "new@example.com"}},
                {"properties": {"email": "x@example.com"}},
            ],
        )
    assert info.value.status == 409
    assert json.loads(info.value.body)["message"] == (
        f"Contact already exists. Existing ID: {existing['id']}"
    )
    assert len(hubspot_emulator.records("contacts")) == 1


def test_batch_create_with_trace_ids_reports_per_input_207(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """With unique objectWriteTraceIds the good inputs land and the bad one is a 207 error."""
    hubspot_emulator.admin_create("contacts", {"properties": {"email": "x@example.com"}})
    resp = _create_batch(
        hubspot_client,
        [
            {"properties": {"email": "ok@example.com"}, "objectWriteTraceId": "t1"},
            {"properties": {"email": "x@example.com"}, "objectWriteTraceId": "t2"},
        ],
    )
    assert resp.num_errors == 1
    assert [r.properties["email"] for r in resp.results] == ["ok@example.com"]
    assert resp.results[0].object_write_trace_id == "t1"
    err = resp.errors[0]
    assert err.category == "CONFLICT" and err.context["objectWriteTraceId"] == ["t2"]


def test_batch_create_repeated_trace_ids_fail_whole_batch(hubspot_client: hubspot.Client) -> None:
    """Trace ids must be distinct for per-input results."""
    with pytest.raises(ApiException) as info:
        _create_batch(
            hubspot_client,
            [
                {"properties": {"email": "a@example.com"}, "objectWriteTraceId": "t"},
                {"properties": {"email": "bad"}, "objectWriteTraceId": "t"},
            ],
        )
    assert info.value.status == 400


def test_batch_over_100_inputs_is_rejected(hubspot_client: hubspot.Client) -> None:
    """More than 100 inputs is 400 VALIDATION_ERROR."""
    inputs = [{"properties": {"email": f"m{i}@example.com"}} for i in range(101)]
    with pytest.raises(ApiException) as info:
        _create_batch(hubspot_client, inputs)
    assert json.loads(info.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_read_reports_missing_ids_in_207(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """batch/read answers 207 with one OBJECT_NOT_FOUND error naming the missing ids."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "r@example.com"}})
    resp = hubspot_client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": rec["id"]}, {"id": "424242"}],
            properties=["email"],
            properties_with_history=[],
        )
    )
    assert [r.id for r in resp.results] == [rec["id"]]
    assert resp.num_errors == 1
    assert resp.errors[0].category == "OBJECT_NOT_FOUND"
    assert resp.errors[0].context["ids"] == ["424242"]


def test_batch_read_all_found_is_200(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """batch/read of existing ids by email idProperty answers 200 without errors."""
    hubspot_emulator.admin_create("contacts", {"properties": {"email": "r1@example.com"}})
    resp = hubspot_client.crm.contacts.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": "r1@example.com"}],
            id_property="email",
            properties=["email"],
            properties_with_history=[],
        )
    )
    assert resp.results[0].properties["email"] == "r1@example.com"
    assert not hasattr(resp, "num_errors")


def test_batch_update_200_and_207_for_missing(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """batch/update updates what exists and, with multi-status on (trace ids), reports missing
    ids as a 207."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "u@example.com"}})
    api = hubspot_client.crm.contacts.batch_api
    ok = api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": rec["id"], "properties": {"firstname": "U"}}]
        )
    )
    assert ok.results[0].properties["firstname"] == "U"
    partial = api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {"id": rec["id"], "properties": {"lastname": "V"}, "objectWriteTraceId": "t1"},
                {"id": "777", "properties": {"lastname": "W"}, "objectWriteTraceId": "t2"},
            ]
        )
    )
    assert partial.num_errors == 1 and partial.errors[0].context["ids"] == ["777"]
    assert partial.results[0].properties["lastname"] == "V"


def test_batch_update_duplicate_ids_rejected(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """The same id twice in one batch is a 400."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "d@example.com"}})
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": rec["id"], "properties": {}}, {"id": rec["id"], "properties": {}}]
            )
        )
    assert "Duplicate IDs" in json.loads(info.value.body)["message"]


def test_batch_upsert_by_email_creates_and_updates(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Upsert by email (idProperty inside each input) flags new records with new=True."""
    existing = hubspot_emulator.admin_create(
        "contacts", {"properties": {"email": "old@example.com"}}
    )
    resp = hubspot_client.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"id": "old@example.com", "idProperty": "email", "properties": {"firstname": "O"}},
                {
                    "id": "fresh@example.com",
                    "idProperty": "email",
                    "properties": {"firstname": "F"},
                },
            ]
        )
    )
    by_email = {r.properties["email"]: r for r in resp.results}
    assert by_email["old@example.com"].new is False
    assert by_email["old@example.com"].id == existing["id"]
    assert by_email["fresh@example.com"].new is True
    assert by_email["fresh@example.com"].properties["firstname"] == "F"


def test_batch_upsert_by_unique_property(hubspot_client: hubspot.Client) -> None:
    """Upsert on a hasUniqueValue property creates once, then updates the same record."""
    _unique_property(hubspot_client)
    api = hubspot_client.crm.contacts.batch_api

    def upsert(first: str) -> Any:
        return api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    {
                        "id": "C-1",
                        "idProperty": "b2connect_id",
                        "properties": {"email": "c1@example.com", "firstname": first},
                    }
                ]
            )
        )

    first, second = upsert("A"), upsert("B")
    assert first.results[0].new is True and second.results[0].new is False
    assert first.results[0].id == second.results[0].id
    assert second.results[0].properties["b2connect_id"] == "C-1"


def test_batch_upsert_accepts_id_property_query_parameter(hubspot_client: hubspot.Client) -> None:
    """idProperty may also come as a query parameter."""
    resp = hubspot_client.api_request(
        {
            "method": "POST",
            "path": "/crm/v3/objects/contacts/batch/upsert",
            "qs": {"idProperty": "email"},
            "body": {"inputs": [{"id": "q@example.com", "properties": {"firstname": "Q"}}]},
        }
    )
    assert resp.status_code == 200
    assert resp.json()["results"][0]["new"] is True


def test_batch_upsert_on_non_unique_property_is_rejected(hubspot_client: hubspot.Client) -> None:
    """idProperty must be unique (or email for contacts)."""
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[{"id": "Ada", "idProperty": "firstname", "properties": {}}]
            )
        )
    assert info.value.status == 400


def test_batch_upsert_orders_through_objects_api(hubspot_client: hubspot.Client) -> None:
    """Orders upsert by a unique property through crm.objects returns the upsert model."""
    _unique_property(hubspot_client, "orders")
    resp = hubspot_client.crm.objects.batch_api.upsert(
        "orders",
        ObjectUpsertBatch(
            inputs=[
                {"id": "O-1", "idProperty": "b2connect_id", "properties": {"hs_order_name": "#1"}},
                {"id": "O-2", "idProperty": "b2connect_id", "properties": {"hs_order_name": "#2"}},
            ]
        ),
    )
    assert [r.new for r in resp.results] == [True, True]
    assert {r.properties["hs_order_name"] for r in resp.results} == {"#1", "#2"}


def test_batch_upsert_unique_clash_on_other_property_is_conflict(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Upserting a new b2connect_id with an email another contact holds fails with 409."""
    _unique_property(hubspot_client)
    hubspot_emulator.admin_create("contacts", {"properties": {"email": "taken@example.com"}})
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    {
                        "id": "C-9",
                        "idProperty": "b2connect_id",
                        "properties": {"email": "taken@example.com"},
                    }
                ]
            )
        )
    assert info.value.status == 409


def test_batch_archive_answers_204(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """batch/archive archives the records (unknown ids are ignored)."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "z@example.com"}})
    result = hubspot_client.crm.contacts.batch_api.archive(
        BatchInputSimplePublicObjectId(inputs=[{"id": rec["id"]}, {"id": "31337"}])
    )
    assert result is None
    assert hubspot_emulator.records("contacts")[0]["archived"] is True


def test_partial_fault_fails_every_second_input(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """A ``partial`` fault turns a batch create into a 207 with VALIDATION_ERRORs."""
    hubspot_emulator.faults = FaultPlan(
        [
            FaultRule(
                match="POST /crm/v3/objects/{object_type}/batch/create", kind="partial", every=2
            )
        ]
    )
    resp = _create_batch(
        hubspot_client,
        [
            {"properties": {"email": f"f{i}@example.com"}, "objectWriteTraceId": f"t{i}"}
            for i in range(4)
        ],
    )
    assert resp.num_errors == 2 and len(resp.results) == 2
    assert {e.category for e in resp.errors} == {"VALIDATION_ERROR"}
    assert len(hubspot_emulator.records("contacts")) == 2


def test_duplicate_unique_values_within_one_batch_rejected(hubspot_client: hubspot.Client) -> None:
    """Two inputs claiming the same email in one batch are a 400."""
    with pytest.raises(ApiException) as info:
        _create_batch(
            hubspot_client,
            [
                {"properties": {"email": "same@example.com"}},
                {"properties": {"email": "same@example.com"}},
            ],
        )
    assert info.value.status == 400


def test_batch_update_validation_error_fails_whole_batch(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """An unknown property in one input fails the whole update batch; nothing is written."""
    rec = hubspot_emulator.admin_create("contacts", {"properties": {"email": "v@example.com"}})
    other = hubspot_emulator.admin_create("contacts", {"properties": {"email": "w@example.com"}})
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    {"id": rec["id"], "properties": {"firstname": "Changed"}},
                    {"id": other["id"], "properties": {"nope": "x"}},
                ]
            )
        )
    assert info.value.status == 400
    assert "firstname" not in hubspot_emulator.record("contacts", rec["id"])["properties"]


def test_batch_upsert_partial_fault_is_207(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """A ``partial`` fault on upsert reports the failed inputs with their ids."""
    hubspot_emulator.faults = FaultPlan(
        [
            FaultRule(
                match="POST /crm/v3/objects/{object_type}/batch/upsert", kind="partial", every=2
            )
        ]
    )
    resp = hubspot_client.crm.contacts.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {
                    "id": f"u{i}@example.com",
                    "idProperty": "email",
                    "properties": {"firstname": "U"},
                    "objectWriteTraceId": f"t{i}",
                }
                for i in range(2)
            ]
        )
    )
    assert resp.num_errors == 1 and resp.errors[0].context["ids"] == ["u1@example.com"]
    assert [r.new for r in resp.results] == [True]

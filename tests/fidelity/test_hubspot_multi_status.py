"""HTTP 207 on batch writes only where HubSpot documents it: multi-status error handling on
(a unique objectWriteTraceId per input) and some inputs failed."""

from __future__ import annotations

import json
from typing import Any

import hubspot
import pytest
from hubspot.crm.contacts import ApiException, BatchInputSimplePublicObjectBatchInputUpsert

from connectors.records import WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import calls, connector

UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


def _inputs(*stages: str, traced: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, stage in enumerate(stages):
        row: dict[str, Any] = {
            "id": f"m{i}@example.com",
            "idProperty": "email",
            "properties": {"lifecyclestage": stage},
        }
        if traced:
            row["objectWriteTraceId"] = f"t{i}"
        rows.append(row)
    return rows


def _upsert(client: hubspot.Client, inputs: list[dict[str, Any]]) -> tuple[Any, int]:
    data, status, _headers = client.crm.contacts.batch_api.upsert_with_http_info(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs)
    )
    return data, status


def test_all_ok_is_200_even_with_trace_ids(hubspot_client: hubspot.Client) -> None:
    """A batch where every input succeeds is a 200, with or without multi-status on."""
    for traced in (False, True):
        data, status = _upsert(hubspot_client, _inputs("lead", "customer", traced=traced))
        assert status == 200
        assert len(data.results) == 2 and not getattr(data, "errors", None)


def test_some_failed_with_trace_ids_is_207(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """With a trace id on every input, one bad value is a 207: the rest is written."""
    data, status = _upsert(
        hubspot_client, _inputs("lead", "no_such_stage", "customer", traced=True)
    )
    assert status == 207
    assert len(data.results) == 2 and data.num_errors == 1
    assert data.errors[0].context["objectWriteTraceId"] == ["t1"]
    assert len(hubspot_emulator.records("contacts")) == 2


def test_some_failed_without_trace_ids_fails_the_batch(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator
) -> None:
    """Without multi-status one bad value fails the whole request (400), nothing is written."""
    with pytest.raises(ApiException) as info:
        _upsert(hubspot_client, _inputs("lead", "no_such_stage", traced=False))
    assert info.value.status == 400
    assert json.loads(info.value.body)["category"] == "VALIDATION_ERROR"
    assert hubspot_emulator.records("contacts") == []


def test_missing_record_without_trace_ids_is_not_207(hubspot_client: hubspot.Client) -> None:
    """An upsert by hs_object_id that finds nothing is a 404 for the request, not a 207."""
    inputs = [{"id": "999999", "idProperty": "hs_object_id", "properties": {"firstname": "X"}}]
    with pytest.raises(ApiException) as info:
        _upsert(hubspot_client, inputs)
    assert info.value.status == 404


def test_connector_dead_letters_only_the_bad_record_of_a_207(
    hubspot_emulator: HubSpotEmulator,
) -> None:
    """The connector maps a 207 record by record: the bad record fails with HubSpot's category
    and message, the others are written in the same call."""
    conn = connector(hubspot_emulator)
    items = [
        WriteItem("k0", {"email": "a@example.com", "lifecyclestage": "lead"}),
        WriteItem("k1", {"email": "b@example.com", "lifecyclestage": "no_such_stage"}),
        WriteItem("k2", {"email": "c@example.com", "lifecyclestage": "customer"}),
    ]
    results = conn.write("contacts", items)
    assert [r.ok for r in results] == [True, False, True]
    error = results[1].error
    assert error is not None
    assert error.code == "VALIDATION_ERROR" and not error.retriable
    assert "no_such_stage" in error.message
    assert calls(hubspot_emulator)[UPSERT] == 1


def test_connector_reads_a_200(hubspot_emulator: HubSpotEmulator) -> None:
    """All good: a 200, every record written with its HubSpot id."""
    conn = connector(hubspot_emulator)
    results = conn.write(
        "contacts",
        [WriteItem(f"k{i}", {"email": f"ok{i}@example.com"}) for i in range(3)],
    )
    assert all(r.ok and r.crm_id for r in results)
    assert calls(hubspot_emulator)[UPSERT] == 1

"""B2Connect connector: HTTP error paths, page shape checks and invalid changes (responses)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import responses

from connectors.b2connect import B2ConnectConnector
from connectors.errors import Fatal, Retriable
from connectors.records import WriteItem

BASE = "http://b2connect.test"
TENANT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
FEED = f"{BASE}/api/crm/customers/delta"


def connector(**kw: Any) -> B2ConnectConnector:
    return B2ConnectConnector(url=BASE, token="tok-1", tenant_id=TENANT, **kw)


def problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "body": json.dumps(
            {"type": "about:blank", "title": "Error", "status": status, "detail": detail, **extra}
        ),
        "status": status,
        "content_type": "application/problem+json",
    }


def page(
    changes: list[Any], *, more: bool = False, token: str | None = None, wm: str = "9"
) -> dict[str, Any]:
    return {"changes": changes, "newWatermark": wm, "continuationToken": token, "hasMore": more}


def change(rid: str, kind: str = "Updated", **data: Any) -> dict[str, Any]:
    return {
        "changeType": kind,
        "changedAt": "2026-01-05T10:00:00.000000Z",
        "changedFields": ["firstName"],
        "data": {"id": rid, **data},
    }


def read_all(conn: B2ConnectConnector, stream: str = "customers") -> list[Any]:
    return list(conn.read_changes(stream, None))


@responses.activate
def test_session_sends_bearer_tenant_and_user_agent() -> None:
    """Every call carries the bearer token, X-Tenant-ID and a b2sync User-Agent."""
    responses.get(FEED, json=page([]))
    read_all(connector())
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == "Bearer tok-1"
    assert headers["X-Tenant-ID"] == TENANT
    assert headers["User-Agent"].startswith("b2sync/")


@responses.activate
def test_batch_size_is_sent() -> None:
    """The configured batchSize is passed to the feed."""
    responses.get(FEED, json=page([]))
    read_all(connector(batch_size=250))
    assert "batchSize=250" in str(responses.calls[0].request.url)


@responses.activate
def test_401_is_fatal_naming_the_token() -> None:
    """A 401 stops the pipeline with 'B2Connect rejected the token'."""
    responses.get(FEED, **problem(401, "The token expired."))
    with pytest.raises(Fatal, match="B2Connect rejected the token: The token expired"):
        read_all(connector())


@responses.activate
def test_401_rereads_a_rotated_token_once() -> None:
    """After a 401 the token secret is read again; a new token is used for one retry."""
    responses.get(FEED, **problem(401, "The token expired."))
    responses.get(FEED, json=page([change("c1")]))
    pages = read_all(connector(refresh_token=lambda: "tok-2"))
    assert pages[0].records[0].key == "c1"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer tok-2"


@responses.activate
def test_401_with_unchanged_token_is_not_retried() -> None:
    """If the secret still holds the same token, the 401 is Fatal after one call."""
    responses.get(FEED, **problem(401, "The token is invalid."))
    with pytest.raises(Fatal):
        read_all(connector(refresh_token=lambda: "tok-1"))
    assert len(responses.calls) == 1


@responses.activate
def test_403_tenant_mismatch_names_the_header_and_claim() -> None:
    """A 403 about the tenant explains X-Tenant-ID versus the tenant_id claim."""
    responses.get(FEED, **problem(403, "X-Tenant-ID does not match the token's tenant."))
    with pytest.raises(Fatal, match=r"X-Tenant-ID header must equal the token's tenant_id claim"):
        read_all(connector())


@responses.activate
def test_403_missing_permission_names_the_claim() -> None:
    """A 403 about a permission names the CrmPermissions claim."""
    responses.get(FEED, **problem(403, "The token lacks the ReadCustomers permission."))
    with pytest.raises(Fatal, match="CrmPermissions claim"):
        read_all(connector())


@responses.activate
def test_404_on_a_feed_suggests_orders_api_mode() -> None:
    """A missing delta feed is Fatal and suggests `mode: orders_api`."""
    responses.get(FEED, status=404)
    with pytest.raises(Fatal, match="mode: orders_api") as info:
        read_all(connector())
    assert info.value.code == "ENDPOINT_NOT_AVAILABLE"


@responses.activate
def test_429_is_retriable_with_retry_after() -> None:
    """A 429 is Retriable with retry_after taken from Retry-After."""
    responses.get(FEED, headers={"Retry-After": "7"}, **problem(429, "Slow down."))
    with pytest.raises(Retriable) as info:
        read_all(connector())
    assert info.value.retry_after == 7.0


@responses.activate
def test_retry_after_as_http_date_is_understood() -> None:
    """A Retry-After HTTP date in the past yields retry_after 0, not None."""
    responses.get(FEED, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, status=503)
    with pytest.raises(Retriable) as info:
        read_all(connector())
    assert info.value.retry_after == 0.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@responses.activate
def test_5xx_is_retriable(status: int) -> None:
    """5xx answers are Retriable."""
    responses.get(FEED, **problem(status, "Down for maintenance."))
    with pytest.raises(Retriable) as info:
        read_all(connector())
    assert info.value.code == f"HTTP_{status}"


@responses.activate
def test_timeout_is_retriable() -> None:
    """A read timeout is Retriable and mentions the configured timeout."""
    responses.get(FEED, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(Retriable, match="within 3 s"):
        read_all(connector(timeout_s=3))


@responses.activate
def test_connection_error_is_retriable() -> None:
    """A refused connection is Retriable."""
    responses.get(FEED, body=requests.ConnectionError("refused"))
    with pytest.raises(Retriable) as info:
        read_all(connector())
    assert info.value.code == "CONNECTION"


@responses.activate
def test_malformed_json_page_is_fatal() -> None:
    """A feed page that is not JSON stops the pipeline."""
    responses.get(FEED, body="<html>oops</html>", content_type="text/html")
    with pytest.raises(Fatal, match="malformed page: the body is not JSON"):
        read_all(connector())


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ([], "expected a JSON object"),
        ({"newWatermark": "1", "hasMore": False}, "'changes' is missing"),
        ({"changes": [], "newWatermark": "1"}, "'hasMore' is missing"),
        ({"changes": [], "hasMore": False}, "'newWatermark' is missing"),
        ({"changes": [], "newWatermark": "1", "hasMore": True}, "no 'continuationToken'"),
    ],
)
@responses.activate
def test_page_of_the_wrong_shape_is_fatal(body: Any, what: str) -> None:
    """A page that does not match the contract raises Fatal saying what is wrong."""
    responses.get(FEED, json=body)
    with pytest.raises(Fatal, match=what):
        read_all(connector())


@responses.activate
def test_malformed_change_becomes_an_invalid_record() -> None:
    """A change without data.id is yielded as invalid:<n> with the reason and raw change."""
    bad = {"changeType": "Updated", "changedAt": "2026-01-05T10:00:00Z", "data": {"email": "x"}}
    responses.get(FEED, json=page([change("c1"), bad, change("c3")]))
    records = read_all(connector())[0].records
    assert [r.key for r in records] == ["c1", "invalid:2", "c3"]
    assert records[1].fields["_invalid"] == "data.id is missing"
    assert records[1].fields["changeType"] == "Updated"


@responses.activate
def test_unknown_change_type_is_invalid() -> None:
    """An unknown changeType is reported in the invalid record's reason."""
    responses.get(FEED, json=page([change("c1", kind="Merged")]))
    record = read_all(connector())[0].records[0]
    assert record.key == "invalid:1"
    assert "Merged" in record.fields["_invalid"]


@responses.activate
def test_410_watermark_gone_is_fatal_and_suggests_full() -> None:
    """A watermark the feed no longer knows stops the pipeline and suggests --full."""
    responses.get(FEED, **problem(410, "Watermark 99 is ahead of the change feed."))
    with pytest.raises(Fatal, match="--full") as info:
        list(connector().read_changes("customers", {"watermark": "99", "continuationToken": None}))
    assert info.value.code == "WATERMARK_GONE"


@responses.activate
def test_rejected_continuation_token_restarts_from_the_watermark() -> None:
    """A rejected continuation token is dropped once; the read resumes from the watermark."""
    responses.get(FEED, **problem(400, "The continuation token is invalid."))
    responses.get(FEED, json=page([change("c5")], wm="12"))
    pages = list(
        connector().read_changes("customers", {"watermark": "10", "continuationToken": "stale"})
    )
    assert pages[0].records[0].key == "c5"
    second = str(responses.calls[1].request.url)
    assert "watermark=10" in second and "continuationToken" not in second


@responses.activate
def test_write_400_reports_the_field_from_the_problem() -> None:
    """A 400 on a write-back is a per-record failure carrying the offending field."""
    url = f"{BASE}/api/crm/customers/c1"
    errors = {"email": ["'x' is not a valid email."]}
    responses.patch(url, **problem(400, "email: 'x' is not a valid email.", errors=errors))
    responses.patch(f"{BASE}/api/crm/customers/c2", json={"id": "c2"})
    results = connector().write(
        "customers", [WriteItem("c1", {"email": "x"}), WriteItem("c2", {"firstName": "Ann"})]
    )
    assert not results[0].ok and results[0].error is not None
    assert results[0].error.field == "email"
    assert results[1].ok


@responses.activate
def test_write_404_is_not_found() -> None:
    """A write-back to an unknown customer fails that record with NOT_FOUND."""
    responses.patch(f"{BASE}/api/crm/companies/gone", **problem(404, "No company with id gone."))
    [result] = connector().write("companies", [WriteItem("gone", {"name": "X"})])
    assert result.error is not None and result.error.code == "NOT_FOUND"


@responses.activate
def test_write_503_raises_retriable_for_the_batch() -> None:
    """A transient error during a write-back raises Retriable (writes are idempotent)."""
    responses.patch(f"{BASE}/api/crm/customers/c1", status=503, headers={"Retry-After": "2"})
    with pytest.raises(Retriable):
        connector().write("customers", [WriteItem("c1", {"firstName": "A"})])


def test_orders_are_read_only() -> None:
    """Writing orders fails each record with READ_ONLY and makes no call."""
    conn = connector()
    results = conn.write("orders", [WriteItem("o1", {"status": "shipped"})])
    assert results[0].error is not None and results[0].error.code == "READ_ONLY"
    assert sum(conn.calls.values()) == 0


def test_delete_is_not_supported() -> None:
    """Deletes fail per record with NOT_SUPPORTED."""
    results = connector().delete("customers", ["c1", "c2"])
    assert [r.error.code for r in results if r.error] == ["NOT_SUPPORTED", "NOT_SUPPORTED"]


def test_unknown_stream_is_fatal() -> None:
    """Reading a stream the contract does not have is Fatal."""
    with pytest.raises(Fatal, match="no stream 'invoices'"):
        read_all(connector(), "invoices")


def test_orders_api_mode_reads_only_orders() -> None:
    """In orders_api mode asking for customers is Fatal and says why."""
    with pytest.raises(Fatal, match="orders_api reads only the orders stream"):
        read_all(connector(mode="orders_api"), "customers")


@responses.activate
def test_check_reports_problems_as_sentences() -> None:
    """check() turns a 404 feed into a sentence suggesting orders_api."""
    responses.get(FEED, status=404)
    [problem_text] = connector().check()
    assert "mode: orders_api" in problem_text


@responses.activate
def test_check_reports_unreachable_service() -> None:
    """check() reports a connection failure as 'not reachable'."""
    responses.get(FEED, body=requests.ConnectionError("refused"))
    [problem_text] = connector().check()
    assert "not reachable" in problem_text


@responses.activate
def test_check_in_orders_api_mode_uses_the_orders_listing() -> None:
    """In orders_api mode check() asks /api/v1/orders for one order."""
    responses.get(
        f"{BASE}/api/v1/orders",
        json={"items": [], "totalCount": 0, "page": 1, "pageSize": 1, "totalPages": 0},
    )
    assert connector(mode="orders_api").check() == []
    assert "pageSize=1" in str(responses.calls[0].request.url)


@responses.activate
def test_calls_are_counted_by_route_template() -> None:
    """calls counts each request under its METHOD /path/{template} key."""
    responses.get(FEED, json=page([]))
    responses.patch(f"{BASE}/api/crm/customers/c1", json={"id": "c1"})
    conn = connector()
    read_all(conn)
    conn.write("customers", [WriteItem("c1", {"firstName": "A"})])
    assert conn.calls == {"GET /api/crm/{entity}/delta": 1, "PATCH /api/crm/customers/{rid}": 1}

"""Structured logs: JSON off a TTY, bound context, and nothing personal or secret in clear."""

from __future__ import annotations

import io
import json

import structlog

from sync.logs import bind, configure_logging


def emit(**fields: object) -> dict[str, object]:
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    structlog.get_logger().info("test.event", **fields)
    structlog.contextvars.clear_contextvars()
    return json.loads(out.getvalue().strip())  # type: ignore[no-any-return]


def test_json_lines_carry_bound_context() -> None:
    """run/pipeline/batch ids bound once appear on every line."""
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    bind(run_id="r-1", pipeline="customers-to-hubspot", batch_id=3)
    log = structlog.get_logger()
    log.info("batch.written", records=100)
    log.warning("batch.retry", attempt=2)
    structlog.contextvars.clear_contextvars()
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["batch.written", "batch.retry"]
    assert all(
        line["pipeline"] == "customers-to-hubspot" and line["batch_id"] == 3 for line in lines
    )
    assert lines[1]["level"] == "warning" and "timestamp" in lines[0]


def test_email_and_phone_are_masked_in_any_value() -> None:
    """Emails and phone numbers inside messages and nested values are masked."""
    line = emit(
        detail="customer jane.roe@example.de changed phone to +49 (30) 1234-5678",
        nested={"contact": {"mail": "x.y@example.org", "phones": ["0171 2345678"]}},
    )
    text = json.dumps(line)
    assert "jane.roe" not in text and "example.de" not in text and "x.y@example.org" not in text
    assert "1234-5678" not in text and "2345678" not in text
    assert line["detail"] == "customer [email] changed phone to [phone]"


def test_tokens_and_secret_keys_are_redacted() -> None:
    """Bearer/JWT/HubSpot/Salesforce tokens and keys named like secrets never print."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln"
    line = emit(
        header="Authorization: Bearer abc.def.ghi",
        note=f"got {jwt} and pat-na1-0123abcd-ef45 and 00D000000000001!AQ0.sessionTOKENabc",
        access_token="plain-value",
        client_secret="s3cr3t",
        password="hunter2",
        Authorization="Basic Zm9vOmJhcg==",
    )
    text = json.dumps(line)
    for secret in (
        "abc.def.ghi",
        jwt,
        "pat-na1",
        "sessionTOKEN",
        "plain-value",
        "s3cr3t",
        "hunter2",
        "Zm9v",
    ):
        assert secret not in text
    assert line["access_token"] == "[redacted]"


def test_ids_and_timestamps_are_not_mistaken_for_phones() -> None:
    """UUIDs, ISO timestamps and counts stay readable."""
    line = emit(
        record="01234567-89ab-cdef-0123-456789abcdef",
        at="2026-11-25T10:11:12.123Z",
        note="wrote 1234567 records in batch 0000042",
    )
    assert line["record"] == "01234567-89ab-cdef-0123-456789abcdef"
    assert line["at"] == "2026-11-25T10:11:12.123Z"
    assert line["note"] == "wrote 1234567 records in batch 0000042"


def test_console_renderer_on_request() -> None:
    """json=False renders the readable console format, still redacted."""
    out = io.StringIO()
    configure_logging(json=False, stream=out)
    structlog.get_logger().info("hello", who="a@example.com")
    text = out.getvalue()
    assert "hello" in text and "a@example.com" not in text and not text.startswith("{")

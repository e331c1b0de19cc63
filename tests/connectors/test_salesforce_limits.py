"""Budget, error translation and session renewal of SalesforceConnector via the emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.errors import BudgetExhausted, Fatal, Retriable
from connectors.salesforce import SalesforceConnector
from emulators.salesforce import SalesforceEmulator
from sync.settings import resolve
from tests.connectors.salesforce_support import UPSERT, Connectors, contacts, inject

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def connect(salesforce_emulator: SalesforceEmulator) -> Iterator[Connectors]:
    made = Connectors(salesforce_emulator)
    yield made
    made.close()


class Clock:
    """A settable clock for the connector."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_share_used_raises_budget_exhausted_before_the_next_call(
    salesforce_emulator: SalesforceEmulator,
    connect: Connectors,
) -> None:
    """Once api-usage reaches daily_share x max, the next call is refused for an hour."""
    salesforce_emulator.consume_api_requests(7_499)  # of 15,000; the next call makes 7,500
    conn = connect(daily_share=0.5, clock=Clock(NOW))
    assert all(r.ok for r in conn.write("Contact", contacts(1)))
    with pytest.raises(BudgetExhausted) as caught:
        conn.write("Contact", contacts(1, prefix="d"))
    assert caught.value.resume_at == NOW + dt.timedelta(hours=1)
    assert caught.value.code == "DAILY_SHARE_USED"
    assert conn.calls[UPSERT] == 1  # the refused write never left the process


def test_budget_lets_one_call_through_after_the_pause(
    salesforce_emulator: SalesforceEmulator,
    connect: Connectors,
) -> None:
    """After the hour the connector calls again and re-reads the rolling usage."""
    salesforce_emulator.consume_api_requests(7_499)
    clock = Clock(NOW)
    conn = connect(daily_share=0.5, clock=clock)
    conn.write("Contact", contacts(1))
    with pytest.raises(BudgetExhausted):
        conn.write("Contact", contacts(1))
    clock.now += dt.timedelta(minutes=61)
    salesforce_emulator.daily_limit = 30_000  # e.g. the org bought more calls
    assert all(r.ok for r in conn.write("Contact", contacts(1)))


def test_request_limit_exceeded_is_budget_exhausted(
    salesforce_emulator: SalesforceEmulator,
    connect: Connectors,
) -> None:
    """403 REQUEST_LIMIT_EXCEEDED pauses the pipeline instead of failing it."""
    salesforce_emulator.consume_api_requests(15_000)
    conn = connect(clock=Clock(NOW))
    with pytest.raises(BudgetExhausted) as caught:
        conn.write("Contact", contacts(1))
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert caught.value.resume_at == NOW + dt.timedelta(hours=1)


def test_other_403_is_fatal(salesforce_emulator: SalesforceEmulator, connect: Connectors) -> None:
    """A 403 that is not about limits (permissions) stops the pipeline."""
    inject(salesforce_emulator, status=403, code="API_DISABLED_FOR_ORG", message="API off")
    with pytest.raises(Fatal) as caught:
        connect().write("Contact", contacts(1))
    assert caught.value.code == "API_DISABLED_FOR_ORG"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retriable(
    salesforce_emulator: SalesforceEmulator, status: int, connect: Connectors
) -> None:
    """5xx answers raise Retriable for the engine to back off."""
    inject(salesforce_emulator, status=status, times=1)
    with pytest.raises(Retriable) as caught:
        connect().write("Contact", contacts(1))
    assert not isinstance(caught.value, BudgetExhausted)


def test_connection_reset_is_retriable(
    salesforce_emulator: SalesforceEmulator, connect: Connectors
) -> None:
    """A connection dropped mid-response is transient."""
    inject(salesforce_emulator, kind="reset", times=1)
    with pytest.raises(Retriable) as caught:
        connect().write("Contact", contacts(1))
    assert caught.value.code == "CONNECTION"


def test_timeout_is_retriable(salesforce_emulator: SalesforceEmulator, connect: Connectors) -> None:
    """A call slower than timeout_s raises Retriable with code TIMEOUT."""
    inject(salesforce_emulator, kind="slow", delay_s=0.5, times=1)
    with pytest.raises(Retriable) as caught:
        connect(timeout_s=0.05).write("Contact", contacts(1))
    assert caught.value.code == "TIMEOUT"


def test_unknown_object_is_fatal(
    salesforce_emulator: SalesforceEmulator, connect: Connectors
) -> None:
    """Writing to an sObject the org does not have says so and stops the pipeline."""
    with pytest.raises(Fatal, match="Nope__c"):
        connect().write("Nope__c", contacts(1))


def _session_file(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "sf_session"
    path.write_text(value + "\n", encoding="utf-8")
    return path


def test_expired_session_picks_up_a_rotated_secret(
    salesforce_emulator: SalesforceEmulator,
    tmp_path: Path,
    connect: Connectors,
) -> None:
    """On INVALID_SESSION_ID the ${file:...} secret is re-read and the call repeated once."""
    secret = _session_file(tmp_path, salesforce_emulator.session_id)
    conn = connect(session_id=f"${{file:{secret}}}", secrets=resolve)
    conn.write("Contact", contacts(1))
    secret.write_text(salesforce_emulator.expire_session(), encoding="utf-8")
    results = conn.write("Contact", contacts(2))
    assert all(r.ok for r in results)
    assert conn.calls[UPSERT] == 3  # one refused with 401, then the retry


def test_expired_session_with_unchanged_secret_is_fatal(
    salesforce_emulator: SalesforceEmulator,
    tmp_path: Path,
    connect: Connectors,
) -> None:
    """If the secret still holds the expired id, the error says where to put a fresh one."""
    secret = _session_file(tmp_path, salesforce_emulator.session_id)
    conn = connect(session_id=f"${{file:{secret}}}", secrets=resolve)
    salesforce_emulator.expire_session()
    with pytest.raises(Fatal) as caught:
        conn.write("Contact", contacts(1))
    assert caught.value.code == "INVALID_SESSION_ID"
    assert str(secret) in caught.value.message
    assert salesforce_emulator.session_id not in caught.value.message


def test_literal_session_id_is_never_printed(
    salesforce_emulator: SalesforceEmulator, connect: Connectors
) -> None:
    """A session id given inline does not leak into the expiry message."""
    token = salesforce_emulator.session_id
    conn = connect()
    salesforce_emulator.expire_session()
    with pytest.raises(Fatal) as caught:
        conn.write("Contact", contacts(1))
    assert token not in caught.value.message


def test_check_reports_a_bad_session(
    salesforce_emulator: SalesforceEmulator, connect: Connectors
) -> None:
    """check() turns an invalid session into a sentence instead of raising."""
    conn = connect(session_id="not-a-session")
    problems = conn.check()
    assert len(problems) == 1
    assert "session" in problems[0].lower()


def test_check_is_empty_when_ready(
    salesforce_emulator: SalesforceEmulator, connect: Connectors
) -> None:
    """check() is empty with a valid session."""
    assert connect().check() == []


def test_from_config_resolves_references(
    salesforce_emulator: SalesforceEmulator, tmp_path: Path
) -> None:
    """from_config builds a working connector from the YAML model and secret references."""
    secret = _session_file(tmp_path, salesforce_emulator.session_id)
    config = SalesforceConnector.config_model.model_validate(
        {
            "type": "salesforce",
            "instance_url": salesforce_emulator.url,
            "ca_file": salesforce_emulator.ca_file,
            "auth": {"method": "session", "session_id": f"${{file:{secret}}}"},
            "bulk_threshold": 100,
        }
    )
    conn = SalesforceConnector.from_config(config, secrets=resolve)
    try:
        assert conn.bulk_threshold == 100
        assert all(r.ok for r in conn.write("Contact", contacts(1)))
    finally:
        conn.close()


def test_unresolvable_secret_is_fatal(
    salesforce_emulator: SalesforceEmulator, connect: Connectors
) -> None:
    """A secret reference that cannot be read fails at construction, naming no value."""
    with pytest.raises(Fatal, match="session id"):
        connect(session_id="${file:/nonexistent/b2sync}", secrets=resolve)

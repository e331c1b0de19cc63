"""Bulk API 2.0 jobs: calls per job and the polling schedule, counted through the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import Operation

from connectors.errors import Retriable
from connectors.records import WriteItem
from connectors.salesforce import Polling, SalesforceConnector, run_ingest_job, split_csv
from emulators.salesforce import SalesforceEmulator
from tests.connectors.salesforce_support import UPSERT, connect, contacts

JOB = "/services/data/{version}/jobs/ingest/{job_id}"
CREATE = "POST /services/data/{version}/jobs/ingest"
POLL = f"GET {JOB}"
SUCCESSFUL = f"GET {JOB}/successfulResults"
FAILED = f"GET {JOB}/failedResults"


@pytest.fixture
def slow_jobs(salesforce_emulator: SalesforceEmulator) -> Iterator[SalesforceEmulator]:
    """The emulator with jobs that stay in progress for 3 polls (restored afterwards)."""
    salesforce_emulator.bulk_polls = 3
    yield salesforce_emulator
    salesforce_emulator.bulk_polls = 1


def _bulk_calls(conn: SalesforceConnector) -> dict[str, int]:
    return {k: v for k, v in conn.calls.items() if "/jobs/ingest" in k}


def test_clean_bulk_job_reads_only_the_successful_results(
    salesforce_emulator: SalesforceEmulator,
) -> None:
    """A job with no failed or unprocessed rows costs create, upload, close, polls, 1 read."""
    conn = connect(salesforce_emulator, bulk_threshold=2)
    results = conn.write("Contact", contacts(4))
    assert all(r.ok and r.created for r in results)
    calls = _bulk_calls(conn)
    # the emulator's job answers InProgress once, then JobComplete: 2 polls, no extra GET
    assert calls == {
        CREATE: 1,
        f"PUT {JOB}/batches": 1,
        f"PATCH {JOB}": 1,
        POLL: 2,
        SUCCESSFUL: 1,
    }
    assert sum(calls.values()) == 6  # simple-salesforce's upsert(): 9
    conn.close()


def test_bulk_job_with_a_failed_row_also_reads_the_failed_results(
    salesforce_emulator: SalesforceEmulator,
) -> None:
    """Failed results are read only when the job counted failures, and each row is mapped."""
    conn = connect(salesforce_emulator, bulk_threshold=2)
    items = contacts(3)
    items[1] = WriteItem(key="c1", payload={"LastName": "y" * 90})
    results = conn.write("Contact", items)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None and results[1].error.code == "STRING_TOO_LONG"
    assert _bulk_calls(conn)[FAILED] == 1
    assert sum(_bulk_calls(conn).values()) == 7
    conn.close()


def test_polls_back_off_exponentially_from_a_short_first_poll(
    slow_jobs: SalesforceEmulator, sf: Salesforce
) -> None:
    """A job in progress for 3 polls is polled 4 times, each pause twice the one before."""
    slept: list[float] = []
    job = run_ingest_job(
        sf,
        "Contact",
        Operation.insert,
        (1, "LastName\nPerson\n"),
        polling=Polling(first_s=0.05),
        sleep=slept.append,
    )
    assert job.polls == 4
    assert slept == [0.05, 0.1, 0.2, 0.4]
    assert job.info["state"] == "JobComplete"
    assert job.successful.count("\n") == 2 and job.failed == job.unprocessed == ""


def test_job_that_never_finishes_times_out_as_retriable(
    slow_jobs: SalesforceEmulator,
) -> None:
    """A job still in progress at the polling timeout is a retriable BULK_TIMEOUT."""
    conn = connect(slow_jobs, bulk_threshold=2, bulk_wait_s=0.01)
    conn.bulk_polling = Polling(first_s=0.01, timeout_s=0.05)  # 0.01 + 0.02 fit, 0.04 not
    with pytest.raises(Retriable) as caught:
        conn.write("Contact", contacts(2))
    assert caught.value.code == "BULK_TIMEOUT"
    assert _bulk_calls(conn)[POLL] == 2 + 1  # two polls, then the abort's check of the state
    assert _bulk_calls(conn)[f"PATCH {JOB}"] == 2  # closed, then aborted
    conn.close()


def test_polling_schedule_doubles_up_to_the_cap() -> None:
    """The pause before each poll: first_s, then doubling, never above max_s."""
    pauses = Polling(first_s=0.2, max_s=1.0).pauses()
    assert [next(pauses) for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_split_csv_keeps_every_column_and_respects_the_size_limit() -> None:
    """Records become CSV files below the byte limit, each with the full header."""
    records = [{"A": str(i), "B": "x" * 20} for i in range(10)] + [{"A": "z", "C": "1"}]
    files = split_csv(records, limit=120)
    assert sum(count for count, _ in files) == 11
    assert all(text.startswith("A,B,C\n") and len(text.encode()) <= 120 for _, text in files)
    assert files[-1][1].endswith("z,,1\n")
    assert split_csv([]) == []


def test_a_default_flush_goes_through_parallelisable_collections(
    salesforce_emulator: SalesforceEmulator,
) -> None:
    """A 2,000-record write (one default flush) uses 10 collection calls, not a Bulk job."""
    conn = connect(salesforce_emulator)
    assert conn.bulk_threshold == 20_000
    results = conn.write("Contact", contacts(2000))
    assert all(r.ok for r in results)
    assert conn.calls[UPSERT] == 10
    assert _bulk_calls(conn) == {}
    conn.close()

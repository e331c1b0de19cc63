"""Issue 20 item 11: consent costs few calls. HubSpot statuses are written 100 per
``statuses/batch/write`` call (not one ``POST statuses/{email}`` per person), and an idle run
does not hand the unchanged Salesforce consent facts of the overlap margin to the sync again.

Measured here for 200 customers through the real SDKs (hubspot-api-client, simple-salesforce)
against the emulators: the first consent run made 189 calls before (176 single HubSpot
writes, then HubSpot's ten-secondly limit stopped it), 15 now; an idle run re-read every
Contact's consent (400 facts with a long overlap margin), none now."""

from __future__ import annotations

import math
from collections import Counter

from b2sync.runtime import build_runner
from consent.consent_service import consent_sync_for
from consent.job import ConsentSummary
from tests.e2e.conftest import E2E, FAST_RETRY, stack_fixtures

V4_SINGLE = "POST /communication-preferences/v4/statuses/{email}"
V4_BATCH = "POST /communication-preferences/v4/statuses/batch/write"
SYSTEMS = ("b2connect", "hubspot", "salesforce")


#: 200 customers for the module, fresh for each test
stack200, e2e200 = stack_fixtures("stack200", "e2e200", customers=200, seed=7)


def _calls(e2e: E2E) -> Counter[str]:
    return Counter({f"{s} {k}": v for s in SYSTEMS for k, v in e2e.calls(s).items()})


def _consent_run(e2e: E2E) -> tuple[ConsentSummary, Counter[str]]:
    """One consent sync; the vendor calls it made (the emulators' own counts)."""
    # an hour of overlap: every Contact stamped since the last read is delivered again
    options = {"salesforce": {"bulk_wait_s": 0.01, "overlap_s": 3600.0}}
    runner = build_runner(e2e.config, retry=FAST_RETRY, connector_options=options)
    before = _calls(e2e)
    try:
        summary = consent_sync_for(runner).run()
    finally:
        runner.close()
    made = _calls(e2e)
    made.subtract(before)
    return summary, +made


def test_consent_of_200_customers_is_written_in_batches_and_idle_runs_read_nothing(
    e2e200: E2E,
) -> None:
    e2e200.sync("customers-to-hubspot", "customers-to-salesforce")

    first, calls = _consent_run(e2e200)
    assert first.ok, first.errors
    written = first.applied["hubspot"]
    assert written > 150  # the seed's decisions HubSpot did not hold
    assert calls[f"hubspot {V4_SINGLE}"] == 0
    tried = sum(
        counts.get("hubspot", 0)
        for counts in (first.applied, first.not_applied, first.absent, first.failed)
    )
    # 100 statuses per call (decisions HubSpot cannot take, e.g. unknown people, are not sent)
    assert math.ceil(written / 100) <= calls[f"hubspot {V4_BATCH}"] <= math.ceil(tried / 100)
    assert sum(calls.values()) <= 20, calls

    _consent_run(e2e200)  # reads back the echo of its own writes
    idle, calls = _consent_run(e2e200)
    assert idle.ok and idle.decisions == 0
    assert idle.facts.get("salesforce", 0) == 0, idle.facts
    assert sum(calls.values()) <= 6, calls


def test_statuses_hubspot_refuses_in_a_batch_are_written_on_the_next_run(e2e: E2E) -> None:
    """A 207 from batch/write: the refused statuses count as failed (the others as applied)
    and the next run writes only those, in one call."""
    e2e.sync("customers-to-hubspot")
    e2e.faults(
        "hubspot",
        [{"match": V4_BATCH, "kind": "partial", "every": 3, "status": 500,
          "code": "INTERNAL_ERROR", "times": 1}],
    )  # fmt: skip
    first, calls = _consent_run(e2e)
    refused = first.failed.get("hubspot", 0)
    assert calls[f"hubspot {V4_BATCH}"] == 1 and refused > 0
    assert first.applied["hubspot"] >= refused  # two of every three went through
    e2e.faults("hubspot", [])
    second, calls = _consent_run(e2e)
    assert second.applied.get("hubspot", 0) == refused and not second.failed.get("hubspot")
    assert calls[f"hubspot {V4_BATCH}"] == 1 and calls[f"hubspot {V4_SINGLE}"] == 0

"""Concurrent write batches through the real SDKs: the same API calls and the same CRM records
as one batch at a time; a bad ``concurrency`` is refused with file:line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.stack import EmulatorStack
from tests.e2e.conftest import E2E, by_key, config_for, fresh_e2e, stack_fixtures
from tests.e2e.test_cli_sync import cli

PIPELINES = ("customers-to-hubspot", "customers-to-salesforce", "orders-to-hubspot")


#: more customers than one HubSpot batch (100) and one Salesforce collection (200)
_wide, wide = stack_fixtures("_wide", "wide", customers=260, seed=5)


def with_concurrency(e2e: E2E, n: int) -> None:
    """Set every connection's ``concurrency`` to ``n`` in the test's config."""
    text = e2e.config_path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\nconnections:\n")
    rest = re.sub(
        r"(?m)^(    type: (b2connect|hubspot|salesforce)\n)", rf"\1    concurrency: {n}\n", rest
    )
    text = head + sep + rest
    assert rest.count(f"concurrency: {n}") == 3
    e2e.config_path.write_text(text, encoding="utf-8")
    e2e.config, _ = config_for(e2e.config_path.parent, text)


def _backfill(e2e: E2E) -> tuple[dict[str, int], dict[str, int], dict[str, object]]:
    summaries = e2e.sync(*PIPELINES)
    assert all(s.status.value == "succeeded" for s in summaries), [s.error for s in summaries]
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    sf = by_key(e2e.records("salesforce", "Contact"), "B2Connect_Id__c")
    orders = by_key(e2e.records("hubspot", "orders"), "b2connect_id")
    state = {
        "contacts": sorted(
            (k, len(v), v[0]["properties"].get("email")) for k, v in contacts.items()
        ),
        "sf": sorted((k, len(v), v[0].get("Email")) for k, v in sf.items()),
        "orders": sorted((k, len(v)) for k, v in orders.items()),
    }
    return e2e.calls("hubspot"), e2e.calls("salesforce"), state


def test_concurrency_4_makes_the_serial_api_calls_and_writes_the_same(
    wide: E2E, _wide: EmulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backfill at concurrency 4 costs exactly the calls of concurrency 1, per endpoint, and
    leaves the same records in both CRMs (each once)."""
    with_concurrency(wide, 1)
    serial_hs, serial_sf, serial_state = _backfill(wide)
    assert max(len(v) for v in by_key(wide.records("hubspot", "contacts"), "b2connect_id").values())
    (tmp_path / "again").mkdir()
    again = next(fresh_e2e(_wide, tmp_path / "again", monkeypatch))
    with_concurrency(again, 4)
    hs, sf, state = _backfill(again)
    assert hs == serial_hs
    assert sf == serial_sf
    assert state == serial_state
    assert all(n == 1 for _, n, _ in state["contacts"])  # type: ignore[attr-defined]
    assert len(state["contacts"]) > 200  # type: ignore[arg-type]


def test_a_concurrency_of_zero_is_refused_with_its_line(e2e: E2E) -> None:
    """``concurrency: 0`` stops ``b2sync check`` with the file:line of the setting."""
    with_concurrency(e2e, 1)
    text = e2e.config_path.read_text(encoding="utf-8").replace(
        "concurrency: 1", "concurrency: 0", 1
    )
    e2e.config_path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "concurrency: 0" in row)
    result = cli(e2e, "check", "--config", str(e2e.config_path))
    assert result.returncode != 0
    assert f"{e2e.config_path}:{line}" in result.stderr, result.stderr


def test_b2connect_write_back_at_concurrency_4_makes_one_get_and_patch_per_record(
    e2e: E2E, tmp_path: Path
) -> None:
    """CRM edits of six contacts flow back to B2Connect with one GET and one PATCH each,
    sent several at once, and every edit lands."""
    from tests.e2e.two_way_support import HS, open_two_way, two_way_config

    config, _ = two_way_config(tmp_path)
    assert config.connections["shop"].concurrency == 4
    for tw in open_two_way(e2e, config):
        tw.settle()
        linked = sorted(tw.linked(HS).items())[:6]
        for n, (_key, contact_id) in enumerate(linked):
            tw.hubspot_user(contact_id, {"firstname": f"Back{n}"})
        before = e2e.calls("b2connect")
        [hs, _sf] = tw.cycle()
        after = e2e.calls("b2connect")
        grown = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
        assert hs.counts["pull_to_b2connect"] == 6
        assert grown.get("PATCH /api/crm/customers/{rid}") == 6
        assert grown.get("GET /api/crm/{entity}/{rid}") == 6
        assert [tw.customer(k)["firstName"] for k, _ in linked] == [f"Back{n}" for n in range(6)]


def _runs(e2e: E2E) -> list[Any]:
    """Every run in the store: (pipeline, started_at, finished_at)."""
    import sqlalchemy as sa

    engine = sa.create_engine(e2e.config.state_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT pipeline, started_at, finished_at FROM runs")).all()
    engine.dispose()
    return list(rows)


def test_sync_runs_the_hubspot_and_salesforce_pipelines_at_the_same_time(e2e: E2E) -> None:
    """`b2sync sync` runs the HubSpot chain and the Salesforce chain side by side (different
    budgets, no links between them), each in dependency order: the Salesforce chain starts
    before the HubSpot chain ends, though HubSpot comes first in the config."""

    from sync.runner import parallel_groups

    groups = parallel_groups(e2e.config.pipelines)
    assert [[p.crm.connection for p in g] for g in groups] == [["hubspot"] * 3, ["salesforce"] * 3]
    names = [p.name for p in groups[0]]
    assert names.index("customers-to-hubspot") < names.index("orders-to-hubspot")
    e2e.faults("hubspot", [{"match": "*", "kind": "slow", "delay_s": 0.2}])  # a slow vendor
    result = cli(e2e, "sync", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    runs = _runs(e2e)
    hubspot_end = max(r.finished_at for r in runs if r.pipeline.endswith("-to-hubspot"))
    salesforce_start = min(r.started_at for r in runs if r.pipeline.endswith("-to-salesforce"))
    assert salesforce_start < hubspot_end


def test_sync_runs_pipelines_of_one_crm_side_by_side_unless_they_depend(e2e: E2E) -> None:
    """Inside one CRM's chain, `b2sync sync` runs the pipelines that do not depend on each
    other side by side (companies beside customers: one budget, two runs drawing on it) and
    a pipeline that links to another (Salesforce orders set a lookup to the customer's
    contact) only after it. HubSpot orders only associate with the contacts: they start
    beside the customers pipeline and end after it (the deferred associations are made once
    it has finished)."""

    e2e.faults("hubspot", [{"match": "*", "kind": "slow", "delay_s": 0.2}])
    e2e.faults("salesforce", [{"match": "*", "kind": "slow", "delay_s": 0.2}])
    result = cli(e2e, "sync", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    rows = _runs(e2e)
    runs = {r.pipeline: r for r in rows}
    for crm in ("hubspot", "salesforce"):
        customers, companies = runs[f"customers-to-{crm}"], runs[f"companies-to-{crm}"]
        orders = runs[f"orders-to-{crm}"]
        assert companies.started_at < customers.finished_at, crm
        assert customers.started_at < companies.finished_at, crm
        if crm == "salesforce":
            assert orders.started_at >= customers.finished_at, crm
        else:
            assert orders.started_at < customers.finished_at <= orders.finished_at, crm


def route_peaks(e2e: E2E, system: str) -> dict[str, int]:
    """The emulator's peak of calls in flight at once, per route (``GET /_emulator/stats``)."""
    emu = getattr(e2e.stack, system)
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(
            f"{emu.url}/_emulator/stats", timeout=10, verify=getattr(emu, "ca_file", True)
        )
    return dict(answer.json()["peak_in_flight_by_route"])


def test_lookups_and_first_batches_of_a_flush_are_in_flight_together(
    wide: E2E, _wide: EmulatorStack
) -> None:
    """Under vendor latency at concurrency 4, the identity lookups of a flush (one call per
    100 match values) are in flight together, and so are all its write batches, the first one
    too; the calls stay those of the serial engine."""
    with_concurrency(wide, 4)
    # each call outlasts the spacing of HubSpot's token bucket (19 calls/s: a call books its
    # turn up to two turns ahead, ~105 ms), so batches sent together overlap however the
    # machine schedules them; at 100 ms a slow machine saw the third batch start as the
    # first ended
    _wide.set_latency({"hubspot": 300, "salesforce": 300})
    try:
        summaries = wide.sync("customers-to-hubspot", "customers-to-salesforce")
    finally:
        _wide.set_latency({"hubspot": 0, "salesforce": 0})
    assert all(s.status.value == "succeeded" for s in summaries), [s.error for s in summaries]
    together = {
        "hubspot": ("POST /crm/v3/objects/{object_type}/batch/read",  # contacts by email
                    "POST /crm/v3/objects/{object_type}/batch/upsert"),
        "salesforce": ("GET /services/data/{version}/query",  # Contacts by Email
                       "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"),
    }  # fmt: skip
    for system, routes in together.items():
        peaks, calls = route_peaks(wide, system), wide.calls(system)
        for route in routes:  # 260 records: 3 lookups, 3 HubSpot batches, 2 collections
            assert calls[route] >= 2, (system, route, calls)
            assert peaks[route] == calls[route], (system, route, peaks, calls)


def test_a_first_sync_checks_every_hubspot_id_property_at_once(e2e: E2E) -> None:
    """`b2sync sync` (a first backfill) checks and creates the id property of every HubSpot
    object its pipelines write (contacts, companies, orders, line items) side by side as the
    HubSpot chain starts, not one object's first write after another: the checks are in
    flight together, each object checked and created once; the rerun checks nothing."""
    get_property = "GET /crm/v3/properties/{object_type}/{property_name}"
    create_property = "POST /crm/v3/properties/{object_type}"
    e2e.stack.set_latency({"hubspot": 100})
    try:
        result = cli(e2e, "sync", "--config", str(e2e.config_path))
    finally:
        e2e.stack.set_latency({"hubspot": 0})
    assert result.returncode == 0, result.stderr
    calls = e2e.calls("hubspot")
    assert calls[get_property] == 4 and calls[create_property] == 4, calls
    assert route_peaks(e2e, "hubspot")[get_property] >= 2
    again = cli(e2e, "sync", "--config", str(e2e.config_path))
    assert again.returncode == 0, again.stderr
    assert e2e.calls("hubspot")[get_property] == 4  # cursors set: nothing to prepare


def test_sync_describes_the_crm_objects_it_checks_at_once(e2e: E2E) -> None:
    """`b2sync sync` checks that every mapped CRM field exists before any write: it describes
    the Salesforce objects (Contact, Account, the order and its lines) side by side, not one
    after another, each once; the writes' field lengths then come from that describe."""
    describe = "GET /services/data/{version}/sobjects/{sobject}/describe"
    e2e.stack.set_latency({"salesforce": {"default": 0, "GET /services/data/*/describe": 1000}})
    try:
        result = cli(e2e, "sync", "--config", str(e2e.config_path))
    finally:
        e2e.stack.set_latency({"salesforce": 0})
    assert result.returncode == 0, result.stderr
    assert e2e.calls("salesforce")[describe] == 4, e2e.calls("salesforce")
    assert route_peaks(e2e, "salesforce")[describe] >= 3


def test_a_first_backfill_describes_the_truncating_salesforce_objects_as_it_starts(
    e2e: E2E,
) -> None:
    """A first backfill run as `b2sync sync` runs it (`side_by_side` with `Runner.warm_up`,
    without the CLI's field check: the bench, a caller of the runner) describes the Salesforce
    objects whose field lengths its pipelines truncate to side by side as the chain starts,
    not as each pipeline's first flush gets to it: in flight together, each object once."""
    from sync.runner import side_by_side

    describe = "GET /services/data/{version}/sobjects/{sobject}/describe"
    e2e.stack.set_latency({"salesforce": {"default": 0, "GET /services/data/*/describe": 1000}})
    runner = e2e.runner()
    try:
        pipes = runner.select([p.name for p in e2e.config.pipelines if "salesforce" in p.name])
        summaries = side_by_side(pipes, runner.run_pipeline, start=runner.warm_up)
    finally:
        runner.close()
        e2e.stack.set_latency({"salesforce": 0})
    assert all(s.status.value == "succeeded" for s in summaries), [s.error for s in summaries]
    assert e2e.calls("salesforce")[describe] == 4, e2e.calls("salesforce")
    assert route_peaks(e2e, "salesforce")[describe] >= 3

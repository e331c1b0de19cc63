"""Counts tell the truth (issue 20, item 5): a dry run plans what the real run then counts,
progress lines agree with the summary, and every write call a run made is in its summary."""

from __future__ import annotations

import json
import re
from typing import Any

from typer.testing import CliRunner

from b2sync.cli import app
from tests.e2e.conftest import E2E, by_key
from tests.e2e.two_way_support import WRITE_METHODS

SYSTEMS = ("b2connect", "hubspot", "salesforce")


def invoke(e2e: E2E, *args: str, columns: int = 200) -> Any:
    """``b2sync ARGS --config …`` in process, as an operator types it."""
    result = CliRunner().invoke(
        app, [*args, "--config", str(e2e.config_path)], env={"COLUMNS": str(columns)}
    )
    assert result.exit_code == 0, result.output
    return result


def sync_json(e2e: E2E, *args: str) -> dict[str, dict[str, Any]]:
    """``b2sync sync --json ARGS``: the summaries by pipeline."""
    out = invoke(e2e, "sync", "--json", *args).stdout
    return {s["pipeline"]: s for s in json.loads(out[out.index("[\n") :])}


def write_calls(e2e: E2E) -> dict[str, int]:
    """Every write call the three emulators served so far, by route."""
    out: dict[str, int] = {}
    for system in SYSTEMS:
        for key, count in e2e.calls(system).items():
            method, _, path = key.partition(" ")
            if method in WRITE_METHODS and not path.endswith(("/search", "/batch/read")):
                out[key] = out.get(key, 0) + count
    return out


def test_the_dry_run_plans_the_creates_and_updates_the_real_run_makes(e2e: E2E) -> None:
    """Same data: `sync --dry-run --json` then `sync --json` count the same creates and
    updates per pipeline (matched CRM contacts are updates, ambiguous ones conflicts)."""
    dry = sync_json(e2e, "--dry-run")
    assert not by_key(e2e.records("hubspot", "contacts"), "b2connect_id"), "dry run wrote"
    real = sync_json(e2e)
    assert dry.keys() == real.keys() and len(real) == 6
    exact = 0
    for name, done in real.items():
        planned = dry[name]
        assert planned["dry_run"] and not done["dry_run"]
        # a value the CRM itself refuses (Salesforce: an email over 80 characters) is a
        # planned write the real run dead-letters: the dry run cannot know the CRM's answer
        refused = done["counts"].get("rejected", 0)
        assert sum(planned["writes"].values()) == sum(done["writes"].values()) + refused, name
        assert planned["counts"].get("would_conflict", 0) == done["counts"].get("conflicts", 0)
        if not refused:
            assert planned["writes"] == done["writes"], name
            exact += 1
    assert exact >= 5
    assert real["customers-to-hubspot"]["writes"]["crm_updated"] > 0, "seed has CRM matches"


def test_a_full_dry_run_after_an_edit_plans_an_update_not_a_create(e2e: E2E) -> None:
    """`sync --dry-run --full` after a sync and one shopper edit plans that update, no creates,
    in the JSON and in the table."""
    sync_json(e2e)
    key = sorted(by_key(e2e.records("hubspot", "contacts"), "b2connect_id"))[0]
    e2e.stack.b2connect.admin_patch("customers", key, {"firstName": "Zelda"})
    dry = sync_json(e2e, "--dry-run", "--full", "customers-to-hubspot")
    writes = dry["customers-to-hubspot"]["writes"]
    assert writes == {"crm_created": 0, "crm_updated": 1, "b2connect_updated": 0}
    table = invoke(e2e, "sync", "--dry-run", "--full", "customers-to-hubspot").stdout
    row = _row(table, "customers-to-hubspot")
    assert (row[0], row[2], row[3]) == ("succeeded", "0", "1")  # status, created, updated


def test_the_progress_line_agrees_with_the_summary(e2e: E2E) -> None:
    """A two-way pipeline's last progress line shows the numbers of its summary row (the pull
    half's reads are not added to the push's)."""
    out = invoke(e2e, "sync", "customers-to-hubspot").stdout
    [bar] = [
        line for line in out.splitlines() if "customers-to-hubspot" in line and " read " in line
    ]
    shown = dict(re.findall(r"(read|created|updated|unchanged|dead|conflicts) (\d+)", bar))
    row = _row(out, "customers-to-hubspot")
    # the table: status read created updated b2connect-updated unchanged dead conflicts …
    table = dict(zip(("read", "created", "updated"), row[1:4], strict=True))
    table.update(unchanged=row[5], dead=row[6], conflicts=row[7])
    assert shown == table
    assert shown["read"] == "40"


def test_every_write_call_is_in_the_summary(e2e: E2E) -> None:
    """The summaries' write calls equal the write calls the emulators served, a two-way run
    that PATCHed B2Connect and a sync's own dead-letter replay included."""
    before = write_calls(e2e)
    first = sync_json(e2e)
    _assert_calls_counted(e2e, before, first)
    key, contact = next(iter(by_key(e2e.records("hubspot", "contacts"), "b2connect_id").items()))
    e2e.stack.hubspot.admin_patch(
        "contacts", contact[0]["id"], {"properties": {"firstname": "Zelda"}}
    )
    e2e.faults("salesforce", [{"match": "PATCH /services/data/*", "status": 503, "times": 1}])
    before = write_calls(e2e)
    second = sync_json(e2e)
    _assert_calls_counted(e2e, before, second)
    hubspot = second["customers-to-hubspot"]
    assert hubspot["writes"]["b2connect_updated"] == 1
    assert hubspot["api_calls"].get("PATCH /api/crm/customers/{rid}") == 1
    assert e2e.stack.b2connect.admin_get("customers", key)["firstName"] == "Zelda"


def _assert_calls_counted(
    e2e: E2E, before: dict[str, int], summaries: dict[str, dict[str, Any]]
) -> None:
    served = {k: v - before.get(k, 0) for k, v in write_calls(e2e).items()}
    counted: dict[str, int] = {}
    for summary in summaries.values():
        for key, count in summary["api_calls"].items():
            method, _, path = key.partition(" ")
            if method in WRITE_METHODS and not path.endswith(("/search", "/batch/read")):
                counted[key] = counted.get(key, 0) + count
    assert counted == {k: v for k, v in served.items() if v}


def _row(table: str, pipeline: str) -> list[str]:
    """The cells after the pipeline's name in its summary-table row."""
    [line] = [
        line for line in table.splitlines()
        if line.split()[:1] == [pipeline] and "succeeded" in line
    ]  # fmt: skip
    return line.split()[1:]


def test_the_summary_fits_80_columns(e2e: E2E) -> None:
    """At 80 columns the progress lines and the summary table cut no header, name or number
    (short headers, explained below), and the row says what the dry run planned."""
    planned = sync_json(e2e, "--dry-run", "customers-to-salesforce")["customers-to-salesforce"]
    out = invoke(e2e, "sync", "customers-to-salesforce", columns=80).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert "…" not in out and "..." not in out, out
    header = next(line.split() for line in lines if line.split()[:1] == ["pipeline"])
    assert header == ["pipeline", "read", "new", "upd", "b2c", "same", "dead", "confl", "defer",
                      "calls"]  # fmt: skip
    assert "new = created, upd = updated" in out
    # the progress line names the pipeline too; the table's row comes after the header
    below = lines[next(i for i, line in enumerate(lines) if line.split()[:1] == ["pipeline"]) :]
    [row] = [line.split() for line in below if line.split()[:1] == ["customers-to-salesforce"]]
    assert all(cell.isdigit() for cell in row[1:]) and len(row) == len(header)
    writes = planned["writes"]
    assert row[2] == str(writes["crm_created"] - 1)  # the one Salesforce refuses (> 80 chars)
    assert row[3] == str(writes["crm_updated"])


def test_dead_letter_messages_keep_their_brackets(e2e: E2E) -> None:
    """`deadletters list` prints Salesforce's "data value too large: [value]" with the
    redaction mark, not swallowed as Rich markup."""
    invoke(e2e, "sync", "customers-to-salesforce")
    out = invoke(e2e, "deadletters", "list", "--pipeline", "customers-to-salesforce").stdout
    assert "data value too large: [value]" in out

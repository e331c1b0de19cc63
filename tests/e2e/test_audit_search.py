"""``b2sync audit search`` as the README shows it: by pipeline name, by email, by customer id."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from b2sync.cli import app
from tests.e2e.conftest import E2E, ROOT

README_COMMAND = re.compile(r"^\.venv/bin/b2sync (audit search .*)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _readme_searches() -> list[list[str]]:
    found = README_COMMAND.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "the README shows no `b2sync audit search` example"
    return [shlex.split(line) for line in found]


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_readme_audit_search_examples_find_the_run(
    e2e: E2E, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each README `audit search` line, run as written next to config.yaml after a sync,
    lists the pipeline's writes (it compared against `pipeline:…` and found nothing)."""
    [summary] = e2e.sync("customers-to-hubspot")
    written = summary.counts["written"]
    assert written > 0
    monkeypatch.chdir(e2e.config_path.parent)
    for args in _readme_searches():
        code, out = _cli(*args)
        assert code == 0, out
        assert out.count("crm.write") == written, (args, out)


def _json_search(config: Path, *args: str) -> list[dict[str, object]]:
    code, out = _cli("audit", "search", "--config", str(config), "--format", "json", *args)
    assert code == 0, out
    result: list[dict[str, object]] = json.loads(out)
    return result


def test_search_by_email_finds_the_customer_events(e2e: E2E) -> None:
    """--subject EMAIL (any case, spaces) resolves to the customer's events through the keyed
    email hash; --customer-id finds the same; the store holds no clear email for it."""
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    customer = next(c for c in e2e.records("b2connect", "customers") if c.get("email"))
    email = str(customer["email"]).strip()
    by_email = _json_search(e2e.config_path, "--subject", f"  {email.upper()} ")
    by_id = _json_search(e2e.config_path, "--customer-id", str(customer["id"]))
    assert by_email and by_email == by_id
    assert {e["subject"] for e in by_email} == {str(customer["id"])}
    assert {e["actor"] for e in by_email} >= {"pipeline:customers-to-hubspot"}
    for db in e2e.config_path.parent.glob("state.db*"):  # the WAL too
        state = db.read_bytes()
        assert email.lower().encode() not in state and email.encode() not in state
    assert _json_search(e2e.config_path, "--subject", "nobody@example.org") == []

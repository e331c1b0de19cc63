"""Dead letters keep the vendor's code, field and reason, never the value the vendor quoted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from typer.testing import CliRunner

from b2sync.cli import app
from store.models import metadata
from tests.e2e.conftest import E2E

#: a valid address longer than Salesforce's 80 for Contact.Email; the log redaction's email
#: pattern stops at ``&``, so the stored message kept "tobias.mueller&[email]"
LONG_EMAIL = "tobias.mueller&family." + "x" * 40 + "@mail." + "y" * 20 + ".example.org"


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _dead_letters(e2e: E2E) -> dict[str, dict[str, Any]]:
    engine = sa.create_engine(f"sqlite:///{e2e.config_path.parent / 'state.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(metadata.tables["dead_letters"])).all()
    finally:
        engine.dispose()
    return {row.record_key: dict(row._mapping) for row in rows}


def test_string_too_long_dead_letter_keeps_code_and_field_not_the_value(e2e: E2E) -> None:
    """Salesforce answers STRING_TOO_LONG quoting the over-long value; the dead letter (table
    and `deadletters list`) names the code, the field and the limit, never the value."""
    customer = next(c for c in e2e.records("b2connect", "customers") if c.get("email"))
    key = str(customer["id"])
    e2e.stack.b2connect.admin_patch("customers", key, {"email": LONG_EMAIL})
    e2e.sync("customers-to-salesforce")
    dead = _dead_letters(e2e)[key]
    assert (dead["error_code"], dead["error_field"]) == ("STRING_TOO_LONG", "Email")
    assert dead["error_message"] == "Email: data value too large: [value] (max length=80)"
    result = CliRunner().invoke(
        app, ["deadletters", "list", "--json", "--config", str(e2e.config_path)]
    )
    assert result.exit_code == 0, result.output
    [listed] = [d for d in json.loads(result.output) if d["record_key"] == key]
    assert listed["error_message"] == dead["error_message"]
    assert "tobias" not in result.output and "mueller" not in result.output

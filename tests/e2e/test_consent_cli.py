"""``b2sync consent sync|show``, HubSpot v3 limits and Salesforce opt-outs, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import E2E, ROOT, config_for
from tests.e2e.test_cli_sync import cli
from tests.e2e.test_consent_sync import (
    consent_sync,
    granted_person,
    hubspot_state,
    sf_contacts,
    shop_consent,
)

V3_SUBSCRIBE = "POST /communication-preferences/v3/subscribe"


def test_consent_sync_and_show_on_the_command_line(e2e: E2E) -> None:
    """`consent sync` reads and writes; `consent show --json` gives status with provenance."""
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    result = cli(e2e, "consent", "sync", "--json", "--config", str(e2e.config_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["decisions"] > 0
    _, email = granted_person(e2e)
    shown = cli(
        e2e, "consent", "show", "--email", email.upper(), "--json", "-c", str(e2e.config_path)
    )
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    [marketing] = [c for c in view["consents"] if c["purpose"] == "marketing"]
    assert marketing["status"] == "granted"
    assert marketing["source_system"] == "b2connect"
    assert marketing["legal_basis"] == "consent"
    assert marketing["wording_version"]
    assert marketing["systems"]["hubspot"]["status"] == "granted"
    assert email not in shown.stdout
    table = cli(e2e, "consent", "show", "--email", email, "-c", str(e2e.config_path))
    assert table.returncode == 0, table.stderr
    assert "marketing" in table.stdout and "b2connect" in table.stdout


def test_consent_show_of_an_unknown_or_malformed_email(e2e: E2E) -> None:
    """An unknown person exits 1 with a clear line; a malformed email or tenant is bad usage."""
    unknown = cli(
        e2e, "consent", "show", "--email", "nobody@example.org", "-c", str(e2e.config_path)
    )
    assert unknown.returncode == 1
    assert "no consent is recorded" in unknown.stderr
    bad = cli(e2e, "consent", "show", "--email", "not-an-email", "-c", str(e2e.config_path))
    assert bad.returncode == 2
    tenant = cli(
        e2e, "consent", "show", "--email", "a@b.de", "--tenant", "nope", "-c", str(e2e.config_path)
    )
    assert tenant.returncode == 2
    assert "unknown tenant" in tenant.stderr


def test_hubspot_v3_cannot_resubscribe_and_says_why(e2e: E2E, tmp_path: Path) -> None:
    """With api: v3 a resubscribe is refused by HubSpot; the reason is recorded, not retried."""
    text = (ROOT / "config.yaml").read_text(encoding="utf-8").replace("api: v4", "api: v3")
    e2e.config, e2e.config_path = config_for(tmp_path, text)
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    consent_sync(e2e)
    customer, email = granted_person(e2e)
    e2e.stack.hubspot.admin_patch(
        "subscriptions", email, {"subscriptionId": 101, "statusState": "UNSUBSCRIBED"}
    )
    consent_sync(e2e)
    assert shop_consent(e2e, customer)["status"] == "withdrawn"
    e2e.stack.b2connect.admin_patch(
        "consents", shop_consent(e2e, customer)["id"], {"status": "granted"}
    )
    summary = consent_sync(e2e)
    assert summary.not_applied.get("hubspot") == 1
    assert any("CANNOT_RESUBSCRIBE" in reason for reason in summary.reasons)
    assert email not in " ".join(summary.reasons)
    assert hubspot_state(e2e, email) == "UNSUBSCRIBED"
    assert all(c["HasOptedOutOfEmail"] is False for c in sf_contacts(e2e, email))
    calls = e2e.calls("hubspot").get(V3_SUBSCRIBE, 0)
    consent_sync(e2e)
    assert e2e.calls("hubspot").get(V3_SUBSCRIBE, 0) == calls


def test_salesforce_opt_out_reaches_b2connect_and_hubspot(e2e: E2E) -> None:
    """Ticking Email Opt Out on the Contact withdraws the consent everywhere."""
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    consent_sync(e2e)
    customer, email = granted_person(e2e)
    for contact in sf_contacts(e2e, email):
        e2e.stack.salesforce.admin_patch("Contact", contact["Id"], {"HasOptedOutOfEmail": True})
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    row = shop_consent(e2e, customer)
    assert (row["status"], row["source"]) == ("withdrawn", "b2sync:salesforce")
    assert hubspot_state(e2e, email) == "UNSUBSCRIBED"


def test_hubspot_without_batch_statuses_reads_one_contact_at_a_time(e2e: E2E) -> None:
    """A portal refusing the v4 batch read (403) is read per contact; the opt-out still lands."""
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    consent_sync(e2e)
    customer, email = granted_person(e2e)
    batch = "POST /communication-preferences/v4/statuses/batch/read"
    e2e.faults("hubspot", [{"match": batch, "status": 403, "code": "MISSING_SCOPES"}])
    e2e.stack.hubspot.admin_patch(
        "subscriptions", email, {"subscriptionId": 101, "statusState": "UNSUBSCRIBED"}
    )
    single = "GET /communication-preferences/v4/statuses/{email}"
    before = e2e.calls("hubspot").get(single, 0)
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    assert e2e.calls("hubspot").get(single, 0) > before
    assert shop_consent(e2e, customer)["status"] == "withdrawn"


def records_config(tmp_path: Path) -> str:
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    anchor = "      - {channel: phone, purpose: marketing, field: DoNotCall}\n"
    assert text.count(anchor) == 1
    return text.replace(
        anchor,
        anchor
        + "    consent_records:\n"
        + "      - {channel: email, purpose: marketing, data_use_purpose: Marketing}\n",
    )


def consent_records(e2e: E2E, email: str) -> list[dict[str, object]]:
    contacts = sf_contacts(e2e, email)
    parties = {c.get("IndividualId") for c in contacts} - {None}
    return [
        r
        for r in e2e.records("salesforce", "ContactPointTypeConsent")
        if r.get("PartyId") in parties and not r.get("IsDeleted")
    ]


def test_salesforce_consent_records_are_written_and_read(e2e: E2E, tmp_path: Path) -> None:
    """Decisions become ContactPointTypeConsent records; an OptOut made there travels back."""
    e2e.config, e2e.config_path = config_for(tmp_path, records_config(tmp_path))
    e2e.sync("customers-to-hubspot", "customers-to-salesforce")
    consent_sync(e2e)
    customer, email = granted_person(e2e)
    [record] = consent_records(e2e, email)
    assert (record["PrivacyConsentStatus"], record["ContactPointType"]) == ("OptIn", "Email")
    assert record["CaptureSource"] == "b2sync:b2connect"
    e2e.stack.salesforce.admin_patch(
        "ContactPointTypeConsent", str(record["Id"]), {"PrivacyConsentStatus": "OptOut"}
    )
    summary = consent_sync(e2e)
    assert summary.ok, summary.errors
    row = shop_consent(e2e, customer)
    assert (row["status"], row["source"]) == ("withdrawn", "b2sync:salesforce_records")
    assert hubspot_state(e2e, email) == "UNSUBSCRIBED"
    assert all(c["HasOptedOutOfEmail"] is True for c in sf_contacts(e2e, email))

"""B2Connect webhook signature verification."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.b2connect import B2ConnectConnector, sign_webhook, verify_webhook
from emulators.b2connect import sign as emulator_sign

SECRET = "whsec-test"
BODY = b'{"eventType":"customer.updated","tenantId":"t","data":{"id":"c1"}}'
NOW = 1_767_600_000


def test_matches_the_emulators_signing() -> None:
    """Our signature equals the one the emulator puts on its deliveries."""
    assert sign_webhook(SECRET, str(NOW), BODY) == emulator_sign(SECRET, str(NOW), BODY)


def test_valid_signature_is_accepted() -> None:
    """A fresh delivery signed with the secret verifies."""
    sig = emulator_sign(SECRET, str(NOW), BODY)
    assert verify_webhook(SECRET, str(NOW), BODY, sig, now=NOW + 10)


def test_now_may_be_a_datetime() -> None:
    """``now`` accepts an aware datetime as well as epoch seconds."""
    sig = emulator_sign(SECRET, str(NOW), BODY)
    assert verify_webhook(SECRET, NOW, BODY, sig, now=datetime.fromtimestamp(NOW, UTC))


def test_wrong_secret_is_rejected() -> None:
    """A signature made with another secret fails."""
    sig = emulator_sign("other", str(NOW), BODY)
    assert not verify_webhook(SECRET, str(NOW), BODY, sig, now=NOW)


def test_tampered_body_is_rejected() -> None:
    """Changing one byte of the body breaks the signature."""
    sig = emulator_sign(SECRET, str(NOW), BODY)
    assert not verify_webhook(SECRET, str(NOW), BODY.replace(b"c1", b"c2"), sig, now=NOW)


def test_stale_timestamp_is_rejected() -> None:
    """A correctly signed delivery older than the tolerance fails (replay protection)."""
    sig = emulator_sign(SECRET, str(NOW), BODY)
    assert not verify_webhook(SECRET, str(NOW), BODY, sig, now=NOW + 301)


def test_future_timestamp_is_rejected() -> None:
    """A timestamp further in the future than the tolerance fails."""
    sig = emulator_sign(SECRET, str(NOW + 600), BODY)
    assert not verify_webhook(SECRET, str(NOW + 600), BODY, sig, now=NOW)


def test_signature_without_prefix_is_rejected() -> None:
    """The header must have the ``sha256=`` form."""
    sig = emulator_sign(SECRET, str(NOW), BODY).removeprefix("sha256=")
    assert not verify_webhook(SECRET, str(NOW), BODY, sig, now=NOW)


def test_missing_or_garbled_timestamp_is_rejected() -> None:
    """No timestamp, or a non-numeric one, fails."""
    sig = emulator_sign(SECRET, str(NOW), BODY)
    assert not verify_webhook(SECRET, None, BODY, sig, now=NOW)
    assert not verify_webhook(SECRET, "yesterday", BODY, sig, now=NOW)


def test_connector_without_secret_rejects_everything() -> None:
    """A connection with no webhook_secret verifies nothing."""
    conn = B2ConnectConnector(url="http://x.test", token="t", tenant_id="t")
    sig = emulator_sign(SECRET, str(NOW), BODY)
    assert not conn.verify_webhook(str(NOW), BODY, sig, now=NOW)

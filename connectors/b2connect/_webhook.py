"""Verification of B2Connect's signed webhooks (used by the daemon's webhook endpoint).

B2Connect sends ``X-B2Connect-Timestamp: <unix seconds>`` and ``X-B2Connect-Signature:
sha256=<hex>``, the hex HMAC-SHA256 of ``"<timestamp>.<raw body>"`` keyed with the shared
webhook secret. A signature is valid when it matches (constant-time compare) and the
timestamp is within ``tolerance_s`` of ``now`` either way (replays of old deliveries fail).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "sign_webhook", "verify_webhook"]

SIGNATURE_HEADER = "X-B2Connect-Signature"
TIMESTAMP_HEADER = "X-B2Connect-Timestamp"
EVENT_ID_HEADER = "X-B2Connect-Event-Id"
_PREFIX = "sha256="


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign_webhook(secret: str | bytes, timestamp: str | int, body: str | bytes) -> str:
    """The ``sha256=<hex>`` signature B2Connect puts on ``body`` sent at ``timestamp``."""
    message = _as_bytes(str(timestamp)) + b"." + _as_bytes(body)
    return _PREFIX + hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str | bytes,
    timestamp: str | int | None,
    body: str | bytes,
    signature: str | None,
    *,
    now: float | datetime,
    tolerance_s: float = 300,
) -> bool:
    """True if ``signature`` is B2Connect's for ``body`` at a fresh ``timestamp``."""
    if not secret or timestamp is None or not signature:
        return False
    stamp = str(timestamp).strip()
    try:
        sent = int(stamp)
    except ValueError:
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - sent) > tolerance_s:
        return False
    given = signature.strip()
    if not given.lower().startswith(_PREFIX):
        return False
    expected = sign_webhook(secret, stamp, body)
    return hmac.compare_digest(expected.lower().encode(), given.lower().encode())

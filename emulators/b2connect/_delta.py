"""Delta feeds: ``GET /api/crm/{entity}/delta`` with watermark and continuation token.

A read starts at a watermark (the last change sequence number the client has, "0" or none
for everything) and is bounded by the feed's head at that moment; the continuation token
carries the position inside that bounded read, so changes made while a client pages arrive
in its next read. ``newWatermark`` is safe to store after every page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from emulators._base import EmuRequest, HttpError
from emulators.b2connect._store import Change, Store

DEFAULT_BATCH = 100
MAX_BATCH = 1000


class TokenCodec:
    """Opaque, tamper-evident continuation tokens (base64url JSON + truncated HMAC)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def encode(self, payload: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        text = body.decode().rstrip("=")
        return f"{text}.{self._sign(text)}"

    def decode(self, token: str) -> dict[str, Any]:
        text, _, sig = token.partition(".")
        if not sig or not hmac.compare_digest(sig, self._sign(text)):
            raise HttpError(400, "INVALID_TOKEN", "The continuation token is invalid.")
        padded = text + "=" * (-len(text) % 4)
        try:
            payload = json.loads(base64.urlsafe_b64decode(padded))
        except ValueError as exc:
            raise HttpError(400, "INVALID_TOKEN", "The continuation token is invalid.") from exc
        if not isinstance(payload, dict):
            raise HttpError(400, "INVALID_TOKEN", "The continuation token is invalid.")
        return payload

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()[:32]


def _int_param(req: EmuRequest, name: str, default: int, low: int, high: int | None) -> int:
    raw = req.q(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        raise HttpError(400, "VALIDATION", f"{name} must be an integer between {low}{upper}.")
    return value


def render_change(change: Change) -> dict[str, Any]:
    return {
        "changeType": change.change_type,
        "changedAt": change.changed_at,
        "changedFields": list(change.changed_fields),
        "watermark": str(change.seq),
        "data": change.data,
    }


def delta_page(
    store: Store, codec: TokenCodec, tenant: str, entity: str, req: EmuRequest, *, now: str
) -> dict[str, Any]:
    """One page of a feed as the response body (Decimals still Decimal)."""
    batch = _int_param(req, "batchSize", DEFAULT_BATCH, 1, MAX_BATCH)
    token = req.q("continuationToken")
    if token:
        pos = codec.decode(token)
        if pos.get("e") != entity or pos.get("t") != tenant:
            raise HttpError(400, "INVALID_TOKEN", "The continuation token belongs to another feed.")
        after, high = int(pos["a"]), int(pos["h"])
    else:
        after = _int_param(req, "watermark", 0, 0, None)
        if after > store.seq:
            raise HttpError(
                410,
                "WATERMARK_GONE",
                f"Watermark {after} is ahead of the change feed (head {store.seq}); "
                "the feed was rebuilt: discard the watermark and read from the start.",
            )
        high = store.seq
    changes, more = store.feed(tenant, entity, after, high, batch)
    last = changes[-1].seq if changes else after
    return {
        "changes": [render_change(c) for c in changes],
        "newWatermark": str(last if more else high),
        "continuationToken": codec.encode({"e": entity, "t": tenant, "a": last, "h": high})
        if more
        else None,
        "hasMore": more,
        "remainingCount": store.count(tenant, entity, after, high),
        "serverTimestamp": now,
    }

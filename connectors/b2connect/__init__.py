"""The B2Connect connector: delta feeds or the orders listing in, CRM edits back out.

Malformed changes inside an otherwise valid feed page are not errors: they come out as
records keyed ``"invalid:<n>"`` whose fields are ``{"_invalid": reason, **raw change}``, for
the engine to dead-letter (see ``_delta``). A page that breaks the contract raises ``Fatal``.
"""

from __future__ import annotations

from connectors.b2connect._connector import B2ConnectConnector
from connectors.b2connect._consent import consent_payload, to_fact
from connectors.b2connect._schema import STREAMS, nested_fields, schema_of
from connectors.b2connect._webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_webhook,
    verify_webhook,
)

__all__ = [
    "SIGNATURE_HEADER",
    "STREAMS",
    "TIMESTAMP_HEADER",
    "B2ConnectConnector",
    "consent_payload",
    "nested_fields",
    "schema_of",
    "sign_webhook",
    "to_fact",
    "verify_webhook",
]

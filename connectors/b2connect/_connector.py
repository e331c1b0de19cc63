"""``B2ConnectConnector``: the b2sync side of the B2Connect integration contract.

``mode: delta`` follows ``/api/crm/{entity}/delta`` for every stream; ``mode: orders_api``
serves only ``orders`` by rescanning the real ``/api/v1/orders`` (see ``_orders``). Write-back
of CRM edits goes to the ``/api/crm/...`` routes (see ``_write``). Malformed changes come out
as ``invalid:<n>`` records (see ``_delta``) for the engine to dead-letter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Self

import requests
import structlog
from pydantic import BaseModel

from connectors.b2connect._consent import read_consents, write_consents
from connectors.b2connect._delta import DeltaReader
from connectors.b2connect._erase import Eraser
from connectors.b2connect._fetch import RecordFetcher
from connectors.b2connect._http import B2ConnectHttp
from connectors.b2connect._orders import OrdersRescan
from connectors.b2connect._schema import STREAMS, schema_of
from connectors.b2connect._webhook import verify_webhook
from connectors.b2connect._write import BackWriter
from connectors.base import ConsentPage, ConsentWrite, SecretResolver
from connectors.errors import ConnectorError, Fatal, Retriable
from connectors.records import (
    Capability,
    ErasureResult,
    Page,
    Record,
    StreamSchema,
    Subject,
    WriteItem,
    WriteResult,
)
from mapping.config import B2ConnectConnection

__all__ = ["B2ConnectConnector"]

log = structlog.get_logger(__name__)

Mode = Literal["delta", "orders_api"]


class B2ConnectConnector:
    """Reads B2Connect's delta feeds (or its orders listing) and writes CRM edits back."""

    name: ClassVar[str] = "b2connect"
    config_model: ClassVar[type[BaseModel]] = B2ConnectConnection
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.READ, Capability.WRITE, Capability.ERASE, Capability.WEBHOOKS}
    )
    #: records per write call: B2Connect has no batch route (one GET + one PATCH each), so
    #: the engine sends write-backs one record per call, several at once
    write_chunk: ClassVar[int] = 1

    def __init__(
        self,
        *,
        url: str,
        token: str,
        tenant_id: str,
        mode: Mode = "delta",
        timeout_s: float = 30.0,
        batch_size: int = 500,
        orders_page_size: int = 100,
        orders_overlap: timedelta = timedelta(days=2),
        webhook_secret: str | None = None,
        refresh_token: Callable[[], str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000 (the feed's maximum)")
        if not 1 <= orders_page_size <= 100:
            raise ValueError("orders_page_size must be between 1 and 100 (the listing's maximum)")
        self.mode: Mode = mode
        self.tenant_id = tenant_id
        self.webhook_secret = webhook_secret
        self.http = B2ConnectHttp(
            url=url,
            token=token,
            tenant_id=tenant_id,
            timeout_s=timeout_s,
            refresh_token=refresh_token,
            session=session,
        )
        self._delta = DeltaReader(self.http, batch_size=batch_size, tenant_id=tenant_id)
        self._orders = OrdersRescan(
            self.http, page_size=orders_page_size, overlap=orders_overlap, tenant_id=tenant_id
        )
        self._writer = BackWriter(self.http)
        self._fetcher = RecordFetcher(self.http, tenant_id=tenant_id)
        self._eraser = Eraser(self.http)

    @classmethod
    def from_config(cls, config: Any, *, secrets: SecretResolver, **options: Any) -> Self:
        """Build from a connection config (model or dict); the token is re-read once on a 401."""
        if not isinstance(config, B2ConnectConnection):
            config = B2ConnectConnection.model_validate(config)
        return cls(
            url=secrets(config.url),
            token=secrets(config.token),
            tenant_id=secrets(config.tenant_id),
            mode=config.mode,
            timeout_s=config.timeout_s,
            webhook_secret=secrets(config.webhook_secret) if config.webhook_secret else None,
            refresh_token=lambda: secrets(config.token),
            **options,
        )

    @property
    def calls(self) -> Counter[str]:
        """API calls made, keyed ``"METHOD /path/{template}"``."""
        return self.http.calls

    # ---- reading

    def read_changes(self, stream: str, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Delta mode: the feed from ``cursor``; orders_api mode: one rescan of the orders."""
        self._known(stream)
        if self.mode == "orders_api":
            if stream != "orders":
                raise Fatal(
                    f"mode orders_api reads only the orders stream, not '{stream}'; "
                    "use `mode: delta` once B2Connect exposes the /api/crm delta feeds",
                    code="UNSUPPORTED_STREAM",
                )
            return self._orders.read(cursor)
        return self._delta.read(stream, cursor)

    def fetch(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """Current state of records by id (one GET each); deleted or unknown ones are absent."""
        self._known(stream)
        return self._fetcher.fetch(stream, keys)

    # ---- consent

    def read_consents(
        self, mapping: Any, cursor: Mapping[str, Any] | None
    ) -> Iterator[ConsentPage]:
        """Consent changes since ``cursor`` (``mapping`` is unused: the vocabulary is ours)."""
        del mapping
        return read_consents(self._delta, cursor)

    def write_consents(self, mapping: Any, writes: Sequence[ConsentWrite]) -> list[WriteResult]:
        """Upsert decisions through ``POST /api/crm/consents``; one result per write."""
        del mapping
        return write_consents(self._writer, writes)

    def describe(self, stream: str) -> StreamSchema:
        """The contract's fields of ``stream`` (hard-coded: the API has no describe call)."""
        self._known(stream)
        return schema_of(stream)

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        """Not offered (no LOOKUP capability): B2Connect has no search by field."""
        return {}

    # ---- writing

    def write(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        """Write CRM edits back; orders fail per record with ``READ_ONLY``."""
        return self._writer.write(stream, batch)

    def create(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        """Create customers or companies a CRM user marked for the shop (one call each)."""
        return self._writer.create(stream, batch)

    def delete(self, stream: str, keys: Sequence[str]) -> list[WriteResult]:
        """B2Connect accepts no deletes from b2sync: every key fails with ``NOT_SUPPORTED``."""
        return [
            WriteResult.failure(
                key, "NOT_SUPPORTED", f"B2Connect does not accept deletes of {stream} from b2sync"
            )
            for key in keys
        ]

    def erase(self, subject: Subject) -> ErasureResult:
        """Register the erasure with B2Connect (``POST /api/crm/erasures``)."""
        return self._eraser.erase(subject)

    # ---- health and webhooks

    def check(self) -> list[str]:
        """Reach the feed (or listing) once and report auth/tenant/endpoint problems."""
        try:
            if self.mode == "orders_api":
                self._orders.fetch(1, None, page_size=1)
            else:
                self._delta.fetch("customers", None, None, 1)
        except Retriable as exc:
            return [
                f"B2Connect is not reachable right now ({exc.message}); check the url and "
                "that the service is up, then run check again"
            ]
        except ConnectorError as exc:
            return [exc.message]
        return []

    def verify_webhook(
        self, timestamp: str | None, body: bytes, signature: str | None, *, now: float | datetime
    ) -> bool:
        """Check a delivery against the connection's ``webhook_secret`` (False if none)."""
        if not self.webhook_secret:
            return False
        return verify_webhook(self.webhook_secret, timestamp, body, signature, now=now)

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()

    # ---- helpers

    def _known(self, stream: str) -> None:
        if stream not in STREAMS:
            raise Fatal(
                f"B2Connect has no stream '{stream}'; known streams: {', '.join(STREAMS)}",
                code="UNKNOWN_STREAM",
            )

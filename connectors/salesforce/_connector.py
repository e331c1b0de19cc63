"""``SalesforceConnector``: the connector contract over simple-salesforce."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from connectors.base import ConsentPage, ConsentWrite, SecretResolver, Touchpoint
from connectors.budget import INITIAL_IN_FLIGHT
from connectors.errors import ConnectorError, Fatal
from connectors.records import (
    Capability,
    ErasureResult,
    FieldInfo,
    Page,
    Record,
    StreamSchema,
    Subject,
    WriteItem,
    WriteResult,
)
from connectors.salesforce._actions import SalesforceActions
from connectors.salesforce._api import Api, sobject
from connectors.salesforce._auth import Authenticator, AuthSettings, resolve_secret
from connectors.salesforce._budget import Budget, SharedOrgBudget
from connectors.salesforce._bulk import upsert_bulk
from connectors.salesforce._bulk_jobs import Polling
from connectors.salesforce._consent import (
    consent_pages,
    read_fields,
    record_consent_pages,
    unseen,
    write_consents,
)
from connectors.salesforce._consent_individual import (
    INDIVIDUAL,
    individual_pages,
    individual_read_fields,
)
from connectors.salesforce._consent_records import CONSENT_OBJECT, READ_FIELDS
from connectors.salesforce._erase import delete_by_keys, erase
from connectors.salesforce._erase_related import RelatedPolicy
from connectors.salesforce._http import CountingSession
from connectors.salesforce._read import lookup, members, read_changes
from connectors.salesforce._touchpoints import CASES_PER_QUERY, read_cases
from connectors.salesforce._write import COLLECTION_SIZE, update_matched, upsert_collections
from connectors.salesforce.soql import soql_identifier
from connectors.together import all_at_once
from mapping.config import (
    SALESFORCE_CONCURRENCY,
    SalesforceAuth,
    SalesforceConnection,
    SalesforceConsent,
)

__all__ = ["SalesforceConnector"]

#: Field types a change read never selects by default (binary bodies, compound duplicates).
_SKIPPED_TYPES = frozenset({"base64", "address", "location"})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _copy(state: Mapping[str, Any]) -> dict[str, Any]:
    """A consent cursor to hand out (its watermark maps copied, never shared)."""
    return {**state, "seen": {k: dict(v) for k, v in state["seen"].items()}}


def _literal(value: str) -> str:
    return value


class SalesforceConnector(SalesforceActions):
    """Salesforce through simple-salesforce: sObject names are the streams."""

    name: ClassVar[str] = "salesforce"
    config_model: ClassVar[type[SalesforceConnection]] = SalesforceConnection
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.WRITE,
            Capability.DELETE,
            Capability.ERASE,
            Capability.LOOKUP,
            Capability.BULK,
        }
    )
    #: records per sObject Collections call (the engine sends such batches concurrently;
    #: batches that small stay below the Bulk API threshold)
    write_chunk: ClassVar[int] = COLLECTION_SIZE
    #: contact ids per read-back query (Cases): the insights pass reads such pieces at once
    read_chunk: ClassVar[int] = CASES_PER_QUERY

    def __init__(
        self,
        *,
        instance_url: str,
        session_id: str | None = None,
        auth: SalesforceAuth | AuthSettings | None = None,
        secrets: SecretResolver = _literal,
        api_version: str = "59.0",
        ca_file: str | None = None,
        daily_share: float = 0.5,
        bulk_threshold: int = 20_000,
        timeout_s: float = 60.0,
        id_field: str = "B2Connect_Id__c",
        read_fields: Mapping[str, Sequence[str]] | None = None,
        overlap_s: float = 2.0,
        bulk_wait_s: float = 0.2,
        clock: Callable[[], dt.datetime] = _utcnow,
        shared_budget: SharedOrgBudget | None = None,
        concurrency: int = SALESFORCE_CONCURRENCY,
    ) -> None:
        """Build a connector; ``session_id`` (or ``auth``) values may be secret references.

        ``shared_budget``: the org's budget shared with other processes (scaled-out workers).

        Nothing is sent until the first call; ``check()`` tries the credentials.
        """
        self.id_field = soql_identifier(id_field)
        self.read_fields = {k: list(v) for k, v in (read_fields or {}).items()}
        self.bulk_threshold = bulk_threshold
        #: Bulk job polling: first poll ``bulk_wait_s`` after closing a job, then doubling
        self.bulk_polling = Polling(first_s=bulk_wait_s)
        self.overlap = dt.timedelta(seconds=overlap_s)
        self.clock = clock
        self.budget = Budget(
            daily_share,
            clock,
            max_in_flight=min(INITIAL_IN_FLIGHT, concurrency),
            max_in_flight_cap=concurrency,
            shared=shared_budget,
        )
        self.session = CountingSession(
            timeout=timeout_s, budget=self.budget, verify=ca_file or True, pool_size=concurrency
        )
        settings = _settings(instance_url, api_version, session_id, auth)
        self.api = Api(Authenticator(settings, secrets, self.session), self.budget)
        #: every HTTP request made, keyed ``"METHOD /path/{template}"`` (emulator style)
        self.calls: Counter[str] = self.session.calls
        self._schemas: dict[str, StreamSchema] = {}
        #: one describe of an sObject at a time (a warm-up's and a write's ask it once)
        self._describing: dict[str, threading.Lock] = {}
        self._describing_guard = threading.Lock()
        self._user_id: str | None = None

    @classmethod
    def from_config(
        cls, config: SalesforceConnection, *, secrets: SecretResolver, **options: Any
    ) -> SalesforceConnector:
        """Build from the validated connection config, resolving references through ``secrets``."""
        ca_file = resolve_secret(secrets, config.ca_file, "ca_file") if config.ca_file else None
        return cls(
            instance_url=resolve_secret(secrets, config.instance_url, "instance_url"),
            auth=config.auth,
            secrets=secrets,
            api_version=config.api_version,
            ca_file=ca_file,
            daily_share=config.daily_share,
            bulk_threshold=config.bulk_threshold,
            timeout_s=config.timeout_s,
            **{"concurrency": config.concurrency, **options},
        )

    # ---- contract

    def check(self) -> list[str]:
        """Problems that would stop a sync: credentials, reachability, budget."""
        try:
            self.api.call(lambda sf: sf.describe())
        except ConnectorError as exc:
            return [exc.message]
        return []

    def read_changes(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        read_fields: Sequence[str] | None = None,
    ) -> Iterator[Page]:
        """Changed and deleted records of sObject ``stream`` since ``cursor``."""
        fields = list(read_fields or self.read_fields.get(stream) or self._default_fields(stream))
        return read_changes(
            self.api, stream, fields, cursor, overlap=self.overlap, clock=self.clock
        )

    def write(
        self,
        stream: str,
        batch: Sequence[WriteItem],
        *,
        id_field: str | None = None,
        id_property: str | None = None,
    ) -> list[WriteResult]:
        """Upsert on the external id field: Collections, or Bulk API 2.0 for big batches.

        Items with a ``crm_id`` (matched to an existing record by identity resolution) are
        updated by Id instead, which stamps the external id on them. ``id_property`` is the
        engine's generic name for ``id_field``.
        """
        ext = soql_identifier(id_field or id_property or self.id_field)
        if not batch:
            return []
        if any(item.crm_id for item in batch):
            matched = [(i, item) for i, item in enumerate(batch) if item.crm_id]
            others = [(i, item) for i, item in enumerate(batch) if not item.crm_id]
            results: dict[int, WriteResult] = {}
            if others:
                written = self.write(stream, [item for _, item in others], id_field=ext)
                results.update(zip((i for i, _ in others), written, strict=True))
            updated = update_matched(self.api, stream, ext, [item for _, item in matched])
            results.update(zip((i for i, _ in matched), updated, strict=True))
            return [results[i] for i in range(len(batch))]
        if len(batch) >= self.bulk_threshold:
            return upsert_bulk(self.api, stream, ext, batch, self.bulk_polling)
        return upsert_collections(self.api, stream, ext, batch)

    def delete(
        self,
        stream: str,
        keys: Sequence[str],
        *,
        id_field: str | None = None,
        id_property: str | None = None,
    ) -> list[WriteResult]:
        """Delete (to the Recycle Bin) the records whose external id is in ``keys``."""
        ext = soql_identifier(id_field or id_property or self.id_field)
        return delete_by_keys(self.api, stream, ext, keys)

    def erase(self, subject: Subject, *, related: RelatedPolicy | None = None) -> ErasureResult:
        """Remove the person's Contacts for good and flag their Individuals; ``related``
        (the ``erasure:`` policy) adds their orders and consent records."""
        return erase(self.api, subject, self.id_field, self.bulk_polling, related)

    def read_consents(
        self, mapping: SalesforceConsent, cursor: Mapping[str, Any] | None
    ) -> Iterator[ConsentPage]:
        """Opt-out checkboxes of the Contacts, ContactPointTypeConsent records and Individual
        privacy checkboxes changed since ``cursor`` (``{"contact": ..., "records": ...,
        "individual": ...}``, one cursor per object)."""
        state: dict[str, Any] = {
            "contact": (cursor or {}).get("contact"),
            "records": (cursor or {}).get("records"),
            "individual": (cursor or {}).get("individual"),
            # records delivered within the overlap margin: not handed over again unchanged
            "seen": dict((cursor or {}).get("seen") or {}),
        }
        if mapping.fields:
            fields = read_fields(mapping, self.id_field)
            pages = self.read_changes("Contact", state["contact"], read_fields=fields)
            for page, marks in unseen(pages, state["seen"].get("contact") or {}, self.overlap):
                for done in consent_pages(iter([page]), mapping, self.id_field):
                    state["contact"] = done.cursor or state["contact"]
                    state["seen"] = {**state["seen"], "contact": marks}
                    yield ConsentPage(done.facts, _copy(state))
        if mapping.consent_records:
            pages = self.read_changes(CONSENT_OBJECT, state["records"], read_fields=READ_FIELDS)
            for page, marks in unseen(pages, state["seen"].get("records") or {}, self.overlap):
                for done in record_consent_pages(self.api, iter([page]), mapping, self.id_field):
                    state["records"] = done.cursor or state["records"]
                    state["seen"] = {**state["seen"], "records": marks}
                    yield ConsentPage(done.facts, _copy(state))
        if mapping.individual:
            fields = individual_read_fields(mapping)
            pages = self.read_changes(INDIVIDUAL, state["individual"], read_fields=fields)
            for page, marks in unseen(pages, state["seen"].get("individual") or {}, self.overlap):
                for done in individual_pages(self.api, iter([page]), mapping, self.id_field):
                    state["individual"] = done.cursor or state["individual"]
                    state["seen"] = {**state["seen"], "individual": marks}
                    yield ConsentPage(done.facts, _copy(state))

    def write_consents(
        self, mapping: SalesforceConsent, writes: Sequence[ConsentWrite]
    ) -> list[WriteResult]:
        """Tick or untick the mapped opt-out checkbox on the person's Contacts (or Individual),
        or write their consent records."""
        return write_consents(self.api, mapping, writes)

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        """Every record id whose ``field`` equals each value (emails case-insensitively)."""
        return lookup(self.api, stream, field, values)

    def members(
        self,
        company_object: str,
        company_ids: Sequence[str],
        contact_object: str,
        fields: Sequence[str],
    ) -> dict[str, list[Record]]:
        """Each Account's live Contacts with ``fields`` (``AccountId`` lookup)."""
        return members(self.api, company_object, company_ids, contact_object, fields)

    def read_touchpoints(self, stream: str, crm_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
        """Cases of the contacts (``Case.ContactId``); Salesforce has no NPS object here."""
        return read_cases(self.api, crm_ids) if stream == "Contact" else {}

    def integration_user(self) -> str | None:
        """Id of the user b2sync acts as (``/services/oauth2/userinfo``, asked once): changes
        whose ``LastModifiedById`` is this user are b2sync's own writes."""
        if self._user_id is None:
            info = self.api.call(_userinfo)
            user = info.get("user_id") if isinstance(info, Mapping) else None
            self._user_id = str(user) if user else None
        return self._user_id

    def prepare_lengths(self, objects: Sequence[str]) -> None:
        """Describe every sObject of ``objects`` at once (cached), as the first write of each
        would one after another when it truncates to the field lengths; the first error is
        raised once all are done."""
        all_at_once(self.describe, list(dict.fromkeys(objects)), "salesforce-prepare")

    def describe(self, stream: str) -> StreamSchema:
        """Fields of sObject ``stream`` from ``sobjects/{S}/describe`` (cached; asked once
        even when several threads want it at the same time)."""
        with self._describing_guard:
            lock = self._describing.setdefault(stream, threading.Lock())
        with lock:
            if stream not in self._schemas:
                raw = self.api.call(lambda sf: sobject(sf, stream).describe())
                if not isinstance(raw, Mapping):
                    raise Fatal(
                        f"Salesforce returned no description of {stream!r}", code="DESCRIBE"
                    )
                self._schemas[stream] = StreamSchema(stream, _fields(raw))
        return self._schemas[stream]

    def close(self) -> None:
        """Close pooled HTTP connections."""
        self.api.forget()
        self.session.close()

    def _default_fields(self, stream: str) -> list[str]:
        schema = self.describe(stream)
        return [f.name for f in schema.fields.values() if f.type not in _SKIPPED_TYPES]


def _userinfo(sf: Any) -> Any:
    """The OpenID Connect userinfo document of the session's user."""
    url = f"https://{sf.sf_instance}/services/oauth2/userinfo"
    return sf._call_salesforce("GET", url, name="userinfo").json()


def _fields(raw: Mapping[str, Any]) -> dict[str, FieldInfo]:
    out: dict[str, FieldInfo] = {}
    for f in raw.get("fields", []):
        length = int(f.get("length") or 0)
        out[str(f["name"])] = FieldInfo(
            name=str(f["name"]),
            type=str(f.get("type", "string")),
            length=length or None,
            nillable=bool(f.get("nillable", True)),
            unique=bool(f.get("unique", False)),
            external_id=bool(f.get("externalId", False)),
            updateable=bool(f.get("updateable", True)),
        )
    return out


def _settings(
    instance_url: str,
    api_version: str,
    session_id: str | None,
    auth: SalesforceAuth | AuthSettings | None,
) -> AuthSettings:
    if isinstance(auth, AuthSettings):
        return auth
    if auth is None:
        if session_id is None:
            raise Fatal("Salesforce connector needs a session id or an auth block", code="CONFIG")
        return AuthSettings("session", instance_url, api_version, session_id=session_id)
    return AuthSettings(
        method=auth.method,
        instance_url=instance_url,
        api_version=api_version,
        session_id=auth.session_id,
        client_id=auth.client_id,
        client_secret=auth.client_secret,
        username=auth.username,
        private_key=auth.private_key,
        domain=auth.domain,
    )

"""The connector contract and discovery through the ``b2sync.connectors`` entry points.

A connector owns its API's quirks (auth, paging, limits, error codes) and nothing else: no
mapping, no state, no audit. Metadata are class attributes so the engine can plan before it
opens a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import metadata
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

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

__all__ = [
    "ENTRY_POINT_GROUP",
    "Connector",
    "ConsentFact",
    "ConsentPage",
    "ConsentWrite",
    "EmailEngagement",
    "SecretResolver",
    "SupportsActions",
    "SupportsAssociations",
    "SupportsChangeSources",
    "SupportsConsent",
    "SupportsCreate",
    "SupportsEngagement",
    "SupportsFetch",
    "SupportsIdentity",
    "SupportsMembers",
    "SupportsTouchpoints",
    "TaskSpec",
    "Touchpoint",
    "UnknownConnector",
    "available",
    "load",
]

ENTRY_POINT_GROUP = "b2sync.connectors"

#: Resolves ``${ENV}`` / ``${file:...}`` references (and returns literals unchanged).
SecretResolver = Callable[[str], str]


@runtime_checkable
class Connector(Protocol):
    """What every connector provides. ``stream`` is a B2Connect stream or a CRM object name."""

    name: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    capabilities: ClassVar[frozenset[Capability]]

    @classmethod
    def from_config(cls, config: Any, *, secrets: SecretResolver, **options: Any) -> Connector:
        """Build a connector from its validated connection config; ``options`` are
        runtime knobs the config does not carry (waiters, poll intervals, clocks)."""
        ...

    def check(self) -> list[str]:
        """Problems that would stop a sync (auth, missing fields/properties); empty if ready."""
        ...

    def read_changes(self, stream: str, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        """Changes since ``cursor`` (None: everything), page by page, each with its cursor."""
        ...

    def write(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        """Upsert ``batch`` keyed on the B2Connect id; one result per item, in order."""
        ...

    def delete(self, stream: str, keys: Sequence[str]) -> list[WriteResult]:
        """Delete (archive/recycle) records by B2Connect key."""
        ...

    def erase(self, subject: Subject) -> ErasureResult:
        """Permanently remove a person (GDPR Art. 17)."""
        ...

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        """Identity resolution: ids of existing records whose ``field`` equals each value
        (all candidates; keys lower-cased for case-insensitive fields such as email)."""
        ...

    def describe(self, stream: str) -> StreamSchema:
        """Fields that exist, with types and lengths."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class SupportsAssociations(Protocol):
    """Connectors with :attr:`Capability.ASSOCIATIONS` (HubSpot) also provide this."""

    def associate(
        self, from_object: str, to_object: str, pairs: Sequence[tuple[str, str]], type_id: int
    ) -> list[WriteResult]:
        """Associate (from id, to id) pairs; one result per pair keyed by the from id."""
        ...


@runtime_checkable
class SupportsFetch(Protocol):
    """Connectors that read the current state of records by key (B2Connect)."""

    def fetch(self, stream: str, keys: Sequence[str]) -> dict[str, Record]:
        """The live records among ``keys``; deleted or unknown ones are left out."""
        ...


@runtime_checkable
class SupportsCreate(Protocol):
    """Connectors that create records another system asked for (B2Connect customers and
    companies a CRM user marked for the shop)."""

    def create(self, stream: str, batch: Sequence[WriteItem]) -> list[WriteResult]:
        """Create each item (its ``key`` is the caller's reference); a result's ``crm_id`` is
        the new record's id, or with ``created=False`` the id of the live record that already
        holds the item's identity (email, VAT id)."""
        ...


@runtime_checkable
class SupportsIdentity(Protocol):
    """Connectors that know which user their writes are stamped with (Salesforce)."""

    def integration_user(self) -> str | None:
        """The id of the user b2sync writes as, or None if the system cannot tell."""
        ...


@runtime_checkable
class SupportsMembers(Protocol):
    """CRM connectors that read the contacts of companies (Salesforce Account → Contact,
    HubSpot company → associated contacts)."""

    def members(
        self,
        company_object: str,
        company_ids: Sequence[str],
        contact_object: str,
        fields: Sequence[str],
    ) -> dict[str, list[Record]]:
        """Company id -> its live contacts, each with ``fields`` (and its own id as key)."""


@runtime_checkable
class SupportsChangeSources(Protocol):
    """CRM connectors that can say who changed a record's properties (HubSpot's property
    history; Salesforce needs none: ``Record.modified_by`` is ``LastModifiedById``)."""

    def change_sources(
        self, stream: str, ids: Sequence[str], properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Per record id, who set the newest value of the given properties:
        ``{"user_id": ..., "source_type": ..., "source_id": ...}`` (absent: unknown)."""
        ...


@dataclass(frozen=True, slots=True)
class ConsentFact:
    """One consent status as a system holds it (``status``: granted, withdrawn, unknown).

    ``implicit`` marks a default rather than a decision (a Salesforce opt-out checkbox that
    was never ticked); ``ref`` is the system's record id.
    """

    channel: str
    purpose: str
    status: str
    decided_at: datetime | None
    email: str | None = None
    customer_id: str | None = None
    legal_basis: str | None = None
    wording_version: str | None = None
    implicit: bool = False
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentPage:
    """Consent facts read in one step and the cursor to resume after them."""

    facts: Sequence[ConsentFact]
    cursor: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ConsentWrite:
    """A decision to apply in a system; ``key`` names it in the :class:`WriteResult`."""

    key: str
    channel: str
    purpose: str
    status: str
    decided_at: datetime
    email: str | None = None
    customer_id: str | None = None
    ref: str | None = None
    legal_basis: str | None = None
    wording_version: str | None = None
    source_system: str = "b2sync"


@runtime_checkable
class SupportsConsent(Protocol):
    """Connectors that read and write consent; ``mapping`` is the system's part of the
    ``consent:`` config section (None for B2Connect, whose vocabulary is the canonical one)."""

    def read_consents(
        self, mapping: Any, cursor: Mapping[str, Any] | None
    ) -> Iterator[ConsentPage]:
        """Consent facts changed since ``cursor``, step by step."""
        ...

    def write_consents(self, mapping: Any, writes: Sequence[ConsentWrite]) -> list[WriteResult]:
        """Apply decisions; one result per write, keyed by ``ConsentWrite.key``."""
        ...


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A to-do for a person in the CRM, attached to one contact (workflow rules)."""

    subject: str
    body: str | None = None
    #: "low", "medium" or "high"
    priority: str = "medium"
    due: date | None = None


@runtime_checkable
class SupportsActions(Protocol):
    """CRM connectors that can run workflow-rule actions (HubSpot, Salesforce)."""

    def resolve_list(self, ref: str) -> str | None:
        """The id of a list / campaign given its id or its name (None: no such list)."""
        ...

    def add_to_list(self, list_id: str, crm_ids: Sequence[str]) -> list[WriteResult]:
        """Add contacts (CRM ids) to a static list / campaign; one result per id."""
        ...

    def create_task(self, crm_id: str, task: TaskSpec) -> WriteResult:
        """Create a task for the contact's owner, attached to the contact ``crm_id``."""
        ...


@dataclass(frozen=True, slots=True)
class EmailEngagement:
    """A contact's marketing-email counters as the CRM keeps them (lifetime totals)."""

    opens: int = 0
    clicks: int = 0
    delivered: int = 0
    last_open_at: datetime | None = None
    last_click_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Touchpoint:
    """A contact's support ticket (HubSpot ticket, Salesforce Case) or NPS answer, as counts
    and dates only: no subject, description or comment leaves the CRM."""

    kind: str
    """``ticket`` or ``nps``"""
    item_id: str
    created_at: datetime
    closed: bool = False
    """a ticket that is closed (always True for an answer)"""
    score: int | None = None
    """the NPS answer, 0..10"""


@runtime_checkable
class SupportsTouchpoints(Protocol):
    """CRM connectors that report support tickets and NPS answers per contact."""

    def read_touchpoints(self, stream: str, crm_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
        """``{CRM id: its tickets and answers}`` of the records ``crm_ids`` (none: left out)."""
        ...


@runtime_checkable
class SupportsEngagement(Protocol):
    """CRM connectors that report email engagement per contact (HubSpot)."""

    def read_engagement(self, stream: str, crm_ids: Sequence[str]) -> dict[str, EmailEngagement]:
        """The counters of the records ``crm_ids`` (missing ones left out)."""
        ...


class UnknownConnector(LookupError):
    """No connector of that name is installed."""


def available() -> dict[str, metadata.EntryPoint]:
    """Installed connectors by name (built-ins are registered the same way)."""
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


#: connector classes loaded so far, by name: scanning the installed distributions' entry
#: points takes ~50 ms, and a worker builds connectors for every tenant it serves
_LOADED: dict[str, type[Connector]] = {}


def load(name: str) -> type[Connector]:
    """The connector class registered as ``name``; the error lists the known names."""
    cls = _LOADED.get(name)
    if cls is not None:
        return cls
    found = available()
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise UnknownConnector(f"no connector named '{name}'; installed connectors: {known}")
    loaded: type[Connector] = found[name].load()
    _LOADED[name] = loaded
    return loaded

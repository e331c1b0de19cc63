"""The HubSpot connector: CRM v3 objects through hubspot-api-client, governed and batched."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Self

from pydantic import BaseModel

from connectors.base import (
    ConsentPage,
    ConsentWrite,
    EmailEngagement,
    SecretResolver,
    Touchpoint,
)
from connectors.budget import INITIAL_IN_FLIGHT
from connectors.errors import BudgetExhausted, Fatal, Retriable, display_url
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
from connectors.together import all_at_once
from mapping.config import HUBSPOT_CONCURRENCY, HubSpotConnection, HubSpotConsent

from ._actions import HubSpotActions
from ._api import HubSpotApi
from ._consent import ConsentApi, read_properties
from ._engagement import read_engagement
from ._errors import AuthFailed
from ._governor import RateGovernor, SharedBudget
from ._members import members
from ._ops import Operations
from ._properties import PropertyKeeper
from ._read import DEFAULT_OVERLAP_S, ChangeReader
from ._touchpoints import read_touchpoints
from ._types import BATCH_LIMIT, DEFAULT_ID_PROPERTY
from ._write import Upserter

__all__ = ["HubSpotConnector"]


ACCOUNT_DETAILS_PATH = "/account-info/v3/details"
ACCOUNT_DETAILS = f"GET {ACCOUNT_DETAILS_PATH}"


class HubSpotConnector(HubSpotActions):
    """Streams are HubSpot object types (``contacts``, ``companies``, ``deals``, ``orders``...).

    Writes upsert on a unique id property (``b2connect_id`` unless told otherwise) that is
    created on first write when missing; reads search the last-modified property.
    """

    name: ClassVar[str] = "hubspot"
    config_model: ClassVar[type[BaseModel]] = HubSpotConnection
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.WRITE,
            Capability.DELETE,
            Capability.ERASE,
            Capability.LOOKUP,
            Capability.ASSOCIATIONS,
        }
    )
    #: records per batch write call (the engine sends such batches concurrently)
    write_chunk: ClassVar[int] = BATCH_LIMIT
    #: contact ids per read-back batch call (engagement, tickets, NPS answers): the insights
    #: pass reads such pieces at once
    read_chunk: ClassVar[int] = BATCH_LIMIT

    def __init__(
        self,
        *,
        token: str,
        url: str = "https://api.hubapi.com",
        daily_share: float = 0.5,
        timeout_s: float = 30.0,
        id_property: str = DEFAULT_ID_PROPERTY,
        read_properties: Mapping[str, Sequence[str]] | None = None,
        objects: Sequence[str] = ("contacts",),
        overlap_s: float = DEFAULT_OVERLAP_S,
        read_deletes: bool = True,
        clock: Callable[[], float] = time.time,
        waiter: Callable[[float], Any] | None = None,
        search_per_second: int = 4,
        token_source: Callable[[], str] | None = None,
        shared_budget: SharedBudget | None = None,
        shared_search_budget: SharedBudget | None = None,
        concurrency: int = HUBSPOT_CONCURRENCY,
    ) -> None:
        self.url = url.rstrip("/")
        self.id_property = id_property
        self.read_properties: dict[str, list[str]] = {
            k: list(v) for k, v in (read_properties or {}).items()
        }
        self.objects = tuple(objects)
        self.governor = RateGovernor(
            daily_share=daily_share,
            clock=clock,
            waiter=waiter,
            search_per_second=search_per_second,
            zone_source=self._portal_time_zone,
            shared=shared_budget,
            shared_search=shared_search_budget,
            max_in_flight=min(INITIAL_IN_FLIGHT, concurrency),
            max_in_flight_cap=concurrency,
        )
        self.api = HubSpotApi(
            url=self.url,
            token=token,
            governor=self.governor,
            timeout_s=timeout_s,
            token_source=token_source,
            pool_size=concurrency,
        )
        self.calls: Counter[str] = self.api.calls
        self._keeper = PropertyKeeper(self.api)
        self._upserter = Upserter(self.api, self._keeper)
        self._reader = ChangeReader(
            self.api, clock=clock, overlap_s=overlap_s, read_deletes=read_deletes
        )
        self._ops = Operations(self.api)
        self._consent = ConsentApi(self.api)

    def _portal_time_zone(self) -> str | None:
        """The portal's ``timeZone`` (``GET /account-info/v3/details``), for the daily reset."""

        def fetch(**_: Any) -> tuple[Any, int, Any]:
            resp = self.api.client.api_request({"method": "GET", "path": ACCOUNT_DETAILS_PATH})
            if resp.status_code != 200:
                raise RuntimeError(f"account details answered {resp.status_code}")
            return resp.json(), resp.status_code, resp.headers

        data, _ = self.api.call(ACCOUNT_DETAILS, fetch)
        zone = data.get("timeZone") if isinstance(data, dict) else None
        return str(zone) if zone else None

    @classmethod
    def from_config(cls, config: Any, *, secrets: SecretResolver, **options: Any) -> Self:
        """Build from a :class:`HubSpotConnection`; ``options`` go to the constructor."""
        conn = config if isinstance(config, HubSpotConnection) else HubSpotConnection(**config)
        return cls(
            url=secrets(conn.url),
            token=secrets(conn.token),
            daily_share=conn.daily_share,
            timeout_s=conn.timeout_s,
            token_source=lambda: secrets(conn.token),
            **{"overlap_s": conn.search_overlap_s, "concurrency": conn.concurrency, **options},
        )

    # ---- readiness

    def check(self, objects: Sequence[str] | None = None) -> list[str]:
        """Token, reachability and the unique id property of each object b2sync writes."""
        problems: list[str] = []
        for stream in objects or self.objects:
            try:
                problem = self._keeper.problem(stream, self.id_property)
            except BudgetExhausted as exc:
                return [*problems, exc.message]
            except Retriable as exc:
                return [
                    *problems,
                    f"{exc.message}; check the connection url ({display_url(self.url)})",
                ]
            except AuthFailed as exc:
                return [*problems, exc.message]
            except Fatal as exc:
                problems.append(exc.message)
                continue
            if problem:
                problems.append(problem)
        return problems

    def describe(self, stream: str) -> StreamSchema:
        """The object's properties with types, uniqueness and text limits."""
        return self._keeper.describe(stream)

    # ---- reads

    def read_changes(
        self,
        stream: str,
        cursor: Mapping[str, Any] | None,
        *,
        properties: Sequence[str] | None = None,
    ) -> Iterator[Page]:
        """Changed records since ``cursor`` (then archived ones as ``deleted``), page by page."""
        wanted = list(
            properties if properties is not None else self.read_properties.get(stream, [])
        )
        wanted.append(self.id_property)
        return self._reader.read(stream, cursor, wanted)

    def members(
        self,
        company_object: str,
        company_ids: Sequence[str],
        contact_object: str,
        fields: Sequence[str],
    ) -> dict[str, list[Record]]:
        """Each company's live associated contacts with ``fields`` (v4 associations)."""
        return members(self.api, company_object, company_ids, contact_object, fields)

    def change_sources(
        self, stream: str, ids: Sequence[str], properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Who changed the properties last (property history: user id, source type/id)."""
        return self._ops.change_sources(stream, ids, properties)

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        """Ids of existing records whose ``field`` equals each value (keys lower-cased)."""
        return self._ops.lookup(stream, field, values)

    # ---- writes

    def prepare_writes(self, objects: Sequence[tuple[str, str | None]]) -> None:
        """Check (create when missing) the id property of every (object, id property) at
        once, as the first write of each would one after another; the writes then find them
        checked. The first error is raised once all checks are done."""
        ensure = self._keeper.ensure
        pairs = list(dict.fromkeys((obj, prop or self.id_property) for obj, prop in objects))
        all_at_once(lambda pair: ensure(*pair), pairs, "hubspot-prepare")

    def write(
        self, stream: str, batch: Sequence[WriteItem], *, id_property: str | None = None
    ) -> list[WriteResult]:
        """Batch upsert on the id property; one result per item, in order."""
        return self._upserter.write(stream, batch, id_property or self.id_property)

    def delete(
        self, stream: str, keys: Sequence[str], *, id_property: str | None = None
    ) -> list[WriteResult]:
        """Archive (restorable for 90 days) the records holding ``keys`` in the id property."""
        return self._ops.delete(stream, keys, id_property or self.id_property)

    def associate(
        self,
        from_object: str,
        to_object: str,
        pairs: Sequence[tuple[str, str]],
        type_id: int,
    ) -> list[WriteResult]:
        """Associate (from id, to id) pairs with a HUBSPOT_DEFINED type (see ``_types``)."""
        return self._ops.associate(from_object, to_object, pairs, type_id)

    # ---- consent (communication preferences)

    def read_consents(
        self, mapping: HubSpotConsent, cursor: Mapping[str, Any] | None
    ) -> Iterator[ConsentPage]:
        """Subscription statuses of the contacts changed since ``cursor``."""
        pages = self.read_changes("contacts", cursor, properties=read_properties(mapping))
        return self._consent.contacts(pages, mapping)

    def write_consents(
        self, mapping: HubSpotConsent, writes: Sequence[ConsentWrite]
    ) -> list[WriteResult]:
        """Set subscription statuses (v4, or v3 which cannot resubscribe) of existing contacts."""
        emails = [w.email for w in writes if w.email]
        known = {k for k, ids in self.lookup("contacts", "email", emails).items() if ids}
        return self._consent.write(mapping, writes, known)

    # ---- email engagement (read back for the insights' lead score and report)

    def read_engagement(self, stream: str, crm_ids: Sequence[str]) -> dict[str, EmailEngagement]:
        """Marketing-email counters of the contacts ``crm_ids`` (batch read, 100 per call)."""
        return read_engagement(self.api, stream, crm_ids)

    def read_touchpoints(self, stream: str, crm_ids: Sequence[str]) -> dict[str, list[Touchpoint]]:
        """Tickets and NPS answers (feedback submissions) associated with the contacts."""
        return read_touchpoints(self.api, stream, crm_ids)

    def erase(self, subject: Subject) -> ErasureResult:
        """GDPR delete of the contact (permanent; HubSpot blocklists the email)."""
        return self._ops.erase(subject)

    def close(self) -> None:
        """Release the connection pools."""
        self.api.close()

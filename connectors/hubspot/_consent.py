"""Consent in HubSpot: communication preferences (subscription types) through ``api_request``.

Reading: contacts changed since the cursor (the ``hs_email_optout*`` properties move
``lastmodifieddate`` when a subscription changes), then each one's statuses. The v4 statuses
carry the time of the decision; v3 has none, so the contact's modification time stands in.

Writing: v4 ``POST /statuses/{email}`` can resubscribe someone who opted out; v3
``subscribe`` cannot, and that refusal comes back as a ``CANNOT_RESUBSCRIBE`` failure with the
reason. A write for an email HubSpot has no contact for is not sent (HubSpot would create a
contact): it fails with ``NOT_IN_CRM``. Neither API client wraps v4, so every call here goes
through ``client.api_request``, governed and counted like the generated calls.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
import structlog

from connectors.base import ConsentFact, ConsentPage, ConsentWrite
from connectors.errors import Fatal, Retriable, display_url
from connectors.records import WriteResult
from mapping import normalise_email
from mapping.config import HubSpotConsent

from ._api import HubSpotApi
from ._errors import ErrorBody, HubSpotApiError, parse_body, translate
from ._values import from_epoch_ms, parse_ts
from ._write import failure_from

__all__ = ["ConsentApi", "from_hubspot_basis", "to_hubspot_basis"]

log = structlog.get_logger(__name__)

V4_STATUSES = "/communication-preferences/v4/statuses/{email}"
V4_BATCH_READ = "/communication-preferences/v4/statuses/batch/read"
V4_BATCH_WRITE = "/communication-preferences/v4/statuses/batch/write"
BATCH_SIZE = 100
#: contacts per consent page where each one costs a status call (v3, or v4 without batch read):
#: a page is the caller's unit of work (and of holding the connection), so it stays short
SINGLE_READS_PER_PAGE = 1
V3_STATUS = "/communication-preferences/v3/status/email/{email}"
V3_SUBSCRIBE = "/communication-preferences/v3/subscribe"
V3_UNSUBSCRIBE = "/communication-preferences/v3/unsubscribe"

_TO_HUBSPOT = {
    "consent": "CONSENT_WITH_NOTICE",
    "contract": "PERFORMANCE_OF_CONTRACT",
    "legitimate_interest": "LEGITIMATE_INTEREST_OTHER",
    "legal_obligation": "LEGITIMATE_INTEREST_OTHER",
}
_FROM_HUBSPOT = {
    "CONSENT_WITH_NOTICE": "consent",
    "PROCESS_AND_STORE": "consent",
    "PERFORMANCE_OF_CONTRACT": "contract",
    "LEGITIMATE_INTEREST_PQL": "legitimate_interest",
    "LEGITIMATE_INTEREST_CLIENT": "legitimate_interest",
    "LEGITIMATE_INTEREST_OTHER": "legitimate_interest",
}
_V4_STATUS = {"SUBSCRIBED": "granted", "UNSUBSCRIBED": "withdrawn", "NOT_SPECIFIED": "unknown"}
#: (subscription id, status, decided at, HubSpot legal basis)
Row = tuple[int, str, datetime | None, Any]


def to_hubspot_basis(basis: str | None) -> str:
    """HubSpot's legal-basis value for ours (consent when unknown)."""
    return _TO_HUBSPOT.get(basis or "consent", "CONSENT_WITH_NOTICE")


def from_hubspot_basis(basis: Any) -> str | None:
    """Our legal-basis value for HubSpot's (None for NON_GDPR or none)."""
    return _FROM_HUBSPOT.get(str(basis)) if basis else None


def _path(template: str, email: str) -> str:
    return template.replace("{email}", quote(email, safe="@+"))


class ConsentApi:
    """Reads and writes subscription statuses of one portal."""

    def __init__(self, api: HubSpotApi) -> None:
        self.api = api

    # ---- raw calls

    def request(
        self,
        method: str,
        template: str,
        path: str,
        *,
        body: Any = None,
        qs: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One governed, counted ``api_request``; raises for 401/403/429/5xx and transport."""
        key = f"{method} {template}"
        with self.api.governor.slot():
            self.api.calls[key] += 1
            options: dict[str, Any] = {"method": method, "path": path}
            if body is not None:
                options["body"] = body
            if qs:
                options["qs"] = dict(qs)
            started = time.monotonic()
            try:
                resp: requests.Response = self.api.client.api_request(options)
            except requests.RequestException as exc:
                raise Retriable(
                    f"HubSpot at {display_url(self.api.url)} could not be reached for {key} ({type(exc).__name__})",
                    code="CONNECTION",
                ) from exc
            headers = dict(resp.headers)
            status = resp.status_code
            if status != 429:
                self.api.governor.observe(headers, status, time.monotonic() - started)
        data = _json(resp)
        if status >= 400:
            err = HubSpotApiError(status, parse_body(data), key)
            translated = translate(err, headers, self.api.governor)
            if translated is not None:
                raise translated
            raise err
        return status, data

    # ---- reading

    def facts(
        self,
        mapping: HubSpotConsent,
        contact: Mapping[str, Any],
        modified: datetime | None,
        prefetched: Mapping[str, list[Row]] | None = None,
    ) -> list[ConsentFact]:
        """The consent facts of one contact (``contact`` holds its properties and id)."""
        email = normalise_email(str(contact.get("email") or ""))
        if not email:
            return []
        customer = contact.get("b2connect_id") or None
        wanted = {s.subscription_id: s for s in mapping.subscriptions}
        if prefetched is not None:
            rows = prefetched.get(email, [])
        elif mapping.api == "v4":
            rows = self._v4_statuses(email)
        else:
            rows = self._v3_statuses(email, contact, modified)
        out = []
        for sid, status, when, basis in rows:
            sub = wanted.get(sid)
            if sub is None:
                continue
            out.append(
                ConsentFact(
                    channel=sub.channel,
                    purpose=sub.purpose,
                    status=status,
                    decided_at=when or modified,
                    email=email,
                    customer_id=str(customer) if customer else None,
                    legal_basis=from_hubspot_basis(basis),
                    ref=str(contact.get("hs_object_id") or "") or None,
                )
            )
        return out

    def _v4_batch(self, emails: list[str]) -> dict[str, list[Row]] | None:
        """Statuses of up to 100 emails in one call; None where the portal has no batch API."""
        try:
            _, data = self.request(
                "POST",
                V4_BATCH_READ,
                V4_BATCH_READ,
                body={"inputs": emails},
                qs={"channel": "EMAIL"},
            )
        except Fatal as exc:  # 403 (batch needs Marketing Hub Enterprise) or 404
            if isinstance(exc, HubSpotApiError) and exc.status not in (403, 404):
                raise
            log.info("hubspot.consent_batch_unavailable", code=exc.code)
            return None
        out: dict[str, list[Row]] = {}
        for item in data.get("results") or []:
            if isinstance(item, dict) and item.get("subscriberIdString"):
                key = str(item["subscriberIdString"]).strip().lower()
                out[key] = _v4_rows(item.get("statuses") or [])
        return out

    def _v4_statuses(self, email: str) -> list[Row]:
        try:
            _, data = self.request(
                "GET", V4_STATUSES, _path(V4_STATUSES, email), qs={"channel": "EMAIL"}
            )
        except HubSpotApiError as err:
            log.warning("hubspot.consent_read_refused", status=err.status)
            return []
        return _v4_rows(data.get("results") or [])

    def _v3_statuses(
        self, email: str, contact: Mapping[str, Any], modified: datetime | None
    ) -> list[Row]:
        try:
            _, data = self.request("GET", V3_STATUS, _path(V3_STATUS, email))
        except HubSpotApiError as err:
            log.warning("hubspot.consent_read_refused", status=err.status)
            return []
        wide = str(contact.get("hs_email_optout") or "").lower() == "true"
        rows = []
        for row in data.get("subscriptionStatuses") or []:
            if not isinstance(row, dict) or row.get("id") is None:
                continue
            sid = int(str(row["id"]))
            if row.get("status") == "SUBSCRIBED":
                status = "granted"
            elif wide or str(contact.get(f"hs_email_optout_{sid}") or "").lower() == "true":
                status = "withdrawn"
            else:
                status = "unknown"
            rows.append((sid, status, modified, row.get("legalBasis")))
        return rows

    # ---- writing

    def write(
        self, mapping: HubSpotConsent, writes: Sequence[ConsentWrite], known: set[str]
    ) -> list[WriteResult]:
        """Apply each decision; ``known`` are the lower-cased emails HubSpot has contacts for."""
        subs: dict[tuple[str, str], int] = {
            (s.channel, s.purpose): s.subscription_id for s in mapping.subscriptions
        }
        api = mapping.api
        ready: list[tuple[ConsentWrite, str, int]] = []
        refused: dict[str, WriteResult] = {}
        for write in writes:
            sid = subs.get((write.channel, write.purpose))
            email = normalise_email(write.email or "")
            if sid is None:
                refused[write.key] = _fail(
                    write, "NOT_MAPPED", "no HubSpot subscription for this purpose"
                )
            elif not email:
                refused[write.key] = _fail(
                    write, "NO_EMAIL", "HubSpot subscriptions need the email"
                )
            elif email not in known:
                refused[write.key] = _fail(
                    write, "NOT_IN_CRM", "HubSpot has no contact with this email"
                )
            elif write.status not in ("granted", "withdrawn"):
                refused[write.key] = _fail(write, "NOT_A_DECISION", f"status {write.status}")
            else:
                ready.append((write, email, sid))
        done: dict[str, WriteResult] = {}
        if api == "v4" and ready:
            batched = self._write_v4_batches(mapping, ready)
            if batched is not None:
                done, ready = batched, []
        for write, email, sid in ready:
            if api == "v4":
                try:
                    done[write.key] = self._write_v4(mapping, write, email, sid)
                except Fatal as exc:
                    if exc.code not in ("MISSING_SCOPES", "NOT_FOUND", "404"):
                        raise
                    log.warning("hubspot.consent_v4_unavailable", code=exc.code)
                    api = "v3"  # this portal has no v4: fall back for the rest of the batch
                    done[write.key] = self._write_v3(mapping, write, email, sid)
            else:
                done[write.key] = self._write_v3(mapping, write, email, sid)
        out = [refused.get(w.key) or done[w.key] for w in writes]
        failed = sum(1 for r in out if not r.ok)
        log.info("hubspot.consents_written", writes=len(writes), failed=failed, api=api)
        return out

    def _write_v4_batches(
        self, mapping: HubSpotConsent, ready: Sequence[tuple[ConsentWrite, str, int]]
    ) -> dict[str, WriteResult] | None:
        """v4 ``statuses/batch/write``, 100 statuses per call; None where the portal has no
        batch API (403: it needs Marketing Hub Enterprise; 404), so each is written alone."""
        out: dict[str, WriteResult] = {}
        for start in range(0, len(ready), BATCH_SIZE):
            chunk = ready[start : start + BATCH_SIZE]
            inputs = [
                {"subscriberIdString": email, **_v4_status_body(mapping, write, sid)}
                for write, email, sid in chunk
            ]
            try:
                _, data = self.request(
                    "POST", V4_BATCH_WRITE, V4_BATCH_WRITE, body={"inputs": inputs}
                )
            except Fatal as exc:
                unavailable = isinstance(exc, HubSpotApiError) and exc.status in (403, 404)
                if not unavailable or out:
                    raise
                log.info("hubspot.consent_batch_write_unavailable", code=exc.code)
                return None
            written = {
                (
                    str(row.get("subscriberIdString") or "").strip().lower(),
                    row.get("subscriptionId"),
                )
                for row in data.get("results") or []
                if isinstance(row, dict)
            }
            refused = _batch_errors(data)
            for write, email, sid in chunk:
                if (email, sid) in written:
                    out[write.key] = WriteResult.success(write.key, write.ref)
                elif email in refused:  # a 207: transient categories are tried again
                    error = failure_from(write.key, 207, refused[email]).error
                    assert error is not None
                    out[write.key] = _fail(write, error.code, error.message, error.retriable)
                else:
                    message = "HubSpot returned no outcome for this status"
                    out[write.key] = _fail(write, "NO_RESULT", message, retriable=True)
        return out

    def _write_v4(
        self, mapping: HubSpotConsent, write: ConsentWrite, email: str, sid: int
    ) -> WriteResult:
        body = _v4_status_body(mapping, write, sid)
        try:
            self.request("POST", V4_STATUSES, _path(V4_STATUSES, email), body=body)
        except HubSpotApiError as err:
            if err.status == 404:
                raise Fatal("HubSpot has no v4 statuses API here", code="NOT_FOUND") from err
            return _fail(write, err.body.category or str(err.status), err.body.message)
        return WriteResult.success(write.key, write.ref)

    def _write_v3(
        self, mapping: HubSpotConsent, write: ConsentWrite, email: str, sid: int
    ) -> WriteResult:
        body = {
            "emailAddress": email,
            "subscriptionId": str(sid),
            "legalBasis": to_hubspot_basis(write.legal_basis),
            "legalBasisExplanation": mapping.legal_basis_explanation,
        }
        granted = write.status == "granted"
        template = V3_SUBSCRIBE if granted else V3_UNSUBSCRIBE
        try:
            self.request("POST", template, template, body=body)
        except HubSpotApiError as err:
            message = err.body.message.lower()
            if "already" in message or (not granted and "opted out of all" in message):
                return WriteResult.success(write.key, write.ref)
            if granted and ("resubscribe" in message or "opted out" in message):
                return _fail(
                    write,
                    "CANNOT_RESUBSCRIBE",
                    "HubSpot's v3 API cannot resubscribe a contact who opted out; the person "
                    "must resubscribe in HubSpot, or set consent.hubspot.api: v4",
                )
            return _fail(write, err.body.category or str(err.status), err.body.message)
        return WriteResult.success(write.key, write.ref)

    def contacts(self, pages: Iterator[Any], mapping: HubSpotConsent) -> Iterator[ConsentPage]:
        """Consent pages from pages of changed contacts (v4: 100 contacts per status read)."""
        batch = mapping.api == "v4"
        for page in pages:
            live = [r for r in page.records if not r.deleted]
            prefetched: dict[str, list[Row]] | None = None
            if batch:
                emails = sorted(
                    {normalise_email(str(r.fields.get("email") or "")) for r in live} - {""}
                )
                prefetched = {}
                for start in range(0, len(emails), BATCH_SIZE):
                    found = self._v4_batch(emails[start : start + BATCH_SIZE])
                    if found is None:
                        batch, prefetched = False, None
                        break
                    prefetched.update(found)
            size = max(1, len(live)) if prefetched is not None else SINGLE_READS_PER_PAGE
            chunks = [live[i : i + size] for i in range(0, len(live), size)] or [[]]
            for n, chunk in enumerate(chunks, 1):
                facts: list[ConsentFact] = []
                for record in chunk:
                    props = {**record.fields, "hs_object_id": record.key}
                    facts.extend(self.facts(mapping, props, record.updated_at, prefetched))
                last = n == len(chunks)  # the cursor moves once the whole page is read
                yield ConsentPage(facts, dict(page.cursor) if last and page.cursor else None)


def _v4_status_body(mapping: HubSpotConsent, write: ConsentWrite, sid: int) -> dict[str, Any]:
    """A v4 status write (the body of ``POST statuses/{email}``, an input of batch/write)."""
    return {
        "channel": "EMAIL",
        "subscriptionId": sid,
        "statusState": "SUBSCRIBED" if write.status == "granted" else "UNSUBSCRIBED",
        "legalBasis": to_hubspot_basis(write.legal_basis),
        "legalBasisExplanation": mapping.legal_basis_explanation,
    }


def _batch_errors(data: Mapping[str, Any]) -> dict[str, ErrorBody]:
    """The error of each lower-cased email of a 207 body's ``errors``."""
    out: dict[str, ErrorBody] = {}
    for err in data.get("errors") or []:
        if not isinstance(err, dict):
            continue
        for email in (err.get("context") or {}).get("ids") or []:
            out[str(email).strip().lower()] = parse_body(err)
    return out


def _v4_rows(results: list[Any]) -> list[Row]:
    """(subscription id, status, decided at, legal basis) of v4 ``PublicStatus`` rows."""
    rows: list[Row] = []
    for row in results:
        if not isinstance(row, dict) or row.get("subscriptionId") is None:
            continue
        status = _V4_STATUS.get(str(row.get("status")), "unknown")
        ms = parse_ts(row.get("timestamp"))
        when = from_epoch_ms(ms) if ms is not None else None
        rows.append((int(row["subscriptionId"]), status, when, row.get("legalBasis")))
    return rows


def _fail(write: ConsentWrite, code: str, message: str, retriable: bool = False) -> WriteResult:
    """A failure whose message never quotes the email (HubSpot's messages do)."""
    if write.email:
        message = re.sub(re.escape(write.email.strip()), "<email>", message, flags=re.IGNORECASE)
    return WriteResult.failure(write.key, code, message, retriable=retriable)


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_properties(mapping: HubSpotConsent) -> list[str]:
    """Contact properties a consent read needs."""
    subs = [f"hs_email_optout_{s.subscription_id}" for s in mapping.subscriptions]
    return ["email", "hs_email_optout", *subs]

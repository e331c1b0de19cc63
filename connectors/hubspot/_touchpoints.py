"""Support tickets and NPS answers of contacts: HubSpot tickets and feedback submissions.

Per 100 contacts: ``POST /crm/v4/associations/contacts/{tickets,feedback_submissions}/batch/read``
(the associated ids, paged per contact with ``after``), then ``POST /crm/v3/objects/{type}/
batch/read`` with only the properties needed: a ticket's ``hs_pipeline_stage``,
``closed_date`` and ``createdate``; a submission's ``hs_survey_type``, ``hs_value`` and
``hs_submission_timestamp`` (NPS surveys only). Subjects, descriptions and comments are never
read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import Touchpoint
from connectors.errors import Fatal

from ._api import HubSpotApi
from ._engagement import batch_rows, moment
from ._errors import HubSpotApiError
from ._types import BATCH_LIMIT

__all__ = ["read_touchpoints"]

ASSOC_READ = "POST /crm/v4/associations/{from_type}/{to_type}/batch/read"
TICKET_PROPERTIES = ("hs_pipeline_stage", "closed_date", "createdate")
FEEDBACK_PROPERTIES = ("hs_survey_type", "hs_value", "hs_submission_timestamp")


def _refused(what: str, err: HubSpotApiError) -> Fatal:
    return Fatal(
        f"HubSpot refused to read {what} ({err.status}: {err.body.message})",
        code=err.body.category or str(err.status),
    )


def _associated(api: HubSpotApi, stream: str, to: str, ids: list[str]) -> dict[str, list[str]]:
    """``{contact id: associated ids}`` (contacts without any left out)."""
    out: dict[str, list[str]] = {}
    pending = [{"id": i} for i in ids]
    while pending:
        try:
            read = api.associations.get_page_with_http_info
            data, _ = api.call(ASSOC_READ, read, stream, to, {"inputs": pending})
        except HubSpotApiError as err:
            raise _refused(f"the {to} of {stream}", err) from err
        pending = []
        for row in getattr(data, "results", None) or []:
            source = str(row._from.id)
            out.setdefault(source, []).extend(str(t.to_object_id) for t in row.to or [])
            after = (
                getattr(getattr(row.paging, "next", None), "after", None) if row.paging else None
            )
            if after:
                pending.append({"id": source, "after": after})
    return out


def _read(api: HubSpotApi, object_type: str, ids: list[str], props: Sequence[str]) -> list[Any]:
    return list(
        batch_rows(api, object_type, ids, props, lambda e: _refused(object_type, e), raw=False)
    )


def _ticket(row: Any) -> Touchpoint | None:
    props = dict(row.properties or {})
    created = moment(props.get("createdate"))
    if created is None:
        return None
    closed = bool(props.get("closed_date")) or props.get("hs_pipeline_stage") == "4"
    return Touchpoint("ticket", str(row.id), created, closed=closed)


def _answer(row: Any) -> Touchpoint | None:
    props = dict(row.properties or {})
    if str(props.get("hs_survey_type") or "").upper() != "NPS":
        return None
    created = moment(props.get("hs_submission_timestamp"))
    try:
        score = round(float(str(props.get("hs_value"))))
    except ValueError:
        return None
    if created is None or not 0 <= score <= 10:
        return None
    return Touchpoint("nps", str(row.id), created, closed=True, score=score)


def read_touchpoints(
    api: HubSpotApi, stream: str, crm_ids: Sequence[str]
) -> dict[str, list[Touchpoint]]:
    """``{contact id: tickets and NPS answers}`` of the contacts among ``crm_ids`` that have any."""
    out: dict[str, list[Touchpoint]] = {}
    ids = list(dict.fromkeys(str(i) for i in crm_ids))
    kinds = (
        ("tickets", TICKET_PROPERTIES, _ticket),
        ("feedback_submissions", FEEDBACK_PROPERTIES, _answer),
    )
    for start in range(0, len(ids), BATCH_LIMIT):
        chunk = ids[start : start + BATCH_LIMIT]
        for object_type, props, parse in kinds:
            links = _associated(api, stream, object_type, chunk)
            targets = sorted({t for found in links.values() for t in found})
            items = {str(r.id): parse(r) for r in _read(api, object_type, targets, props)}
            for contact, found in links.items():
                points = [p for t in found if (p := items.get(t)) is not None]
                if points:
                    out.setdefault(contact, []).extend(points)
    return out

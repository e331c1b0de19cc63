"""Marketing-email engagement of contacts: HubSpot's read-only analytics properties.

``POST /crm/v3/objects/contacts/batch/read`` (100 ids per call) with only
``hs_email_delivered``, ``hs_email_open``, ``hs_email_click`` (lifetime counters) and
``hs_email_last_open_date``, ``hs_email_last_click_date``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.base import EmailEngagement
from connectors.errors import Fatal

from ._api import HubSpotApi
from ._errors import HubSpotApiError
from ._types import BATCH_LIMIT

__all__ = ["BATCH_READ", "ENGAGEMENT_PROPERTIES", "moment", "read_engagement"]

BATCH_READ = "POST /crm/v3/objects/{object_type}/batch/read"
ENGAGEMENT_PROPERTIES = (
    "hs_email_delivered",
    "hs_email_open",
    "hs_email_click",
    "hs_email_last_open_date",
    "hs_email_last_click_date",
)


def _count(raw: Any) -> int:
    try:
        return max(int(float(str(raw))), 0) if raw not in (None, "") else 0
    except ValueError:
        return 0


def moment(raw: Any) -> datetime | None:
    """A HubSpot date-time (epoch milliseconds or ISO 8601) as an aware datetime, or None."""
    if raw in (None, ""):
        return None
    text = str(raw)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _engagement(props: dict[str, Any]) -> EmailEngagement:
    return EmailEngagement(
        opens=_count(props.get("hs_email_open")),
        clicks=_count(props.get("hs_email_click")),
        delivered=_count(props.get("hs_email_delivered")),
        last_open_at=moment(props.get("hs_email_last_open_date")),
        last_click_at=moment(props.get("hs_email_last_click_date")),
    )


def batch_rows(
    api: HubSpotApi,
    object_type: str,
    ids: Sequence[str],
    props: Sequence[str],
    refused: Callable[[HubSpotApiError], Exception],
    *,
    raw: bool,
) -> Iterator[Any]:
    """The records among ``ids`` with ``props``, one batch read per :data:`BATCH_LIMIT` ids:
    JSON dicts when ``raw``, else the SDK's models; a refusal raises ``refused(err)``."""
    for start in range(0, len(ids), BATCH_LIMIT):
        body = {
            "inputs": [{"id": i} for i in ids[start : start + BATCH_LIMIT]],
            "properties": list(props),
            "propertiesWithHistory": [],
        }
        read = api.batch.read_with_http_info
        try:
            if raw:
                data, _ = api.call_json(BATCH_READ, read, object_type, body, archived=False)
                rows = data.get("results") or []
            else:
                model, _ = api.call(BATCH_READ, read, object_type, body, archived=False)
                rows = getattr(model, "results", None) or []
        except HubSpotApiError as err:
            raise refused(err) from err
        yield from rows


def read_engagement(
    api: HubSpotApi, stream: str, crm_ids: Sequence[str]
) -> dict[str, EmailEngagement]:
    """``{HubSpot id: counters}`` of the records that exist among ``crm_ids``."""
    out: dict[str, EmailEngagement] = {}
    ids = list(dict.fromkeys(str(i) for i in crm_ids))

    def refused(err: HubSpotApiError) -> Exception:
        return Fatal(
            f"HubSpot refused to read the email engagement of {stream} ({err.status}: "
            f"{err.body.message})",
            code=err.body.category or str(err.status),
        )

    for row in batch_rows(api, stream, ids, ENGAGEMENT_PROPERTIES, refused, raw=True):
        out[str(row["id"])] = _engagement(dict(row.get("properties") or {}))
    return out

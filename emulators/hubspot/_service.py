"""Service Hub objects: tickets (CRM object 0-5) and feedback submissions (0-19, read-only).

Tickets follow HubSpot's default support pipeline ``0`` with the stages ``1`` New, ``2``
Waiting on contact, ``3`` Waiting on us and ``4`` Closed; HubSpot sets ``closed_date`` when a
ticket enters a closed stage and clears it when it is reopened (:func:`derive_ticket`).
Feedback submissions are survey answers (NPS, CSAT, CES, custom) that HubSpot's survey tool
records: the API only reads them (developers.hubspot.com/docs/api/crm/feedback-submissions),
so every property is read-only and the emulator's admin API stands in for the survey tool.
"""

from __future__ import annotations

from typing import Any

from ._schema import PropertyDef, _opts, _p

__all__ = ["CLOSED_STAGES", "derive_ticket", "service_properties"]

PIPELINE = _opts(("0", "Support Pipeline"))
STAGES = _opts(("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed"))
CLOSED_STAGES = frozenset({"4"})
PRIORITY = _opts("LOW", "MEDIUM", "HIGH", "URGENT")
SURVEY_TYPES = _opts("NPS", "CSAT", "CES", "CUSTOM")
RESPONSE_GROUPS = _opts("PROMOTER", "PASSIVE", "DETRACTOR")


def _tickets() -> list[PropertyDef]:
    return [
        _p("subject", "Ticket name"),
        _p("content", "Ticket description", field_type="textarea"),
        _p("hs_pipeline", "Pipeline", "enumeration", options=PIPELINE),
        _p("hs_pipeline_stage", "Ticket status", "enumeration", options=STAGES),
        _p("hs_ticket_priority", "Priority", "enumeration", options=PRIORITY),
        _p("hs_ticket_category", "Category"),
        _p("hubspot_owner_id", "Ticket owner"),
        _p("closed_date", "Close date", "datetime", read_only=True, calculated=True),
    ]


def _feedback() -> list[PropertyDef]:
    kw: dict[str, Any] = {"read_only": True}
    return [
        _p("hs_survey_type", "Survey type", "enumeration", options=SURVEY_TYPES, **kw),
        _p("hs_survey_id", "Survey id", **kw),
        _p("hs_survey_name", "Survey name", **kw),
        _p("hs_survey_channel", "Survey channel", **kw),
        _p("hs_value", "Response value", "number", **kw),
        _p("hs_response_group", "Response group", "enumeration", options=RESPONSE_GROUPS, **kw),
        _p("hs_content", "Response", field_type="textarea", **kw),
        _p("hs_submission_timestamp", "Submitted at", "datetime", **kw),
        _p("hs_contact_id", "Contact id", **kw),
    ]


def service_properties(name: str) -> list[PropertyDef]:
    """The seeded properties of ``tickets`` or ``feedback_submissions``."""
    return _tickets() if name == "tickets" else _feedback()


def derive_ticket(props: dict[str, str], stamp: str) -> None:
    """``closed_date`` follows the stage: set on entering a closed stage, cleared on reopening;
    a ticket without a pipeline is in the default one."""
    props.setdefault("hs_pipeline", "0")
    if props.get("hs_pipeline_stage") in CLOSED_STAGES:
        props.setdefault("closed_date", stamp)
    else:
        props.pop("closed_date", None)

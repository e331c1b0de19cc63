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

__all__ = ["CLOSED_STAGES", "FEEDBACK_PROPERTIES", "TICKET_PROPERTIES", "derive_ticket"]

#: option lists as (value, label)
PIPELINE = (("0", "Support Pipeline"),)
STAGES = (("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed"))
CLOSED_STAGES = frozenset({"4"})
PRIORITY = tuple((v, v.title()) for v in ("LOW", "MEDIUM", "HIGH", "URGENT"))
SURVEY_TYPES = tuple((v, v) for v in ("NPS", "CSAT", "CES", "CUSTOM"))
RESPONSE_GROUPS = tuple((v, v.title()) for v in ("PROMOTER", "PASSIVE", "DETRACTOR"))

Spec = tuple[str, str, str, dict[str, Any]]
"""(name, label, kind, keyword arguments of the property definition)"""

TICKET_PROPERTIES: tuple[Spec, ...] = (
    ("subject", "Ticket name", "string", {}),
    ("content", "Ticket description", "string", {"field_type": "textarea"}),
    ("hs_pipeline", "Pipeline", "enumeration", {"options": PIPELINE}),
    ("hs_pipeline_stage", "Ticket status", "enumeration", {"options": STAGES}),
    ("hs_ticket_priority", "Priority", "enumeration", {"options": PRIORITY}),
    ("hs_ticket_category", "Category", "string", {}),
    ("hubspot_owner_id", "Ticket owner", "string", {}),
    ("closed_date", "Close date", "datetime", {"read_only": True, "calculated": True}),
)
_RO: dict[str, Any] = {"read_only": True}
FEEDBACK_PROPERTIES: tuple[Spec, ...] = (
    ("hs_survey_type", "Survey type", "enumeration", {"options": SURVEY_TYPES, **_RO}),
    ("hs_survey_id", "Survey id", "string", _RO),
    ("hs_survey_name", "Survey name", "string", _RO),
    ("hs_survey_channel", "Survey channel", "string", _RO),
    ("hs_value", "Response value", "number", _RO),
    ("hs_response_group", "Response group", "enumeration", {"options": RESPONSE_GROUPS, **_RO}),
    ("hs_content", "Response", "string", {"field_type": "textarea", **_RO}),
    ("hs_submission_timestamp", "Submitted at", "datetime", _RO),
    ("hs_contact_id", "Contact id", "string", _RO),
)


def derive_ticket(props: dict[str, str], stamp: str) -> None:
    """``closed_date`` follows the stage: set on entering a closed stage, cleared on reopening;
    a ticket without a pipeline is in the default one."""
    props.setdefault("hs_pipeline", "0")
    if props.get("hs_pipeline_stage") in CLOSED_STAGES:
        props.setdefault("closed_date", stamp)
    else:
        props.pop("closed_date", None)

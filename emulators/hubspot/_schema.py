"""Static HubSpot knowledge: object types and aliases, seeded properties, association types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from emulators._base import HttpError

from ._service import FEEDBACK_PROPERTIES, TICKET_PROPERTIES
from ._util import iso_ms


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type as the emulator serves it."""

    name: str  # canonical plural path name, e.g. "contacts"
    type_id: str  # "0-1"
    singular: str  # "contact"
    modified_prop: str  # "lastmodifieddate" or "hs_lastmodifieddate"
    created_prop: str  # "createdate" or "hs_createdate"
    defaults: tuple[str, ...]  # properties returned when none are asked for
    webhook_prefix: str  # "contact", or "object" for generic objects
    #: records only HubSpot's own tools create (feedback submissions): the API reads them
    read_only: bool = False

    @property
    def basics(self) -> tuple[str, ...]:
        """Properties HubSpot always returns."""
        return (self.created_prop, "hs_object_id", self.modified_prop)


OBJECT_TYPES: dict[str, ObjectType] = {
    t.name: t
    for t in (
        ObjectType(
            "contacts",
            "0-1",
            "contact",
            "lastmodifieddate",
            "createdate",
            ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
            "contact",
        ),
        ObjectType(
            "companies",
            "0-2",
            "company",
            "hs_lastmodifieddate",
            "createdate",
            ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
            "company",
        ),
        ObjectType(
            "deals",
            "0-3",
            "deal",
            "hs_lastmodifieddate",
            "createdate",
            (
                "amount",
                "closedate",
                "createdate",
                "dealname",
                "dealstage",
                "hs_lastmodifieddate",
                "hs_object_id",
                "pipeline",
            ),
            "deal",
        ),
        ObjectType(
            "line_items",
            "0-8",
            "line_item",
            "hs_lastmodifieddate",
            "createdate",
            ("createdate", "hs_lastmodifieddate", "hs_object_id", "name", "price", "quantity"),
            "line_item",
        ),
        ObjectType(
            "tasks",
            "0-27",
            "task",
            "hs_lastmodifieddate",
            "hs_createdate",
            ("hs_createdate", "hs_lastmodifieddate", "hs_object_id", "hs_task_subject"),
            "object",
        ),
        ObjectType(
            "tickets",
            "0-5",
            "ticket",
            "hs_lastmodifieddate",
            "createdate",
            (
                "content",
                "createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
                "hs_pipeline",
                "hs_pipeline_stage",
                "hs_ticket_category",
                "hs_ticket_priority",
                "subject",
            ),
            "object",
        ),
        ObjectType(
            "feedback_submissions",
            "0-19",
            "feedback_submission",
            "hs_lastmodifieddate",
            "hs_createdate",
            ("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
            "object",
            read_only=True,
        ),
        ObjectType(
            "orders",
            "0-123",
            "order",
            "hs_lastmodifieddate",
            "hs_createdate",
            ("hs_createdate", "hs_lastmodifieddate", "hs_object_id", "hs_order_name"),
            "object",
        ),
    )
}

_ALIASES = {
    alias: t.name for t in OBJECT_TYPES.values() for alias in (t.name, t.singular, t.type_id)
}


def resolve_type(raw: str) -> ObjectType:
    """The object type for a path segment (``contacts``, ``contact``, ``0-1``); 400 if unknown."""
    name = _ALIASES.get(raw.lower())
    if name is None:
        raise HttpError(
            400,
            "VALIDATION_ERROR",
            f"Unable to infer object type from: {raw}",
            context={"objectType": [raw]},
        )
    return OBJECT_TYPES[name]


# --------------------------------------------------------------------------- properties


@dataclass
class PropertyDef:
    """A property definition as the Properties API describes it."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group_name: str = "information"
    options: list[dict[str, Any]] = field(default_factory=list)
    has_unique_value: bool = False
    read_only: bool = False
    hubspot_defined: bool = True
    calculated: bool = False
    description: str = ""
    display_order: int = -1
    hidden: bool = False
    form_field: bool = False
    created: float = 0.0
    updated: float = 0.0
    archived: bool = False

    def option_values(self) -> set[str]:
        return {str(o["value"]) for o in self.options}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": self.form_field,
            "createdAt": iso_ms(self.created),
            "updatedAt": iso_ms(self.updated),
            "archived": self.archived,
        }


def _opts(*values: str | tuple[str, str]) -> list[dict[str, Any]]:
    out = []
    for i, v in enumerate(values):
        value, label = (v, v.replace("_", " ").title()) if isinstance(v, str) else v
        out.append(
            {"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
        )
    return out


LIFECYCLE = _opts(
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEGAL_BASIS_LABELS = _opts(
    "Legitimate interest \u2013 prospect/lead",
    "Legitimate interest \u2013 existing customer",
    "Legitimate interest - other",
    "Performance of a contract",
    "Freely given consent from contact",
    "Not applicable",
)


def _p(name: str, label: str, kind: str = "string", **kw: Any) -> PropertyDef:
    field_type = {
        "string": "text",
        "number": "number",
        "datetime": "date",
        "date": "date",
        "bool": "booleancheckbox",
        "enumeration": "select",
    }[kind]
    kw.setdefault("field_type", field_type)
    return PropertyDef(name, label, kind, **kw)


TASK_STATUS = _opts("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
TASK_PRIORITY = _opts("LOW", "MEDIUM", "HIGH")
TASK_TYPE = _opts("CALL", "EMAIL", "TODO")


def _insights_properties() -> list[PropertyDef]:
    """Custom contact properties a portal creates for b2sync's insights."""
    custom: dict[str, Any] = {"group_name": "b2sync_insights", "hubspot_defined": False}
    return [
        _p("b2c_ltv", "Lifetime value", "number", **custom),
        _p("b2c_order_count", "Order count", "number", **custom),
        _p("b2c_aov", "Average order value", "number", **custom),
        _p("b2c_last_order_date", "Last order date", "datetime", **custom),
        _p("b2c_trailing_12m_spend", "Spend, last 12 months", "number", **custom),
        _p("b2c_rfm_code", "RFM code", **custom),
        _p("b2c_rfm_segment", "RFM segment", **custom),
        _p("b2c_lifecycle_stage", "Retention stage", **custom),
        _p("b2c_vip", "VIP", "bool", **custom),
        _p("b2c_lead_score", "Lead score", "number", **custom),
        _p("b2c_lead_tier", "Lead tier", **custom),
        _p("b2c_loyalty_tier", "Loyalty tier", **custom),
        _p("b2c_segments", "Segments", **custom),
        _p("b2c_acquisition_channel", "Acquisition channel", **custom),
        _p("b2c_cac", "Acquisition cost (CAC)", "number", **custom),
        _p("b2c_net_ltv", "Net lifetime value", "number", **custom),
        _p("b2c_ltv_cac_ratio", "LTV:CAC ratio", "number", **custom),
        _p("b2c_open_tickets", "Open support tickets", "number", **custom),
        _p("b2c_recent_tickets", "Support tickets, last 90 days", "number", **custom),
        _p("b2c_nps_score", "Last NPS score", "number", **custom),
        _p("b2c_nps_category", "NPS category", **custom),
    ]


#: marketing-email analytics HubSpot keeps on each contact: read-only for apps (HubSpot's email
#: tool sets them); the emulator's admin API sets them like that tool would
EMAIL_ANALYTICS = (
    "hs_email_delivered",
    "hs_email_open",
    "hs_email_click",
    "hs_email_last_open_date",
    "hs_email_last_click_date",
)


def _email_analytics() -> list[PropertyDef]:
    kw: dict[str, Any] = {"group_name": "emailinformation", "read_only": True, "calculated": True}
    return [
        _p("hs_email_delivered", "Marketing emails delivered", "number", **kw),
        _p("hs_email_open", "Marketing emails opened", "number", **kw),
        _p("hs_email_click", "Marketing emails clicked", "number", **kw),
        _p("hs_email_last_open_date", "Last marketing email open date", "datetime", **kw),
        _p("hs_email_last_click_date", "Last marketing email click date", "datetime", **kw),
    ]


def _common(ot: ObjectType) -> list[PropertyDef]:
    return [
        _p(ot.created_prop, "Create Date", "datetime", read_only=True),
        _p(ot.modified_prop, "Last Modified Date", "datetime", read_only=True),
        _p("hs_object_id", "Record ID", "number", read_only=True),
    ]


def _address(prefix: str = "") -> list[PropertyDef]:
    return [
        _p(f"{prefix}address", "Street Address"),
        _p(f"{prefix}city", "City"),
        _p(f"{prefix}state", "State/Region"),
        _p(f"{prefix}zip", "Postal Code"),
        _p(f"{prefix}country", "Country/Region"),
    ]


SERVICE_PROPERTIES = {"tickets": TICKET_PROPERTIES, "feedback_submissions": FEEDBACK_PROPERTIES}


def _from_spec(name: str, label: str, kind: str, kw: dict[str, Any]) -> PropertyDef:
    """A Service Hub property (:mod:`._service`), its options made option lists."""
    options = {"options": _opts(*kw["options"])} if "options" in kw else {}
    return _p(name, label, kind, **{**kw, **options})


def _seed_specific(name: str) -> list[PropertyDef]:
    if name == "contacts":
        return [
            _p("email", "Email", group_name="contactinformation"),
            _p("firstname", "First Name"),
            _p("lastname", "Last Name"),
            _p("phone", "Phone Number"),
            _p("mobilephone", "Mobile Phone Number"),
            _p("company", "Company Name"),
            _p("jobtitle", "Job Title"),
            _p("hubspot_owner_id", "Contact owner"),
            _p("website", "Website URL"),
            *_address(),
            _p("lifecyclestage", "Lifecycle Stage", "enumeration", options=LIFECYCLE),
            _p("hs_language", "Preferred language"),
            _p("hs_email_optout", "Unsubscribed from all email", "bool", read_only=True),
            _p(
                "hs_legal_basis",
                "Legal basis for processing contact's data",
                "enumeration",
                field_type="checkbox",
                options=LEGAL_BASIS_LABELS,
            ),
            *_email_analytics(),
            *_insights_properties(),
        ]
    if name == "companies":
        return [
            _p("name", "Company name"),
            _p("domain", "Company Domain Name"),
            _p("phone", "Phone Number"),
            _p("website", "Website URL"),
            *_address(),
            _p("description", "Description", field_type="textarea"),
            _p("numberofemployees", "Number of Employees", "number"),
            _p("annualrevenue", "Annual Revenue", "number"),
            _p("lifecyclestage", "Lifecycle Stage", "enumeration", options=LIFECYCLE),
        ]
    if name == "deals":
        stages = _opts(
            "appointmentscheduled",
            "qualifiedtobuy",
            "presentationscheduled",
            "decisionmakerboughtin",
            "contractsent",
            "closedwon",
            "closedlost",
        )
        return [
            _p("dealname", "Deal Name"),
            _p("amount", "Amount", "number"),
            _p("dealstage", "Deal Stage", "enumeration", options=stages),
            _p("pipeline", "Pipeline", "enumeration", options=_opts(("default", "Sales Pipeline"))),
            _p("closedate", "Close Date", "datetime"),
            _p("deal_currency_code", "Currency"),
            _p("description", "Deal Description", field_type="textarea"),
        ]
    if name == "line_items":
        return [
            _p("name", "Name"),
            _p("quantity", "Quantity", "number"),
            _p("price", "Unit price", "number"),
            _p("amount", "Net price", "number", read_only=True, calculated=True),
            _p("hs_sku", "SKU"),
            _p("hs_product_id", "Product ID", "number"),
            _p("description", "Description", field_type="textarea"),
            _p("discount", "Unit discount", "number"),
            _p("tax", "Tax", "number"),
            _p("hs_line_item_currency_code", "Currency"),
        ]
    if name in ("tickets", "feedback_submissions"):
        return [_from_spec(*spec) for spec in SERVICE_PROPERTIES[name]]
    if name == "tasks":
        return [
            _p("hs_timestamp", "Due date", "datetime"),
            _p("hs_task_subject", "Task Title"),
            _p("hs_task_body", "Task notes", field_type="textarea"),
            _p("hs_task_status", "Task Status", "enumeration", options=TASK_STATUS),
            _p("hs_task_priority", "Priority", "enumeration", options=TASK_PRIORITY),
            _p("hs_task_type", "Task Type", "enumeration", options=TASK_TYPE),
            _p("hubspot_owner_id", "Assigned to"),
        ]
    return [
        _p("hs_order_name", "Name"),
        _p("hs_currency_code", "Currency"),
        _p("hs_total_price", "Total price", "number"),
        _p("hs_subtotal_price", "Subtotal", "number"),
        _p("hs_tax", "Tax", "number"),
        _p("hs_shipping_cost", "Shipping cost", "number"),
        _p("hs_order_discount", "Order discount", "number"),
        _p("hs_fulfillment_status", "Fulfillment status"),
        _p("hs_payment_status", "Payment status"),
        _p("hs_source_store", "Source store"),
        _p("hs_external_order_id", "External order ID"),
        _p("hs_external_order_status", "External order status"),
        _p("hs_external_created_date", "External created date", "datetime"),
        _p("hs_billing_address_email", "Billing email"),
        _p("hs_shipping_address_street", "Shipping street"),
        _p("hs_shipping_address_city", "Shipping city"),
        _p("hs_shipping_address_state", "Shipping state"),
        _p("hs_shipping_address_postal_code", "Shipping postal code"),
        _p("hs_shipping_address_country", "Shipping country"),
        _p("hs_shipping_tracking_number", "Shipping tracking number"),
        _p("hs_pipeline", "Pipeline"),
        _p("hs_pipeline_stage", "Pipeline stage"),
    ]


#: the default property group of each object type in a new portal (contactinformation,
#: companyinformation, dealinformation, lineiteminformation as in HubSpot's Properties API
#: examples, https://developers.hubspot.com/docs/methods/crm-properties/crm-properties-overview;
#: orders and tasks follow the same ``<object>information`` pattern)
DEFAULT_GROUPS = {
    "contacts": ("contactinformation", "Contact information"),
    "companies": ("companyinformation", "Company information"),
    "deals": ("dealinformation", "Deal information"),
    "line_items": ("lineiteminformation", "Line item information"),
    "tasks": ("taskinformation", "Task information"),
    "tickets": ("ticketinformation", "Ticket information"),
    "feedback_submissions": ("feedbacksubmissioninformation", "Feedback submission information"),
    "orders": ("orderinformation", "Order information"),
}


def seed_groups(name: str, properties: dict[str, PropertyDef]) -> dict[str, dict[str, Any]]:
    """The property groups a new portal has for object type ``name``: its default group and
    every group a seeded property sits in."""
    default, label = DEFAULT_GROUPS.get(name, (f"{name}information", f"{name} information"))
    groups = {default: {"name": default, "label": label, "displayOrder": 0, "archived": False}}
    for d in properties.values():
        groups.setdefault(
            d.group_name,
            {
                "name": d.group_name,
                "label": d.group_name,
                "displayOrder": len(groups),
                "archived": False,
            },
        )
    return groups


def seed_properties(name: str, now: float) -> dict[str, PropertyDef]:
    """The HubSpot-defined properties of object type ``name``."""
    defs = _seed_specific(name) + _common(OBJECT_TYPES[name])
    default = DEFAULT_GROUPS.get(name, (f"{name}information", ""))[0]
    out: dict[str, PropertyDef] = {}
    for i, d in enumerate(defs):
        if d.group_name == "information":  # the unnamed default: the object's own group
            d.group_name = default
        d.display_order = i
        d.created = d.updated = now
        out[d.name] = d
    return out


# --------------------------------------------------------------------------- associations

#: HUBSPOT_DEFINED types: (from singular, to singular) -> [(typeId, reverse typeId, label)].
#: The first entry of each pair is the default (unlabelled) type.
_PAIRS: dict[tuple[str, str], list[tuple[int, int, str | None]]] = {
    ("contact", "company"): [(279, 280, None), (1, 2, "Primary")],
    ("deal", "contact"): [(3, 4, None)],
    ("deal", "company"): [(341, 342, None), (5, 6, "Primary")],
    ("deal", "line_item"): [(19, 20, None)],
    ("order", "contact"): [(507, 508, None)],
    ("order", "company"): [(509, 510, None)],
    ("deal", "order"): [(511, 512, None)],
    ("order", "line_item"): [(513, 514, None)],
    ("task", "contact"): [(204, 203, None)],
    ("ticket", "contact"): [(16, 15, None)],
    # feedback submission -> contact: the ids are the emulator's own (not verified against a
    # portal's /crm/v4/associations/feedback_submissions/contacts/labels); b2sync reads the
    # association targets, never these ids
    ("feedback_submission", "contact"): [(1191, 1192, None)],
}


def association_types(
    from_type: ObjectType, to_type: ObjectType
) -> list[tuple[int, int, str | None]]:
    """[(typeId, reverse typeId, label)] from ``from_type`` to ``to_type``, default first."""
    key = (from_type.singular, to_type.singular)
    if key in _PAIRS:
        return _PAIRS[key]
    reverse = _PAIRS.get((to_type.singular, from_type.singular))
    if reverse is None:
        return []
    return [(rev, fwd, label) for fwd, rev, label in reverse]


def association_label(type_id: int) -> str | None:
    """The label of a HUBSPOT_DEFINED type id (None for unlabelled ones)."""
    for pairs in _PAIRS.values():
        for fwd, rev, label in pairs:
            if type_id in (fwd, rev):
                return label
    return None

"""The org's sObjects: standard objects b2sync touches plus the B2C order custom objects."""

from __future__ import annotations

from typing import Any

from ._schema import Field, SObject

__all__ = ["ADMIN_USER_ID", "CASE_CLOSED_STATUSES", "SCHEMA", "children_of"]

ADMIN_USER_ID = "005000000000002AAA"


def text(name: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, "string", length=length, **kw)


def flag(name: str, label: str = "", **kw: Any) -> Field:
    return Field(name, "boolean", label=label, nillable=False, default=False, **kw)


def pick(name: str, values: tuple[str, ...], **kw: Any) -> Field:
    return Field(name, "picklist", length=255, picklist=values, **kw)


def ref(name: str, *to: str, relationship: str | None = None, **kw: Any) -> Field:
    rel = relationship or (name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id"))
    return Field(name, "reference", length=18, reference_to=to, relationship_name=rel, **kw)


def money(name: str, **kw: Any) -> Field:
    return Field(name, "currency", precision=18, scale=2, **kw)


def ext_id(name: str = "B2Connect_Id__c", label: str = "B2Connect Id") -> Field:
    return text(name, 64, label=label, external_id=True, unique=True)


def _system(owner: bool) -> list[Field]:
    ro: dict[str, Any] = {"createable": False, "updateable": False}
    users = ("User",)
    out = [
        Field("Id", "id", label="Record ID", length=18, nillable=False, **ro),
        flag("IsDeleted", "Deleted", **ro),
        Field("CreatedDate", "datetime", label="Created Date", nillable=False, **ro),
        ref("CreatedById", *users, label="Created By ID", nillable=False, **ro),
        Field("LastModifiedDate", "datetime", label="Last Modified Date", nillable=False, **ro),
        ref("LastModifiedById", *users, label="Last Modified By ID", nillable=False, **ro),
        Field("SystemModstamp", "datetime", label="System Modstamp", nillable=False, **ro),
    ]
    if owner:
        out.append(ref("OwnerId", "User", label="Owner ID", nillable=False, default="$user"))
    return out


def sobject(
    name: str,
    prefix: str,
    fields: list[Field],
    *,
    label: str | None = None,
    plural: str | None = None,
    owner: bool = True,
    name_kind: str | None = None,
    createable: bool = True,
) -> SObject:
    lbl = label or name.removesuffix("__c").replace("_", " ")
    all_fields = {f.name: f for f in [*_system(owner), *fields]}
    return SObject(
        name,
        lbl,
        plural or lbl + "s",
        prefix,
        all_fields,
        createable=createable,
        name_kind=name_kind,
    )


def _compound_name() -> Field:
    return Field("Name", "string", label="Full Name", length=121, createable=False,
                 updateable=False, name_field=True)  # fmt: skip


def _address(prefix: str) -> list[Field]:
    return [
        Field(f"{prefix}Street", "textarea", length=255),
        text(f"{prefix}City", 40),
        text(f"{prefix}State", 80),
        text(f"{prefix}PostalCode", 20),
        text(f"{prefix}Country", 80),
    ]


def _insights_fields() -> list[Field]:
    """Custom Contact fields an org creates for b2sync's insights."""
    number: dict[str, Any] = {"precision": 18, "scale": 0}
    return [
        money("LTV__c", label="Lifetime Value"),
        Field("Order_Count__c", "double", label="Order Count", **number),
        money("AOV__c", label="Average Order Value"),
        Field("Last_Order_Date__c", "datetime", label="Last Order Date"),
        money("Trailing_12m_Spend__c", label="Spend Last 12 Months"),
        text("RFM_Code__c", 3, label="RFM Code"),
        text("RFM_Segment__c", 32, label="RFM Segment"),
        pick(
            "Lifecycle_Stage__c",
            ("prospect", "customer", "active", "at_risk", "churned"),
            label="Retention Stage",
        ),
        flag("VIP__c", "VIP"),
        Field("Lead_Score__c", "double", label="Lead Score", **number),
        text("Lead_Tier__c", 16, label="Lead Tier"),
        text("Loyalty_Tier__c", 16, label="Loyalty Tier"),
        text("Segments__c", 255, label="Segments"),
        text("Acquisition_Channel__c", 100, label="Acquisition Channel"),
        money("CAC__c", label="Acquisition Cost"),
        money("Net_LTV__c", label="Net Lifetime Value"),
        Field("LTV_CAC_Ratio__c", "double", label="LTV:CAC Ratio", precision=18, scale=2),
        Field("Open_Tickets__c", "double", label="Open Cases", **number),
        Field("Recent_Tickets__c", "double", label="Cases Last 90 Days", **number),
        Field("NPS_Score__c", "double", label="Last NPS Score", **number),
        pick("NPS_Category__c", ("promoter", "passive", "detractor"), label="NPS Category"),
    ]


_ACCOUNT = sobject(
    "Account",
    "001",
    [
        text("Name", 255, label="Account Name", nillable=False, name_field=True),
        Field("Website", "url", length=255),
        Field("Phone", "phone", length=40, label="Account Phone"),
        *_address("Billing"),
        *_address("Shipping"),
        pick("Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")),
        pick("Industry", ("Retail", "Manufacturing", "Technology", "Wholesale", "Other")),
        Field("Description", "textarea", length=32000),
        Field("NumberOfEmployees", "int", label="Employees", precision=8),
        money("AnnualRevenue"),
        ext_id(),
        text("VAT_Id__c", 32, label="VAT Id", external_id=True),
        # the org's marker for accounts the shop should get (b2sync's create_in_shop)
        flag("B2C_Create_In_Shop__c", "Create in shop"),
    ],
)

_CONTACT = sobject(
    "Contact",
    "003",
    [
        _compound_name(),
        pick("Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        text("FirstName", 40, label="First Name"),
        text("LastName", 80, label="Last Name", nillable=False),
        Field("Email", "email", length=80),
        Field("Phone", "phone", length=40, label="Business Phone"),
        Field("MobilePhone", "phone", length=40, label="Mobile Phone"),
        text("Title", 128),
        Field("Birthdate", "date"),
        *_address("Mailing"),
        ref("AccountId", "Account", label="Account ID"),
        ref("IndividualId", "Individual", label="Individual ID"),
        flag("HasOptedOutOfEmail", "Email Opt Out"),
        flag("HasOptedOutOfFax", "Fax Opt Out"),
        flag("DoNotCall", "Do Not Call"),
        pick("LeadSource", ("Web", "Phone Inquiry", "Partner Referral", "Webshop", "Other")),
        Field("Description", "textarea", length=32000),
        ext_id(),
        *_insights_fields(),
    ],
    name_kind="compound",
)

_INDIVIDUAL = sobject(
    "Individual",
    "0PK",
    [
        _compound_name(),
        pick("Salutation", ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")),
        text("FirstName", 40, label="First Name"),
        text("LastName", 80, label="Last Name", nillable=False),
        Field("BirthDate", "date"),
        flag("HasOptedOutTracking", "Don't Track"),
        flag("HasOptedOutProcessing", "Don't Process"),
        flag("HasOptedOutProfiling", "Don't Profile"),
        flag("HasOptedOutSolicit", "Don't Market"),
        flag("HasOptedOutGeoTracking", "Block Geolocation Tracking"),
        flag("ShouldForget", "Forget this Individual"),
        flag("SendIndividualData", "Export Individual's Data"),
        flag("CanStorePiiElsewhere", "OK to Store PII Data Elsewhere"),
        pick("IndividualsAge", ("13 or Older", "16 or Older", "Over the Age of Consent")),
    ],
    name_kind="compound",
)

_DATA_USE_PURPOSE = sobject(
    "DataUsePurpose",
    "0ZW",
    [
        text("Name", 255, nillable=False, name_field=True),
        Field("Description", "textarea", length=1000),
        flag("CanDataSubjectOptOut", "Can Data Subject Opt Out"),
    ],
)

_CONSENT = sobject(
    "ContactPointTypeConsent",
    "0ZY",
    [
        text("Name", 255, label="Name", nillable=False, name_field=True),
        ref("PartyId", "Individual", label="Party ID", nillable=False),
        pick(
            "ContactPointType",
            ("Email", "MailingAddress", "Phone", "Social", "Web"),
            label="Contact Point Type",
            restricted=True,
        ),
        pick(
            "PrivacyConsentStatus",
            ("OptIn", "OptOut", "Seen", "NotSeen"),
            label="Privacy Consent Status",
            restricted=True,
        ),
        ref("DataUsePurposeId", "DataUsePurpose", label="Data Use Purpose ID"),
        Field("CaptureDate", "datetime", label="Capture Date"),
        text("CaptureSource", 255, label="Capture Source"),
        pick("CaptureContactPointType", ("Email", "Phone", "Web", "Social"), restricted=True),
        Field("DoubleConsentCaptureDate", "datetime"),
        Field("EffectiveFrom", "datetime", label="Effective From"),
        Field("EffectiveTo", "datetime", label="Effective To"),
    ],
    label="Contact Point Type Consent",
)

_TASK = sobject(
    "Task",
    "00T",
    [
        Field("Subject", "combobox", length=255),
        pick(
            "Status",
            ("Not Started", "In Progress", "Completed", "Deferred"),
            nillable=False,
            default="Not Started",
            restricted=True,
        ),
        pick(
            "Priority", ("High", "Normal", "Low"), nillable=False, default="Normal", restricted=True
        ),
        ref("WhoId", "Contact", relationship="Who", label="Name ID"),
        ref("WhatId", "Account", "Campaign", "B2C_Order__c", relationship="What"),
        Field("ActivityDate", "date", label="Due Date Only"),
        Field("Description", "textarea", length=32000, label="Comments"),
        pick("Type", ("Call", "Email", "Meeting", "Other")),
        pick("TaskSubtype", ("Task", "Email", "Call"), restricted=True),
    ],
)

_CAMPAIGN = sobject(
    "Campaign",
    "701",
    [
        text("Name", 80, nillable=False, name_field=True),
        pick("Status", ("Planned", "In Progress", "Completed", "Aborted")),
        pick("Type", ("Email", "Webinar", "Advertisement", "Other")),
        flag("IsActive", "Active"),
        Field("StartDate", "date"),
        Field("EndDate", "date"),
        Field("Description", "textarea", length=32000),
    ],
)

_CAMPAIGN_MEMBER = sobject(
    "CampaignMember",
    "00v",
    [
        ref("CampaignId", "Campaign", nillable=False, updateable=False),
        ref("ContactId", "Contact", updateable=False),
        pick("Status", ("Sent", "Responded"), default="Sent"),
        flag("HasResponded", "Responded", createable=False, updateable=False),
    ],
    owner=False,
)

_USER = sobject(
    "User",
    "005",
    [
        text("Username", 80, nillable=False, createable=False, updateable=False),
        text("Name", 121, label="Full Name", createable=False, updateable=False, name_field=True),
        flag("IsActive", "Active", createable=False, updateable=False),
    ],
    owner=False,
    createable=False,
)

#: Service Cloud cases; IsClosed and ClosedDate follow Status (``Store``), like the org's
#: closed case statuses do
CASE_CLOSED_STATUSES = frozenset({"Closed"})

_CASE = sobject(
    "Case",
    "500",
    [
        text(
            "CaseNumber",
            30,
            label="Case Number",
            createable=False,
            updateable=False,
            nillable=False,
            name_field=True,
            auto_number=True,
        ),
        ref("ContactId", "Contact", label="Contact ID"),
        ref("AccountId", "Account", label="Account ID"),
        text("Subject", 255),
        Field("Description", "textarea", length=32000),
        pick("Status", ("New", "Working", "Escalated", "Closed"), nillable=False, default="New"),
        pick("Priority", ("High", "Medium", "Low"), default="Medium"),
        pick("Origin", ("Phone", "Email", "Web")),
        flag("IsClosed", "Closed", createable=False, updateable=False),
        Field("ClosedDate", "datetime", label="Closed", createable=False, updateable=False),
    ],
)

_ORDER_STATUSES = ("pending", "confirmed", "processing", "shipped", "delivered", "cancelled")
_PAYMENT_STATUSES = ("pending", "paid", "failed", "refunded")

_ORDER = sobject(
    "B2C_Order__c",
    "a01",
    [
        text("Name", 80, label="Order Name", nillable=False, name_field=True, default="$id"),
        ext_id(),
        text("Order_Number__c", 50, label="Order Number"),
        ref("Contact__c", "Contact", label="Contact"),
        ref("Account__c", "Account", label="Account"),
        Field("Customer_Email__c", "email", length=80, label="Customer Email"),
        pick("Status__c", _ORDER_STATUSES, label="Status"),
        pick("Payment_Status__c", _PAYMENT_STATUSES, label="Payment Status"),
        text("Payment_Method__c", 20, label="Payment Method"),
        money("Subtotal__c"),
        money("Tax__c"),
        money("Discount__c"),
        money("Shipping__c"),
        money("Total__c"),
        text("Currency__c", 3, label="Currency"),
        Field("Order_Date__c", "datetime", label="Order Date"),
        text("Shipping_Street__c", 255),
        text("Shipping_City__c", 40),
        text("Shipping_Postal_Code__c", 20),
        text("Shipping_Country__c", 80),
        Field("Notes__c", "textarea", length=1000, label="Notes"),
    ],
    label="B2C Order",
    name_kind="text",
)

_ORDER_LINE = sobject(
    "B2C_Order_Line__c",
    "a02",
    [
        text(
            "Name",
            80,
            label="Order Line Number",
            createable=False,
            updateable=False,
            nillable=False,
            name_field=True,
            auto_number=True,
        ),
        ext_id(),
        ref("Order__c", "B2C_Order__c", label="Order", nillable=False, cascade_delete=True),
        text("Product_Id__c", 64, label="Product Id"),
        text("Sku__c", 100, label="SKU"),
        text("Product_Name__c", 255, label="Product Name"),
        Field("Quantity__c", "double", label="Quantity", precision=18, scale=2),
        money("Unit_Price__c", label="Unit Price"),
        money("Total_Price__c", label="Total Price"),
    ],
    label="B2C Order Line",
    owner=False,
    name_kind="auto",
)

SCHEMA: dict[str, SObject] = {
    o.name: o
    for o in [
        _ACCOUNT,
        _CONTACT,
        _INDIVIDUAL,
        _DATA_USE_PURPOSE,
        _CONSENT,
        _TASK,
        _CASE,
        _CAMPAIGN,
        _CAMPAIGN_MEMBER,
        _USER,
        _ORDER,
        _ORDER_LINE,
    ]
}


def children_of(parent: str) -> list[tuple[str, Field]]:
    """(child object, lookup field) pairs whose lookup points at ``parent``."""
    return [
        (obj.name, f)
        for obj in SCHEMA.values()
        for f in obj.fields.values()
        if parent in f.reference_to and f.name not in {"OwnerId", "CreatedById", "LastModifiedById"}
    ]

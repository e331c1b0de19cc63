"""The ``consent:`` section and the consent fields of push pipelines.

Consent has its own rule, not the field rules: the most recent decision wins and an opt-out
is never overwritten by an older or same-time opt-in. This section says where consent lives
in each system: HubSpot subscription types and Salesforce opt-out checkboxes per channel and
purpose.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CHANNELS",
    "ConsentRequirement",
    "ConsentSchedule",
    "ConsentSettings",
    "HubSpotConsent",
    "HubSpotSubscription",
    "OnWithdraw",
    "SalesforceConsent",
    "SalesforceConsentField",
    "SalesforceConsentRecord",
    "SalesforceIndividualFlag",
]

#: the channels a consent can be about
CHANNELS: tuple[str, ...] = ("email", "sms", "phone", "post")
Channel = Literal["email", "sms", "phone", "post"]
PURPOSE_PATTERN = r"^[a-z][a-z0-9_]*$"

#: what a push pipeline does with a person who withdraws the consent it requires
OnWithdraw = Literal["keep", "unsubscribe_only", "archive"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ConsentSchedule(_Frozen):
    """How often the daemon runs the consent sync."""

    every: str = Field(default="5m", pattern=r"^\d+\s*(s|m|h|d)$", description="Like 30s, 5m, 1h")

    @property
    def seconds(self) -> int:
        """The interval in seconds."""
        text = self.every.replace(" ", "")
        factor = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
        return int(text[:-1]) * factor


class ConsentRequirement(_Frozen):
    """``require_consent: {channel: email, purpose: marketing}`` on a push pipeline."""

    channel: Channel = Field(description="Channel the consent must cover")
    purpose: str = Field(pattern=PURPOSE_PATTERN, description="Purpose, e.g. marketing")


class HubSpotSubscription(_Frozen):
    """One HubSpot subscription type standing for a channel and purpose."""

    channel: Literal["email"] = Field(
        default="email", description="HubSpot subscriptions are email"
    )
    purpose: str = Field(pattern=PURPOSE_PATTERN)
    subscription_id: int = Field(ge=1, description="HubSpot subscription definition id")


class HubSpotConsent(_Frozen):
    """Where consent lives in HubSpot: communication preferences (subscription types)."""

    connection: str
    api: Literal["v4", "v3"] = Field(
        default="v4",
        description="v4 can resubscribe people who opted out; v3 cannot (a resubscribe is "
        "then recorded as not applied, with the reason)",
    )
    subscriptions: list[HubSpotSubscription] = Field(min_length=1)
    legal_basis_explanation: str = Field(
        default="Relayed by b2sync from the system where the person decided",
        description="Sent with every status change (HubSpot requires one with GDPR on)",
    )

    @model_validator(mode="after")
    def _unique(self) -> HubSpotConsent:
        keys = [(s.channel, s.purpose) for s in self.subscriptions]
        if len(set(keys)) != len(keys):
            raise ValueError("a channel/purpose is mapped to two HubSpot subscriptions")
        return self


class SalesforceConsentField(_Frozen):
    """A Contact checkbox that is true when the person opted out of a channel and purpose."""

    channel: Channel
    purpose: str = Field(pattern=PURPOSE_PATTERN)
    field: Literal["HasOptedOutOfEmail", "DoNotCall", "HasOptedOutOfFax"] = Field(
        description="Contact opt-out checkbox (true = withdrawn)"
    )


class SalesforceIndividualFlag(_Frozen):
    """An Individual privacy checkbox (Data Protection & Privacy) that is true when the
    person objected to a purpose: ``HasOptedOutProcessing`` (Don't Process),
    ``HasOptedOutTracking`` (Don't Track), ...; read through ``Contact.IndividualId``."""

    channel: Channel = Field(
        default="email", description="Channel the decision is recorded under (default email)"
    )
    purpose: str = Field(pattern=PURPOSE_PATTERN)
    field: Literal[
        "HasOptedOutProcessing",
        "HasOptedOutTracking",
        "HasOptedOutProfiling",
        "HasOptedOutSolicit",
        "HasOptedOutGeoTracking",
    ] = Field(description="Individual opt-out checkbox (true = withdrawn)")


#: ContactPointTypeConsent.ContactPointType of each channel
CONTACT_POINT_TYPES: dict[str, str] = {
    "email": "Email",
    "sms": "Phone",
    "phone": "Phone",
    "post": "MailingAddress",
}


class SalesforceConsentRecord(_Frozen):
    """A ContactPointTypeConsent per person (on their Individual) for a channel and purpose."""

    channel: Channel
    purpose: str = Field(pattern=PURPOSE_PATTERN)
    data_use_purpose: str = Field(
        min_length=1,
        max_length=255,
        description="Name of the DataUsePurpose record (created if missing)",
    )

    @property
    def contact_point_type(self) -> str:
        return CONTACT_POINT_TYPES[self.channel]


class SalesforceConsent(_Frozen):
    """Where consent lives in Salesforce: Contact opt-out checkboxes and/or
    ContactPointTypeConsent records on the person's Individual (Data Protection & Privacy)."""

    connection: str
    fields: list[SalesforceConsentField] = Field(default_factory=list)
    consent_records: list[SalesforceConsentRecord] = Field(
        default_factory=list, description="ContactPointTypeConsent per channel and purpose"
    )
    individual: list[SalesforceIndividualFlag] = Field(
        default_factory=list,
        description="Privacy checkboxes of the person's Individual (HasOptedOutProcessing, "
        "HasOptedOutTracking, ...) per channel and purpose",
    )

    @model_validator(mode="after")
    def _unique(self) -> SalesforceConsent:
        if not self.fields and not self.consent_records and not self.individual:
            raise ValueError(
                "map at least one channel/purpose in fields, consent_records or individual"
            )
        for kind, keys in (
            ("fields", [(f.channel, f.purpose) for f in self.fields]),
            ("Individual fields", [(f.channel, f.purpose) for f in self.individual]),
            (
                "consent records",
                [(r.contact_point_type, r.data_use_purpose) for r in self.consent_records],
            ),
        ):
            if len(set(keys)) != len(keys):
                raise ValueError(f"two Salesforce {kind} stand for the same channel/purpose")
        return self

    def keys(self) -> frozenset[tuple[str, str]]:
        """Every channel/purpose Salesforce holds."""
        return frozenset(
            [(f.channel, f.purpose) for f in self.fields]
            + [(r.channel, r.purpose) for r in self.consent_records]
            + [(f.channel, f.purpose) for f in self.individual]
        )


class ConsentSettings(_Frozen):
    """Consent sync between B2Connect and the CRMs (``b2sync consent sync``)."""

    b2connect: str = Field(description="B2Connect connection whose consent feed is read")
    schedule: ConsentSchedule = Field(default_factory=ConsentSchedule)
    hubspot: HubSpotConsent | None = None
    salesforce: SalesforceConsent | None = None
    default_legal_basis: Literal[
        "consent", "contract", "legitimate_interest", "legal_obligation"
    ] = Field(default="consent", description="Legal basis of decisions a system gives none for")

    def connections(self) -> dict[str, str]:
        """System name -> connection name of every system taking part."""
        out = {"b2connect": self.b2connect}
        if self.hubspot is not None:
            out["hubspot"] = self.hubspot.connection
        if self.salesforce is not None:
            out["salesforce"] = self.salesforce.connection
        return out

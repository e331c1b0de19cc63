"""Communication preferences: subscription state and the v3 API (which cannot resubscribe)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from emulators._base import EmuRequest, json_response

from ._host import HubSpotHost
from ._schema import PropertyDef, resolve_type
from ._util import bad_request, iso_ms
from ._values import is_valid_email

LEGAL_BASIS = frozenset(
    {
        "LEGITIMATE_INTEREST_PQL",
        "LEGITIMATE_INTEREST_CLIENT",
        "PERFORMANCE_OF_CONTRACT",
        "CONSENT_WITH_NOTICE",
        "NON_GDPR",
        "PROCESS_AND_STORE",
        "LEGITIMATE_INTEREST_OTHER",
    }
)
STATES = frozenset({"SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"})
API = "INTEGRATION"
_SOURCES = {API: "PUBLIC_API", "CRM_UI": "CRM_UI"}
#: (id, name, description, purpose, isDefault, isInternal)
SEED_DEFINITIONS = (
    (101, "Marketing Information", "Marketing offers and updates.", "Marketing", True, False),
    (102, "Newsletter", "The monthly newsletter.", "Marketing", False, False),
    (103, "One to One", "One to one emails from our team.", "Sales", False, True),
)


@dataclass
class Status:
    """One email's status for one subscription."""

    state: str
    timestamp: float
    legal_basis: str | None = None
    explanation: str | None = None
    source: str = "PUBLIC_API"


class CommPrefs:
    """Subscription definitions, per-email statuses and portal-wide opt-outs."""

    def __init__(self, emu: HubSpotHost) -> None:
        self.emu = emu
        self.store = emu.store
        #: HubSpot requires a legal basis on writes when GDPR features are on
        self.require_legal_basis = False
        self.reset()

    def reset(self) -> None:
        now = self.emu.clock()
        self.definitions: dict[int, dict[str, Any]] = {}
        defs = self.store.properties["contacts"]
        for sid, name, desc, purpose, default, internal in SEED_DEFINITIONS:
            self.definitions[sid] = {
                "id": str(sid),
                "name": name,
                "description": desc,
                "purpose": purpose,
                "communicationMethod": "Email",
                "isActive": True,
                "isDefault": default,
                "isInternal": internal,
                "businessUnitId": 0,
                "createdAt": iso_ms(now),
                "updatedAt": iso_ms(now),
            }
            prop = f"hs_email_optout_{sid}"
            defs[prop] = PropertyDef(
                prop,
                f"Opted out of email: {name}",
                "bool",
                "booleancheckbox",
                read_only=True,
                created=now,
                updated=now,
            )
        self.statuses: dict[str, dict[int, Status]] = {}
        self.opted_out: dict[str, float] = {}

    # ---- state

    def subscription(self, raw: Any) -> int:
        """The subscription id, 400 when it is not a defined subscription."""
        try:
            sid = int(str(raw))
        except ValueError:
            sid = -1
        if sid not in self.definitions:
            raise bad_request(
                f"Invalid subscription id: {raw}", context={"subscriptionId": [str(raw)]}
            )
        return sid

    def email(self, raw: Any) -> str:
        email = str(raw or "").strip().lower()
        if not is_valid_email(email):
            raise bad_request(f"Invalid email address: {raw}", context={"emailAddress": [str(raw)]})
        if email in self.store.blocklist:
            raise bad_request(
                f"Email address {email} was permanently deleted by a GDPR delete request and "
                "cannot be used"
            )
        return email

    def legal_basis(self, body: dict[str, Any]) -> tuple[str | None, str | None]:
        basis, explanation = body.get("legalBasis"), body.get("legalBasisExplanation")
        if basis is not None and basis not in LEGAL_BASIS:
            raise bad_request(f"Invalid legalBasis: {basis}; expected one of {sorted(LEGAL_BASIS)}")
        if self.require_legal_basis and (not basis or not explanation):
            raise bad_request("legalBasis and legalBasisExplanation are required in this portal")
        return basis, explanation

    def state(self, email: str, sid: int) -> str:
        status = self.statuses.get(email, {}).get(sid)
        return status.state if status else "NOT_SPECIFIED"

    def set_state(
        self,
        email: str,
        sid: int,
        state: str,
        basis: str | None,
        explanation: str | None,
        *,
        source: str = API,
    ) -> Status:
        if state not in STATES:
            raise bad_request(f"statusState must be one of {sorted(STATES)}, got {state!r}")
        status = Status(state, self.emu.clock(), basis, explanation, _SOURCES[source])
        self.statuses.setdefault(email, {})[sid] = status
        if state == "SUBSCRIBED":
            self.opted_out.pop(email, None)
        self.sync_contact(email, source)
        return status

    def unsubscribe_all(self, email: str, *, source: str = API) -> list[int]:
        """Opt out of everything; returns the subscriptions whose status changed."""
        changed = [sid for sid in self.definitions if self.state(email, sid) != "UNSUBSCRIBED"]
        now = self.emu.clock()
        for sid in self.definitions:
            old = self.statuses.get(email, {}).get(sid)
            if old is None or old.state != "UNSUBSCRIBED":
                self.statuses.setdefault(email, {})[sid] = Status(
                    "UNSUBSCRIBED", now, source=_SOURCES[source]
                )
        self.opted_out[email] = now
        self.sync_contact(email, source)
        return changed

    def forget(self, email: str | None) -> None:
        """Drop everything about an email (GDPR delete)."""
        if email:
            self.statuses.pop(email, None)
            self.opted_out.pop(email, None)

    def contact_props(self, email: str) -> dict[str, str]:
        """The contact properties that mirror the subscription state."""
        props = {"hs_email_optout": "true" if email in self.opted_out else "false"}
        for sid in self.definitions:
            unsubscribed = self.state(email, sid) == "UNSUBSCRIBED"
            props[f"hs_email_optout_{sid}"] = "true" if unsubscribed else ""
        return props

    def sync_contact(self, email: str, source: str = API) -> None:
        """Keep ``hs_email_optout*`` on the contact consistent; HubSpot creates missing contacts."""
        ot = resolve_type("contacts")
        rec = self.store.find(ot, "email", email)
        if rec is None:
            self.store.create(ot, {"email": email, **self.contact_props(email)}, source)
            return
        wanted = self.contact_props(email)
        changed = {k: v for k, v in wanted.items() if rec.properties.get(k, "") != v}
        if changed:
            self.store.update(rec, changed, source)

    # ---- v3 API

    def register(self) -> None:
        r = self.emu.route
        r("GET", "/communication-preferences/v3/definitions", self.v3_definitions)
        r("GET", "/communication-preferences/v3/status/email/{email}", self.v3_status)
        r("POST", "/communication-preferences/v3/subscribe", self.v3_subscribe)
        r("POST", "/communication-preferences/v3/unsubscribe", self.v3_unsubscribe)

    def v3_row(self, email: str, sid: int) -> dict[str, Any]:
        d = self.definitions[sid]
        status = self.statuses.get(email, {}).get(sid)
        wide = email in self.opted_out
        return {
            "id": d["id"],
            "name": d["name"],
            "description": d["description"],
            "status": "SUBSCRIBED"
            if status and status.state == "SUBSCRIBED" and not wide
            else "NOT_SUBSCRIBED",
            "sourceOfStatus": "PORTAL_WIDE_STATUS" if wide else "SUBSCRIPTION_STATUS",
            "legalBasis": status.legal_basis if status else None,
            "legalBasisExplanation": status.explanation if status else None,
            "preferenceGroupName": None,
            "brandId": None,
        }

    def v3_definitions(self, _req: EmuRequest) -> Response:
        return json_response({"subscriptionDefinitions": list(self.definitions.values())})

    def v3_status(self, req: EmuRequest) -> Response:
        email = self.email(req.path_params["email"])
        rows = [self.v3_row(email, sid) for sid in self.definitions]
        return json_response({"recipient": email, "subscriptionStatuses": rows})

    def _v3_input(self, req: EmuRequest) -> tuple[str, int, str | None, str | None]:
        body = req.json() or {}
        if not body.get("emailAddress") or not body.get("subscriptionId"):
            raise bad_request(
                "Invalid input JSON: Cannot build PublicUpdateSubscriptionStatusRequest, some of "
                "required attributes are not set [emailAddress, subscriptionId]"
            )
        basis, explanation = self.legal_basis(body)
        return (
            self.email(body["emailAddress"]),
            self.subscription(body["subscriptionId"]),
            basis,
            explanation,
        )

    def v3_subscribe(self, req: EmuRequest) -> Response:
        email, sid, basis, explanation = self._v3_input(req)
        if email in self.opted_out or self.state(email, sid) == "UNSUBSCRIBED":
            raise bad_request(
                f"{email} has opted out and cannot be resubscribed through this API; "
                "the contact must resubscribe themselves",
                subCategory="SubscriptionStatusError.CANNOT_RESUBSCRIBE",
            )
        if self.state(email, sid) == "SUBSCRIBED":
            raise bad_request(f"{email} is already subscribed to subscription {sid}")
        self.set_state(email, sid, "SUBSCRIBED", basis, explanation)
        return json_response(self.v3_row(email, sid))

    def v3_unsubscribe(self, req: EmuRequest) -> Response:
        email, sid, basis, explanation = self._v3_input(req)
        if email in self.opted_out:
            raise bad_request(
                f"{email} has opted out of all email; v3 unsubscribe works per subscription only"
            )
        if self.state(email, sid) == "UNSUBSCRIBED":
            raise bad_request(f"{email} is already unsubscribed from subscription {sid}")
        self.set_state(email, sid, "UNSUBSCRIBED", basis, explanation)
        return json_response(self.v3_row(email, sid))

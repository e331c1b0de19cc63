"""Deterministic, synthetic seed data for the three emulators.

``generate(customers=200, seed=42)`` gives B2Connect-shaped customers, companies, orders,
consents and erasure requests, plus the CRM records that "already exist" in HubSpot and
Salesforce before the first sync. The data is realistic on purpose: umlauts and accents, a
few emoji, one right-to-left name, phone numbers in mixed formats, a handful of invalid
emails, an over-long street and surname, a customer without orders, an orphan order, and CRM
duplicates (one email on two Salesforce contacts). With at least 12 customers every one of
these cases is present. All of it is invented; emails live on example.com/.de/.org.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulators import _fakedata as fake
from emulators._seed_crm import crm_records
from emulators._seed_orders import make_orders
from emulators.b2connect import DEFAULT_TENANT, iso

__all__ = ["DEFAULT_TENANT", "SeedData", "generate"]

INVALID_EMAILS = (
    "max.mustermann.example.de",
    "anna@@example.com",
    "jonas@example",
    "lea.schulz@ example.org",
    "paul weber@example.com",
)
RTL_NAME = ("ليلى", "حداد")
EMOJI_NAMES = (("Mia 🌸", "Sonnenberg"), ("Jonas", "Weber 🚀"))
LONG_STREET = (
    "Hinterer Mühlenweg am alten Stadttor gegenüber dem Marktplatz neben der ehemaligen "
    "Brauerei Zum Goldenen Löwen, Zugang über den Innenhof, Seiteneingang links, dritte Tür "
    "nach dem Fahrradkeller, bei Familie Großmann-Schäfer klingeln, Paketannahme nur werktags "
    "zwischen acht und zwölf Uhr, Hausnummer 12a"
)
LONG_SURNAME = (
    "von Hohenberg-Lichtenstein-Wolkenstein zu Trostburg und Rodenegg-Schönleiten-Kastelruth"
)


@dataclass
class SeedData:
    """Seed records: B2Connect-shaped lists plus CRM records that already exist."""

    tenant_id: str
    now: str
    customers: list[dict[str, Any]] = field(default_factory=list)
    companies: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    erasures: list[dict[str, Any]] = field(default_factory=list)
    hubspot_contacts: list[dict[str, str]] = field(default_factory=list)
    hubspot_companies: list[dict[str, str]] = field(default_factory=list)
    salesforce_contacts: list[dict[str, Any]] = field(default_factory=list)
    salesforce_accounts: list[dict[str, Any]] = field(default_factory=list)


def generate(
    customers: int = 200,
    seed: int = 42,
    tenant_id: str = DEFAULT_TENANT,
    now: datetime | None = None,
) -> SeedData:
    """Seed data for ``customers`` shoppers; the same (seed, now) always gives the same data.

    ``now`` defaults to today's midnight UTC, so one day's runs agree.
    """
    if now is None:
        today = datetime.now(UTC).date()
        now = datetime(today.year, today.month, today.day, tzinfo=UTC)
    gen = fake.Gen(random.Random(seed), now.astimezone(UTC))
    data = SeedData(tenant_id=tenant_id, now=iso(gen.now))
    data.companies = [_company(gen, tenant_id, i) for i in range(max(1, customers // 5))]
    data.customers = _customers(gen, tenant_id, customers, data.companies)
    no_orders = {c["id"] for c in data.customers if c.get("_noOrders")}
    for c in data.customers:
        c.pop("_noOrders", None)
    data.orders = make_orders(gen, tenant_id, data.customers, no_orders)
    data.consents = _consents(gen, tenant_id, data.customers)
    data.erasures = _erasures(gen, tenant_id, data.customers)
    crm = crm_records(gen.rng, data.customers, data.companies)
    data.hubspot_contacts, data.hubspot_companies = crm.hubspot_contacts, crm.hubspot_companies
    data.salesforce_contacts = crm.salesforce_contacts
    data.salesforce_accounts = crm.salesforce_accounts
    return data


def _vat_id(rng: random.Random, country: str) -> str:
    """A synthetic VAT id in the country's format (no valid check digits)."""
    if country == "AT":
        return f"ATU{fake.digits(rng, 8)}"
    if country == "CH":
        return "CHE-{}.{}.{} MWST".format(*(fake.digits(rng, 3) for _ in range(3)))
    if country == "FR":
        return f"FR{fake.digits(rng, 11)}"
    return f"DE{fake.digits(rng, 9)}"


def _company(gen: fake.Gen, tenant: str, index: int) -> dict[str, Any]:
    rng = gen.rng
    country = fake.pick_country(rng)
    trade, last = rng.choice(fake.COMPANY_TRADES), rng.choice(fake.LAST_NAMES[country])
    name = f"{trade} {last} {rng.choice(fake.COMPANY_FORMS[country])}"
    if index == 1:
        name = f"Café Sonnenschein ☕ {rng.choice(fake.COMPANY_FORMS[country])}"
    slug = fake.ascii_slug(name.replace("&", " "), sep="-")
    domain = f"{slug}-{index}.{rng.choice(fake.EMAIL_DOMAINS)}"
    billing = fake.address(rng, country)
    shipping = fake.address(rng, country) if rng.random() < 0.3 else billing
    created = gen.moment()
    addresses = [_crm_address(gen, "Billing", name, billing, default=True)]
    if shipping is not billing:
        addresses.append(_crm_address(gen, "Shipping", name, shipping))
    return {
        "id": gen.uid(),
        "tenantId": tenant,
        "customerNumber": f"F-{200001 + index}",
        "name": name,
        "vatId": _vat_id(rng, country) if rng.random() < 0.9 else None,
        "taxId": f"{fake.digits(rng, 2)}/{fake.digits(rng, 3)}/{fake.digits(rng, 5)}"
        if country == "DE" and rng.random() < 0.5
        else None,
        "website": f"https://www.{domain}",
        "email": f"info@{domain}",
        "phone": fake.phone(rng, country),
        "customerType": rng.choice(["Business"] * 8 + ["Reseller", "Distributor"]),
        "language": fake.LANGUAGES[country],
        "currency": fake.CURRENCIES[country],
        "isActive": rng.random() > 0.05,
        "billingAddress": billing,
        "shippingAddress": dict(shipping),
        "addresses": addresses,
        "createdAt": iso(created),
        "updatedAt": iso(gen.moment(created)),
    }


def _crm_address(
    gen: fake.Gen, kind: str, company: str, addr: dict[str, Any], *, default: bool = False
) -> dict[str, Any]:
    return {
        "id": gen.uid(),
        "type": kind,
        "name": company,
        "company": company,
        **addr,
        "phone": None,
        "isDefault": default,
        "isActive": True,
    }


def _customers(
    gen: fake.Gen, tenant: str, count: int, companies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    rng = gen.rng
    roles = ["no_orders", "rtl", "emoji0", "emoji1", "long_street", "long_name"]
    roles += [f"invalid{i}" for i in range(len(INVALID_EMAILS))]
    slots = dict(zip(rng.sample(range(count), min(count, len(roles))), roles, strict=False))
    taken: set[str] = set()
    out = []
    for i in range(count):
        role = slots.get(i, "")
        country = fake.pick_country(rng)
        first, last = rng.choice(fake.FIRST_NAMES[country]), rng.choice(fake.LAST_NAMES[country])
        if role == "rtl":
            first, last = RTL_NAME
        elif role.startswith("emoji"):
            first, last = EMOJI_NAMES[int(role[-1])]
        elif role == "long_name":
            last = LONG_SURNAME
        email = _unique_email(rng, first, last, taken, i)
        if role.startswith("invalid"):
            email = INVALID_EMAILS[int(role[len("invalid") :])]
        billing = fake.address(rng, country)
        if role == "long_street":
            billing["street1"] = LONG_STREET
        shipping = dict(billing) if rng.random() < 0.8 else fake.address(rng, country)
        company = rng.choice(companies) if rng.random() < 0.25 else None
        currency = fake.CURRENCIES[country] if rng.random() > 0.05 else "USD"
        created = gen.moment()
        out.append(
            {
                "id": gen.uid(),
                "tenantId": tenant,
                "customerNumber": f"K-{100001 + i}",
                "email": email,
                "firstName": first,
                "lastName": last,
                "salutation": None,
                "phone": fake.phone(rng, country) if rng.random() < 0.9 else None,
                "mobile": fake.phone(rng, country) if rng.random() < 0.2 else None,
                "companyId": company["id"] if company else None,
                "customerType": "Business" if company else "Individual",
                "language": fake.LANGUAGES[country],
                "currency": currency,
                "isActive": rng.random() > 0.03,
                "billingAddress": billing,
                "shippingAddress": shipping,
                "createdAt": iso(created),
                "updatedAt": iso(gen.moment(created)),
                "_noOrders": role == "no_orders",
            }
        )
    return out


def _unique_email(rng: random.Random, first: str, last: str, taken: set[str], i: int) -> str:
    slug = fake.ascii_slug(f"{first} {last}") or f"kunde{i}"
    email = f"{slug}@{rng.choice(fake.EMAIL_DOMAINS)}"
    while email in taken:
        email = f"{slug}.{rng.randint(2, 999)}@{rng.choice(fake.EMAIL_DOMAINS)}"
    taken.add(email)
    return email


def _consents(gen: fake.Gen, tenant: str, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = gen.rng
    out = []
    for c in customers:
        if not fake.EMAIL_RE.match(c["email"]) or rng.random() > 0.85:
            continue
        pairs = [("email", "marketing"), ("email", "newsletter")]
        if rng.random() < 0.1:
            pairs.append(("sms", "marketing"))
        for channel, purpose in pairs:
            captured = gen.moment(datetime.fromisoformat(c["createdAt"].replace("Z", "+00:00")))
            status = rng.choices(["granted", "withdrawn", "unknown"], weights=[70, 25, 5])[0]
            out.append(
                {
                    "id": gen.uid(),
                    "tenantId": tenant,
                    "subjectId": c["id"],
                    "email": c["email"],
                    "channel": channel,
                    "purpose": purpose,
                    "status": status,
                    "legalBasis": "consent",
                    "source": rng.choice(["registration", "checkout", "newsletter-form"]),
                    "capturedAt": iso(captured),
                    "wordingVersion": rng.choice(["2023-11", "2024-06", "2025-01"]),
                    "ipAddress": fake.ip_address(rng),
                    "createdAt": iso(captured),
                    "updatedAt": iso(captured),
                }
            )
    return out


def _erasures(gen: fake.Gen, tenant: str, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    valid = [c for c in customers if fake.EMAIL_RE.match(c["email"])]
    out = []
    for c in gen.rng.sample(valid, min(2, len(valid))):
        requested = iso(gen.moment(days=10))
        out.append(
            {
                "id": gen.uid(),
                "tenantId": tenant,
                "subjectId": c["id"],
                "email": c["email"],
                "status": "pending",
                "origin": "b2connect",
                "source": "account-page",
                "reason": "Art. 17 GDPR request from the customer account page",
                "note": None,
                "requestedAt": requested,
                "completedAt": None,
                "createdAt": requested,
                "updatedAt": requested,
            }
        )
    return out

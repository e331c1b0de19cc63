"""CRM records that exist before the first sync: some match shop customers, some do not.

About 10% of the shop's valid emails already exist in each CRM (in HubSpot partly with
different case or stray whitespace), a few CRM-only people and companies exist, and one
email sits on two Salesforce contacts so that identity resolution meets an ambiguous match.
Values are kept within the CRMs' field lengths so the emulators accept them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from emulators import _fakedata as fake


@dataclass
class CrmSeed:
    hubspot_contacts: list[dict[str, str]] = field(default_factory=list)
    hubspot_companies: list[dict[str, str]] = field(default_factory=list)
    salesforce_contacts: list[dict[str, Any]] = field(default_factory=list)
    salesforce_accounts: list[dict[str, Any]] = field(default_factory=list)


def _email_variant(rng: random.Random, email: str) -> str:
    """The same address as a person might have typed it into the CRM."""
    return rng.choice([email.upper(), f" {email} ", email.capitalize(), f"{email}\t"])


def _domain(company: dict[str, Any]) -> str:
    host = urlparse(company["website"]).hostname or ""
    return host.removeprefix("www.")


def crm_records(
    rng: random.Random, customers: list[dict[str, Any]], companies: list[dict[str, Any]]
) -> CrmSeed:
    """HubSpot and Salesforce records for the seeded shop."""
    valid = [c for c in customers if fake.EMAIL_RE.match(c["email"])]
    share = min(len(valid), max(1, round(len(customers) * 0.10)))
    extra = max(2, len(customers) // 20)
    seed = CrmSeed()
    for person in rng.sample(valid, share):
        email = person["email"]
        if rng.random() < 0.4:
            email = _email_variant(rng, email)
        seed.hubspot_contacts.append(_hubspot_contact(rng, person, email))
    for k in range(extra):
        seed.hubspot_contacts.append(_hubspot_contact(rng, _crm_only_person(rng, k), None))
    for company in rng.sample(companies, max(1, len(companies) * 3 // 10)):
        addr = company["billingAddress"]
        seed.hubspot_companies.append(
            {
                "name": company["name"],
                "domain": _domain(company),
                "phone": company["phone"],
                "city": addr["city"],
                "country": addr["countryCode"],
            }
        )
    seed.hubspot_companies.append(
        {"name": "Nordlicht Handels GmbH", "domain": "nordlicht-handel.example.com", "city": "Kiel"}
    )
    people = rng.sample(valid, share)
    seed.salesforce_contacts = [_salesforce_contact(rng, p) for p in people]
    if seed.salesforce_contacts:
        twin = dict(seed.salesforce_contacts[0])
        twin.update({"FirstName": f"{(twin.get('FirstName') or 'X')[0]}.", "Phone": None})
        twin["LeadSource"] = "Partner Referral"
        seed.salesforce_contacts.append(twin)
    for k in range(extra):
        seed.salesforce_contacts.append(_salesforce_contact(rng, _crm_only_person(rng, 100 + k)))
    for company in rng.sample(companies, max(1, len(companies) * 3 // 10)):
        addr = company["billingAddress"]
        seed.salesforce_accounts.append(
            {
                "Name": company["name"],
                "VAT_Id__c": company["vatId"],
                "Type": "Customer - Direct",
                "Website": company["website"],
                "Phone": company["phone"],
                "BillingStreet": (addr["street1"] or "")[:255],
                "BillingCity": addr["city"],
                "BillingPostalCode": addr["postalCode"],
                "BillingCountry": addr["countryCode"],
            }
        )
    seed.salesforce_accounts.append({"Name": "Bergblick Outdoor AG", "BillingCity": "Chur"})
    return seed


def _crm_only_person(rng: random.Random, k: int) -> dict[str, Any]:
    country = fake.pick_country(rng)
    first = rng.choice(fake.FIRST_NAMES[country])
    last = rng.choice(fake.LAST_NAMES[country])
    return {
        "email": f"crm-only.{fake.ascii_slug(f'{first} {last}')}.{k}@example.org",
        "firstName": first,
        "lastName": last,
        "phone": fake.phone(rng, country),
        "billingAddress": fake.address(rng, country),
    }


def _hubspot_contact(
    rng: random.Random, person: dict[str, Any], email: str | None
) -> dict[str, str]:
    addr = person.get("billingAddress") or {}
    props = {
        "email": email or person["email"],
        "firstname": person.get("firstName") or "",
        "lastname": person.get("lastName") or "",
        "phone": person.get("phone") or "",
        "city": addr.get("city") or "",
        "country": addr.get("countryCode") or "",
        "lifecyclestage": rng.choice(["subscriber", "lead", "customer"]),
    }
    return {k: v for k, v in props.items() if v}


def _salesforce_contact(rng: random.Random, person: dict[str, Any]) -> dict[str, Any]:
    addr = person.get("billingAddress") or {}
    return {
        "FirstName": (person.get("firstName") or "")[:40] or None,
        "LastName": (person.get("lastName") or "(unknown)")[:80],
        "Email": person["email"],
        "Phone": person.get("phone"),
        "MailingStreet": (addr.get("street1") or "")[:255] or None,
        "MailingCity": addr.get("city"),
        "MailingPostalCode": addr.get("postalCode"),
        "MailingCountry": addr.get("countryCode"),
        "LeadSource": rng.choice(["Web", "Phone Inquiry", "Partner Referral"]),
    }

"""emulators.seed: deterministic, synthetic and deliberately messy seed data."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from datetime import timedelta

import pytest

from emulators import EMAIL_RE
from emulators.b2connect import DEFAULT_TENANT, B2ConnectEmulator
from emulators.seed import SeedData, generate
from tests.fixtures.b2connect import SEED_NOW

EXAMPLE_DOMAINS = ("example.com", "example.de", "example.org")


@pytest.fixture(scope="module")
def data() -> SeedData:
    """The default-size seed (200 customers)."""
    return generate(customers=200, seed=42, now=SEED_NOW)


def _on_example_domain(email: str) -> bool:
    """On example.com/.de/.org or a subdomain, or the reserved bare name ``example``."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return domain == "example" or any(
        domain == d or domain.endswith("." + d) for d in EXAMPLE_DOMAINS
    )


def test_same_seed_same_data(data: SeedData) -> None:
    """generate() is deterministic for (seed, now)."""
    assert generate(customers=200, seed=42, now=SEED_NOW) == data


def test_other_seed_other_data(data: SeedData) -> None:
    """A different seed gives different people."""
    other = generate(customers=200, seed=43, now=SEED_NOW)
    assert [c["email"] for c in other.customers] != [c["email"] for c in data.customers]


def test_sizes(data: SeedData) -> None:
    """Companies about customers/5, orders about three per customer, 1-4 lines each."""
    assert len(data.customers) == 200
    assert len(data.companies) == 40
    assert 450 <= len(data.orders) <= 750
    assert all(1 <= len(o["items"]) <= 4 for o in data.orders)
    assert data.tenant_id == DEFAULT_TENANT
    assert {r["tenantId"] for r in data.customers + data.orders} == {DEFAULT_TENANT}


def test_ids_are_unique_guids(data: SeedData) -> None:
    """Every record id is a distinct Guid."""
    ids = [r["id"] for r in data.customers + data.companies + data.orders + data.consents]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)


def test_names_have_umlauts_accents_emoji_and_rtl(data: SeedData) -> None:
    """Names exercise Unicode: umlauts, accents, emoji and one right-to-left name."""
    names = [f"{c['firstName']} {c['lastName']}" for c in data.customers]
    text = " ".join(names)
    assert re.search("[äöüÄÖÜß]", text)
    assert re.search("[éèëçÉ]", text)
    emoji = [n for n in names if any(unicodedata.category(ch) == "So" for ch in n)]
    assert len(emoji) >= 2
    rtl = [n for n in names if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in n)]
    assert len(rtl) == 1
    assert any("☕" in c["name"] for c in data.companies)


def test_phone_numbers_come_in_mixed_formats(data: SeedData) -> None:
    """Phones are written in several styles: +49, 0049, (0), slashes, dashes, dots."""
    phones = [c["phone"] for c in data.customers if c["phone"]]
    assert any(p.startswith("+") for p in phones)
    assert any(p.startswith("00") for p in phones)
    assert any("/" in p for p in phones)
    assert any("-" in p for p in phones)
    assert any("(0)" in p for p in phones)
    assert any(c["phone"] is None for c in data.customers)


def test_a_handful_of_invalid_emails(data: SeedData) -> None:
    """Some emails are broken (missing @, double @, spaces), but only a handful."""
    invalid = [c["email"] for c in data.customers if not EMAIL_RE.match(c["email"])]
    assert 3 <= len(invalid) <= 10
    assert any("@" not in e for e in invalid)


def test_emails_are_on_example_domains(data: SeedData) -> None:
    """No real mailbox: every address with a domain is on example.com/.de/.org."""
    emails = [c["email"] for c in data.customers if "@" in c["email"]]
    emails += [c["email"] for c in data.companies]
    emails += [p["email"] for p in data.hubspot_contacts]
    emails += [p["Email"] for p in data.salesforce_contacts]
    assert all(_on_example_domain(e) for e in emails), [
        e for e in emails if not _on_example_domain(e)
    ]


def test_over_long_street_and_surname(data: SeedData) -> None:
    """One street exceeds Salesforce's 255 characters, one surname its 80."""
    assert any(len(c["billingAddress"]["street1"]) > 255 for c in data.customers)
    assert any(len(c["lastName"]) > 80 for c in data.customers)


def test_customer_without_orders_and_orphan_order(data: SeedData) -> None:
    """At least one customer has no order; one order names an unknown customer."""
    customers = {c["id"] for c in data.customers}
    with_orders = {o["customerId"] for o in data.orders}
    assert customers - with_orders
    orphans = [o for o in data.orders if o["customerId"] not in customers]
    assert len(orphans) == 1


def test_companies_have_vat_ids(data: SeedData) -> None:
    """Most companies carry a VAT id in their country's format."""
    vat = [c["vatId"] for c in data.companies if c["vatId"]]
    assert len(vat) >= len(data.companies) * 0.7
    assert all(
        re.match(r"^(DE\d{9}|ATU\d{8}|CHE-\d{3}\.\d{3}\.\d{3} MWST|FR\d{11})$", v) for v in vat
    )
    linked = {c["companyId"] for c in data.customers if c["companyId"]}
    assert linked <= {c["id"] for c in data.companies}


def test_order_statuses_currencies_and_dates(data: SeedData) -> None:
    """Realistic mix: mostly delivered, valid payment states, EUR first, last two years."""
    statuses = Counter(o["status"] for o in data.orders)
    assert statuses.most_common(1)[0][0] == "delivered"
    assert statuses["cancelled"] > 0
    assert {o["paymentStatus"] for o in data.orders} <= {"pending", "paid", "failed", "refunded"}
    currencies = Counter(o["currency"] for o in data.orders)
    assert currencies.most_common(1)[0][0] == "EUR"
    assert currencies["CHF"] > 0 and currencies["USD"] > 0
    oldest = (SEED_NOW - timedelta(days=731)).isoformat().replace("+00:00", "Z")
    now = SEED_NOW.isoformat().replace("+00:00", ".000000Z")
    assert all(oldest <= o["createdAt"] <= o["updatedAt"] <= now for o in data.orders)
    assert any(o["orderNumber"] == "" for o in data.orders)
    assert any(o["returns"] for o in data.orders)


def test_order_amounts_are_consistent(data: SeedData) -> None:
    """Lines are quantity x unit price; the total adds up."""
    for o in data.orders:
        for line in o["items"]:
            assert line["totalPrice"] == pytest.approx(line["quantity"] * line["unitPrice"])
        total = o["subtotal"] + o["taxAmount"] - o["discountAmount"] + o["shippingAmount"]
        assert o["totalAmount"] == pytest.approx(total, abs=0.001)


def test_consents_for_most_customers(data: SeedData) -> None:
    """Most customers have email marketing and newsletter consent records."""
    subjects = {
        k["subjectId"]
        for k in data.consents
        if (k["channel"], k["purpose"]) == ("email", "marketing")
    }
    assert len(subjects) >= 0.7 * len(data.customers)
    assert {k["status"] for k in data.consents} == {"granted", "withdrawn", "unknown"}
    assert all(k["ipAddress"] for k in data.consents)


def test_hubspot_overlap_with_case_and_whitespace(data: SeedData) -> None:
    """About 10% of shop emails exist in HubSpot, some typed differently, plus CRM-only people."""
    shop = {c["email"] for c in data.customers}
    emails = [p["email"] for p in data.hubspot_contacts]
    matching = [e for e in emails if e.strip().lower() in shop]
    assert 15 <= len(matching) <= 25
    assert any(e not in shop for e in matching)
    assert [e for e in emails if e.strip().lower() not in shop]
    assert all(isinstance(v, str) for p in data.hubspot_contacts for v in p.values())
    domains = {c["website"].split("//www.")[1] for c in data.companies}
    assert any(c.get("domain") in domains for c in data.hubspot_companies)


def test_salesforce_has_one_ambiguous_email(data: SeedData) -> None:
    """Exactly one email sits on two Salesforce contacts; about 10% match the shop."""
    counts = Counter(p["Email"].lower() for p in data.salesforce_contacts)
    assert [n for n in counts.values() if n > 1] == [2]
    shop = {c["email"] for c in data.customers}
    assert 15 <= sum(1 for e in counts if e in shop) <= 25
    assert all(len(p["LastName"]) <= 80 for p in data.salesforce_contacts)
    assert data.salesforce_accounts


def test_small_seed_keeps_the_special_cases() -> None:
    """With only 12 customers every special case is still present."""
    small = generate(customers=12, seed=1, now=SEED_NOW)
    invalid = [c for c in small.customers if not EMAIL_RE.match(c["email"])]
    assert len(invalid) == 5
    assert any(len(c["billingAddress"]["street1"]) > 255 for c in small.customers)
    assert {c["id"] for c in small.customers} - {o["customerId"] for o in small.orders}


def test_seed_loads_into_the_emulator(data: SeedData) -> None:
    """B2ConnectEmulator.load takes every record of the seed."""
    emu = B2ConnectEmulator()
    count = emu.load(data)
    total = sum(
        len(getattr(data, e)) for e in ("customers", "companies", "orders", "consents", "erasures")
    )
    assert count == total
    assert len(emu.admin_list("orders")) == len(data.orders)

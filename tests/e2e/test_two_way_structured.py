"""Structured values: an object or a list B2Connect keeps is stored by
the CRM as text (compact JSON, ``a;b``); b2sync never pulls that text back into the shop as
a flattened value, and a CRM user's edit of it goes back in the shop's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapping.config import parse_config
from sync.hashing import FieldHasher
from tests.e2e.conftest import E2E
from tests.e2e.two_way_support import HS, TwoWay, open_two_way, two_way_config

FIELD = "      - {b2connect: shippingAddress, crm: jobtitle}\n"


@pytest.fixture
def tw(e2e: E2E, tmp_path: Path) -> Iterator[TwoWay]:
    _, path = two_way_config(tmp_path, salesforce=False)
    text = path.read_text().replace(
        "      - {b2connect: lastName,", FIELD + "      - {b2connect: lastName,"
    )
    path.write_text(text)
    yield from open_two_way(e2e, parse_config(text, str(path)))


def test_an_object_field_is_quiet_after_the_backfill(tw: TwoWay) -> None:
    """The address object pushed as JSON text: a second cycle writes nothing, the shop keeps
    its objects."""
    before = {c["id"]: c["shippingAddress"] for c in tw.e2e.records("b2connect", "customers")}
    assert tw.settle() == 2  # the backfill, then a quiet cycle
    after = {c["id"]: c["shippingAddress"] for c in tw.e2e.records("b2connect", "customers")}
    assert after == before


def test_a_crm_edit_of_the_object_goes_back_as_an_object(tw: TwoWay) -> None:
    """A HubSpot user edits the JSON text: the shop gets an object with the new city."""
    tw.settle()
    key, contact = sorted(tw.linked(HS).items())[0]
    address = dict(tw.customer(key)["shippingAddress"])
    address["city"] = "Bremen"
    tw.hubspot_user(contact, {"jobtitle": json.dumps(address, sort_keys=True)})
    tw.settle()
    assert tw.customer(key)["shippingAddress"] == address


def test_a_list_hashes_like_its_crm_text() -> None:
    """["a", "b"] and the CRMs' multi-select text "a;b" are one value to the merge."""
    hasher = FieldHasher(b"structured-values-key-012345")
    assert hasher.value("tags", ["vip", "b2b"]) == hasher.value("tags", "vip;b2b")
    assert hasher.value("tags", []) == hasher.value("tags", None)
    assert hasher.value("tags", ["vip"]) != hasher.value("tags", ["b2b"])

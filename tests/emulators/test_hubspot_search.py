"""HubSpot emulator: CRM search filters, sorting, paging caps and its own rate limit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import hubspot
import pytest
import requests
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest
from hubspot.crm.objects import PublicObjectSearchRequest as ObjectSearch

from emulators.hubspot import HubSpotEmulator
from tests.fixtures.hubspot import hubspot_client_for


def _search(client: hubspot.Client, *filters: dict[str, Any], **kw: Any) -> Any:
    groups = [{"filters": list(filters)}] if filters else []
    return client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=groups, **kw)
    )


def _ids(resp: Any) -> list[str]:
    return [r.id for r in resp.results]


@pytest.fixture
def people(hubspot_emulator: HubSpotEmulator) -> dict[str, str]:
    """Four contacts: name -> id."""
    rows = [
        {"email": "ada@example.com", "firstname": "Ada", "lifecyclestage": "lead", "phone": "1"},
        {"email": "bob@example.org", "firstname": "Bob", "lifecyclestage": "customer"},
        {"email": "cy@example.com", "firstname": "Cy", "lifecyclestage": "customer", "phone": "3"},
        {"email": "dee@shop.example.com", "firstname": "Dee"},
    ]
    return {
        r["firstname"]: hubspot_emulator.admin_create("contacts", {"properties": r})["id"]
        for r in rows
    }


def test_eq_is_case_insensitive_and_returns_total(
    hubspot_client: hubspot.Client, people: dict[str, str]
) -> None:
    """EQ on a string matches case-insensitively; the response carries total."""
    resp = _search(
        hubspot_client, {"propertyName": "email", "operator": "EQ", "value": "ADA@example.com"}
    )
    assert resp is not None and resp.total == 1
    assert _ids(resp) == [people["Ada"]]


def test_default_search_properties(hubspot_client: hubspot.Client, people: dict[str, str]) -> None:
    """Without properties, contacts come back with the documented default set."""
    resp = _search(hubspot_client, {"propertyName": "firstname", "operator": "EQ", "value": "Bob"})
    assert set(resp.results[0].properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }


def test_requested_properties_plus_basics(
    hubspot_client: hubspot.Client, people: dict[str, str]
) -> None:
    """Asked-for properties come back along with hs_object_id and the dates."""
    resp = _search(
        hubspot_client,
        {"propertyName": "phone", "operator": "EQ", "value": "3"},
        properties=["phone"],
    )
    assert set(resp.results[0].properties) == {
        "phone",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (
            {"propertyName": "lifecyclestage", "operator": "NEQ", "value": "customer"},
            ["Ada", "Dee"],
        ),
        ({"propertyName": "firstname", "operator": "IN", "values": ["ada", "cy"]}, ["Ada", "Cy"]),
        (
            {"propertyName": "lifecyclestage", "operator": "NOT_IN", "values": ["lead"]},
            ["Bob", "Cy", "Dee"],
        ),
        ({"propertyName": "phone", "operator": "HAS_PROPERTY"}, ["Ada", "Cy"]),
        ({"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}, ["Bob", "Dee"]),
        ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "example.org"}, ["Bob"]),
        (
            {"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@example.com"},
            ["Ada", "Cy"],
        ),
        (
            {"propertyName": "email", "operator": "NOT_CONTAINS_TOKEN", "value": "shop"},
            ["Ada", "Bob", "Cy"],
        ),
        ({"propertyName": "phone", "operator": "LT", "value": "3"}, ["Ada"]),
        ({"propertyName": "phone", "operator": "GTE", "value": "1"}, ["Ada", "Cy"]),
        ({"propertyName": "firstname", "operator": "GT", "value": "bob"}, ["Cy", "Dee"]),
        ({"propertyName": "firstname", "operator": "LTE", "value": "bob"}, ["Ada", "Bob"]),
    ],
)
def test_operators(
    hubspot_client: hubspot.Client, people: dict[str, str], flt: dict[str, Any], expected: list[str]
) -> None:
    """Each operator selects the documented records."""
    assert sorted(_ids(_search(hubspot_client, flt))) == sorted(people[n] for n in expected)


def test_filter_groups_are_ored_and_filters_anded(
    hubspot_client: hubspot.Client, people: dict[str, str]
) -> None:
    """Groups OR together, filters inside a group AND together."""
    groups = [
        {
            "filters": [
                {"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"},
                {"propertyName": "phone", "operator": "HAS_PROPERTY"},
            ]
        },
        {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "dee"}]},
    ]
    resp = hubspot_client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(filter_groups=groups)
    )
    assert sorted(_ids(resp)) == sorted([people["Cy"], people["Dee"]])


def test_numeric_properties_compare_as_numbers(hubspot_client: hubspot.Client) -> None:
    """GT on a number property compares numerically, not as text."""
    api = hubspot_client.crm.objects
    for price in ("9", "10", "100"):
        api.basic_api.create(
            "orders",
            hubspot.crm.objects.SimplePublicObjectInputForCreate(
                properties={"hs_total_price": price}
            ),
        )
    resp = api.search_api.do_search(
        "orders",
        ObjectSearch(
            filter_groups=[
                {"filters": [{"propertyName": "hs_total_price", "operator": "GT", "value": "9.5"}]}
            ],
            properties=["hs_total_price"],
        ),
    )
    assert sorted(r.properties["hs_total_price"] for r in resp.results) == ["10", "100"]


def test_dates_filter_by_epoch_ms_and_iso(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """lastmodifieddate filters accept epoch-ms strings and ISO strings alike."""
    now = [1_700_000_000.0]
    emu = hubspot_emulator_factory(clock=lambda: now[0])
    client = hubspot_client_for(emu)
    first = emu.admin_create("contacts", {"properties": {"email": "one@example.com"}})["id"]
    now[0] += 100
    second = emu.admin_create("contacts", {"properties": {"email": "two@example.com"}})["id"]
    by_ms = _search(
        client, {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1700000050000"}
    )
    by_iso = _search(
        client,
        {"propertyName": "lastmodifieddate", "operator": "LT", "value": "2023-11-14T22:14:10Z"},
    )
    between = _search(
        client,
        {
            "propertyName": "createdate",
            "operator": "BETWEEN",
            "value": "1700000000000",
            "highValue": "1700000100000",
        },
    )
    assert _ids(by_ms) == [second] and _ids(by_iso) == [first]
    assert _ids(between) == [first, second]


def test_sort_descending_object_form(
    hubspot_client: hubspot.Client, people: dict[str, str]
) -> None:
    """One sort in object form orders the results."""
    resp = _search(hubspot_client, sorts=[{"propertyName": "firstname", "direction": "DESCENDING"}])
    assert _ids(resp) == [people[n] for n in ("Dee", "Cy", "Bob", "Ada")]


def test_sort_string_form(hubspot_client: hubspot.Client, people: dict[str, str]) -> None:
    """The SDK's string sort form (``-prop`` for descending) is accepted."""
    assert _ids(_search(hubspot_client, sorts=["firstname"]))[0] == people["Ada"]
    assert _ids(_search(hubspot_client, sorts=["-firstname"]))[0] == people["Dee"]


def test_only_one_sort_allowed(hubspot_client: hubspot.Client, people: dict[str, str]) -> None:
    """Two sorts are a 400."""
    with pytest.raises(ApiException) as info:
        _search(hubspot_client, sorts=["firstname", "email"])
    assert info.value.status == 400


def test_limit_above_200_is_rejected(hubspot_client: hubspot.Client) -> None:
    """limit may be at most 200."""
    with pytest.raises(ApiException) as info:
        _search(hubspot_client, limit=201)
    assert json.loads(info.value.body)["category"] == "VALIDATION_ERROR"


def test_paging_with_after(hubspot_client: hubspot.Client, people: dict[str, str]) -> None:
    """``after`` pages through results; paging.next.after is a string offset."""
    first = _search(hubspot_client, limit=3, sorts=["hs_object_id"])
    assert first.paging.next.after == "3" and first.total == 4
    second = _search(hubspot_client, limit=3, after=first.paging.next.after, sorts=["hs_object_id"])
    assert _ids(first) + _ids(second) == sorted(people.values(), key=int)
    assert second.paging is None


def test_paging_past_ten_thousand_is_rejected(hubspot_client: hubspot.Client) -> None:
    """Search cannot page beyond 10,000 results."""
    with pytest.raises(ApiException) as info:
        _search(hubspot_client, after="10000")
    assert info.value.status == 400


def test_page_stops_at_ten_thousand(
    hubspot_emulator: HubSpotEmulator, hubspot_client: hubspot.Client
) -> None:
    """A page that straddles result 10,000 is cut there, with a next cursor the API refuses."""
    for i in range(10_050):
        hubspot_emulator.admin_create("contacts", {"properties": {"firstname": f"n{i}"}})
    resp = _search(hubspot_client, limit=200, after="9900")
    assert resp.total == 10_050 and len(resp.results) == 100
    assert resp.paging.next.after == "10000"


def test_filter_group_limits(hubspot_client: hubspot.Client) -> None:
    """At most 5 groups, 10 filters per group and 25 filters in total."""
    f = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    too_many_groups = [{"filters": [f]} for _ in range(6)]
    too_wide_group = [{"filters": [f] * 11}]
    too_many_filters = [{"filters": [f] * 9}] * 3
    for groups in (too_many_groups, too_wide_group, too_many_filters):
        with pytest.raises(ApiException) as info:
            hubspot_client.crm.contacts.search_api.do_search(
                PublicObjectSearchRequest(filter_groups=groups)
            )
        assert info.value.status == 400


def test_archived_records_never_returned(
    hubspot_client: hubspot.Client, hubspot_emulator: HubSpotEmulator, people: dict[str, str]
) -> None:
    """Archived records drop out of search."""
    hubspot_client.crm.contacts.basic_api.archive(people["Ada"])
    assert people["Ada"] not in _ids(_search(hubspot_client))


def test_unknown_filter_property_is_rejected(hubspot_client: hubspot.Client) -> None:
    """Filtering on a property that does not exist is a 400."""
    with pytest.raises(ApiException):
        _search(hubspot_client, {"propertyName": "nope", "operator": "EQ", "value": "x"})


def test_query_matches_text_prefixes(
    hubspot_client: hubspot.Client, people: dict[str, str]
) -> None:
    """``query`` matches word prefixes in the default text properties."""
    assert _ids(_search(hubspot_client, query="bo")) == [people["Bob"]]


def test_search_responses_have_no_rate_limit_headers(hubspot_client: hubspot.Client) -> None:
    """Search responses carry no X-HubSpot-RateLimit headers; other calls do."""
    search = hubspot_client.api_request(
        {"method": "POST", "path": "/crm/v3/objects/contacts/search", "body": {"filterGroups": []}}
    )
    listing = hubspot_client.api_request({"method": "GET", "path": "/crm/v3/objects/contacts"})
    assert search.status_code == 200
    assert not [h for h in search.headers if h.lower().startswith("x-hubspot-ratelimit")]
    assert listing.headers["X-HubSpot-RateLimit-Max"] == "190"


def test_search_has_its_own_secondly_limit(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """The 3rd search within one second (limit 2) is a 429 with policyName SECONDLY."""
    now = [1_700_000_000.0]
    emu = hubspot_emulator_factory(search_per_second=2, clock=lambda: now[0])
    client = hubspot_client_for(emu)
    _search(client)
    _search(client)
    with pytest.raises(ApiException) as info:
        _search(client)
    body = json.loads(info.value.body)
    assert info.value.status == 429
    assert body["policyName"] == "SECONDLY"
    assert body["message"] == "You have reached your secondly limit."
    client.crm.contacts.basic_api.get_page()  # other calls are not affected
    now[0] += 1.5
    assert _search(client).total == 0


def test_search_index_lag_knob(hubspot_emulator_factory: Callable[..., HubSpotEmulator]) -> None:
    """With search_lag_s set, new records and edits appear in search only after the lag."""
    now = [1_700_000_000.0]
    emu = hubspot_emulator_factory(clock=lambda: now[0])
    emu.search_lag_s = 5
    client = hubspot_client_for(emu)
    rec = emu.admin_create(
        "contacts", {"properties": {"email": "lag@example.com", "firstname": "Old"}}
    )
    assert _search(client).total == 0
    now[0] += 6
    emu.admin_patch("contacts", rec["id"], {"firstname": "New"})
    found = _search(client, {"propertyName": "firstname", "operator": "EQ", "value": "old"})
    assert _ids(found) == [rec["id"]]
    now[0] += 6
    assert (
        _search(client, {"propertyName": "firstname", "operator": "EQ", "value": "new"}).total == 1
    )


def test_each_write_keeps_the_lag_it_was_made_with(
    hubspot_emulator_factory: Callable[..., HubSpotEmulator],
) -> None:
    """A write made under a 5 s lag stays out of search for 5 s even after the lag is set
    back to 0 (admin route); the old version is what search shows meanwhile."""
    now = [1_700_000_000.0]
    emu = hubspot_emulator_factory(clock=lambda: now[0])
    client = hubspot_client_for(emu)
    rec = emu.admin_create("contacts", {"email": "late@example.com", "firstname": "Old"})
    lag = requests.post(f"{emu.url}/_emulator/search_lag", json={"seconds": 5}, timeout=5)
    assert lag.json() == {"seconds": 5.0}
    emu.admin_patch("contacts", rec["id"], {"firstname": "New"})
    requests.post(f"{emu.url}/_emulator/search_lag", json={"seconds": 0}, timeout=5)
    old = {"propertyName": "firstname", "operator": "EQ", "value": "old"}
    assert _ids(_search(client, old)) == [rec["id"]]
    now[0] += 5
    new = {"propertyName": "firstname", "operator": "EQ", "value": "new"}
    assert _ids(_search(client, new)) == [rec["id"]]
    bad = requests.post(f"{emu.url}/_emulator/search_lag", json={"seconds": -1}, timeout=5)
    assert bad.status_code == 400

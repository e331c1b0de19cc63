"""HubSpot emulator: associations v4 through the real client."""

from __future__ import annotations

import hubspot
import pytest
from hubspot.crm.associations.v4 import (
    ApiException,
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import PublicGdprDeleteInput
from hubspot.crm.objects import SimplePublicObjectInputForCreate

from emulators.hubspot import HubSpotEmulator

ORDER_TO_CONTACT, CONTACT_TO_ORDER = 507, 508
ORDER_TO_LINE_ITEM, LINE_ITEM_TO_ORDER = 513, 514


@pytest.fixture
def ids(hubspot_emulator: HubSpotEmulator) -> dict[str, str]:
    """One order, two contacts, two line items and a company."""

    def make(obj: str, **props: str) -> str:
        return str(hubspot_emulator.admin_create(obj, {"properties": props})["id"])

    return {
        "order": make("orders", hs_order_name="#1"),
        "c1": make("contacts", email="c1@example.com"),
        "c2": make("contacts", email="c2@example.com"),
        "li1": make("line_items", name="A"),
        "li2": make("line_items", name="B"),
        "company": make("companies", name="Acme"),
    }


def test_create_default_lists_both_directions(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """The default PUT answers 200 with the forward and reverse specs."""
    resp = hubspot_client.crm.associations.v4.basic_api.create_default(
        "orders", ids["order"], "contacts", ids["c1"]
    )
    assert resp is not None and resp.status == "COMPLETE"
    specs = {(r._from.id, r.to.id, r.association_spec.association_type_id) for r in resp.results}
    assert specs == {
        (ids["order"], ids["c1"], ORDER_TO_CONTACT),
        (ids["c1"], ids["order"], CONTACT_TO_ORDER),
    }


def test_labelled_create_answers_201(hubspot_client: hubspot.Client, ids: dict[str, str]) -> None:
    """A typed PUT answers 201 with LabelsBetweenObjectPair."""
    pair = hubspot_client.crm.associations.v4.basic_api.create(
        "contacts",
        ids["c1"],
        "companies",
        ids["company"],
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    assert pair is not None
    assert (pair.from_object_type_id, pair.to_object_type_id) == ("0-1", "0-2")
    assert pair.from_object_id == ids["c1"] and pair.labels == ["Primary"]


def test_labelled_create_rejects_wrong_type(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """A type id that does not belong to the pair is a 400."""
    with pytest.raises(ApiException) as info:
        hubspot_client.crm.associations.v4.basic_api.create(
            "orders",
            ids["order"],
            "contacts",
            ids["c1"],
            [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)],
        )
    assert info.value.status == 400


def test_get_page_lists_targets_with_types(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """GET lists associated ids with their type ids, from either side."""
    api = hubspot_client.crm.associations.v4.basic_api
    api.create_default("orders", ids["order"], "line_items", ids["li1"])
    api.create_default("line_items", ids["li2"], "orders", ids["order"])
    page = api.get_page("orders", ids["order"], "line_items", limit=500)
    assert [r.to_object_id for r in page.results] == [ids["li1"], ids["li2"]]
    assert {t.type_id for r in page.results for t in r.association_types} == {ORDER_TO_LINE_ITEM}
    back = api.get_page("line_items", ids["li1"], "order")
    assert back.results[0].association_types[0].type_id == LINE_ITEM_TO_ORDER


def test_archive_answers_204(hubspot_client: hubspot.Client, ids: dict[str, str]) -> None:
    """DELETE removes the association in both directions."""
    api = hubspot_client.crm.associations.v4.basic_api
    api.create_default("orders", ids["order"], "contacts", ids["c1"])
    assert api.archive("orders", ids["order"], "contacts", ids["c1"]) is None
    assert api.get_page("contacts", ids["c1"], "orders").results == []


def test_batch_create_201_and_207(hubspot_client: hubspot.Client, ids: dict[str, str]) -> None:
    """batch/create is 201; a missing object makes it a 207 with fromObjectId context."""
    api = hubspot_client.crm.associations.v4.batch_api
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": ORDER_TO_LINE_ITEM}]
    ok = api.create(
        "orders",
        "line_items",
        BatchInputPublicAssociationMultiPost(
            inputs=[{"from": {"id": ids["order"]}, "to": {"id": ids["li1"]}, "types": spec}]
        ),
    )
    assert ok.results[0].to_object_id == ids["li1"] and not hasattr(ok, "errors")
    partial = api.create(
        "orders",
        "line_items",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                {"from": {"id": ids["order"]}, "to": {"id": ids["li2"]}, "types": spec},
                {"from": {"id": ids["order"]}, "to": {"id": "99999"}, "types": spec},
            ]
        ),
    )
    assert partial.num_errors == 1 and len(partial.results) == 1
    assert partial.errors[0].context["toObjectId"] == ["99999"]


def test_batch_associate_default_answers_200(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """batch/associate/default creates default associations."""
    resp = hubspot_client.crm.associations.v4.batch_api.create_default(
        "contacts",
        "companies",
        BatchInputPublicDefaultAssociationMultiPost(
            inputs=[{"from": {"id": ids["c1"]}, "to": {"id": ids["company"]}}]
        ),
    )
    assert {r.association_spec.association_type_id for r in resp.results} == {279, 280}


def test_batch_read_200_and_207(hubspot_client: hubspot.Client, ids: dict[str, str]) -> None:
    """batch/read returns targets per id; ids without associations are 207 errors."""
    hubspot_client.crm.associations.v4.basic_api.create_default(
        "orders", ids["order"], "contacts", ids["c1"]
    )
    api = hubspot_client.crm.associations.v4.batch_api
    ok = api.get_page(
        "orders",
        "contacts",
        BatchInputPublicFetchAssociationsBatchRequest(inputs=[{"id": ids["order"]}]),
    )
    assert ok.results[0].to[0].to_object_id == ids["c1"]
    partial = api.get_page(
        "contacts",
        "orders",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": ids["c1"]}, {"id": ids["c2"]}]
        ),
    )
    assert partial.num_errors == 1
    assert partial.errors[0].context["fromObjectId"] == [ids["c2"]]


def test_batch_archive_answers_204(hubspot_client: hubspot.Client, ids: dict[str, str]) -> None:
    """batch/archive removes the listed pairs."""
    basic = hubspot_client.crm.associations.v4.basic_api
    basic.create_default("orders", ids["order"], "contacts", ids["c1"])
    basic.create_default("orders", ids["order"], "contacts", ids["c2"])
    result = hubspot_client.crm.associations.v4.batch_api.archive(
        "orders",
        "contacts",
        BatchInputPublicAssociationMultiArchive(
            inputs=[{"from": {"id": ids["order"]}, "to": [{"id": ids["c1"]}]}]
        ),
    )
    assert result is None
    assert [r.to_object_id for r in basic.get_page("orders", ids["order"], "contacts").results] == [
        ids["c2"]
    ]


def test_batch_archive_labels_keeps_default(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """labels/archive of the Primary label leaves the unlabelled association."""
    basic = hubspot_client.crm.associations.v4.basic_api
    basic.create(
        "contacts",
        ids["c1"],
        "companies",
        ids["company"],
        [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    hubspot_client.crm.associations.v4.batch_api.archive_labels(
        "contacts",
        "companies",
        BatchInputPublicAssociationMultiPost(
            inputs=[
                {
                    "from": {"id": ids["c1"]},
                    "to": {"id": ids["company"]},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}],
                }
            ]
        ),
    )
    page = basic.get_page("contacts", ids["c1"], "companies")
    assert [t.type_id for t in page.results[0].association_types] == [279]


def test_associations_on_object_create(hubspot_client: hubspot.Client, ids: dict[str, str]) -> None:
    """An order created with associations is linked right away."""
    order = hubspot_client.crm.objects.basic_api.create(
        "orders",
        SimplePublicObjectInputForCreate(
            properties={"hs_order_name": "#2"},
            associations=[
                {
                    "to": {"id": ids["c1"]},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": ORDER_TO_CONTACT,
                        }
                    ],
                }
            ],
        ),
    )
    page = hubspot_client.crm.associations.v4.basic_api.get_page("contacts", ids["c1"], "orders")
    assert [r.to_object_id for r in page.results] == [order.id]
    got = hubspot_client.crm.objects.basic_api.get_by_id(
        "orders", order.id, associations=["contacts"]
    )
    assert got.associations["contacts"].results[0].id == ids["c1"]


def test_archiving_an_object_removes_its_associations(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """Archive drops the record's associations."""
    basic = hubspot_client.crm.associations.v4.basic_api
    basic.create_default("orders", ids["order"], "line_items", ids["li1"])
    hubspot_client.crm.objects.basic_api.archive("line_items", ids["li1"])
    assert basic.get_page("orders", ids["order"], "line_items").results == []


def test_gdpr_delete_removes_associations(
    hubspot_client: hubspot.Client, ids: dict[str, str]
) -> None:
    """GDPR delete drops the contact's associations too."""
    basic = hubspot_client.crm.associations.v4.basic_api
    basic.create_default("orders", ids["order"], "contacts", ids["c1"])
    hubspot_client.crm.contacts.basic_api.purge(PublicGdprDeleteInput(object_id=ids["c1"]))
    assert basic.get_page("orders", ids["order"], "contacts").results == []

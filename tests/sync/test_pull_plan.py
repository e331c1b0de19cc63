"""The pull's pure parts: fields and their way back, triage of CRM changes, the merge."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.records import Record
from mapping.compiler import compile_fields
from mapping.config import Direction, Pipeline, parse_config
from sync.deleted_links import DeletedLink
from sync.hashing import FieldHasher
from sync.pull.fields import nest, pull_fields
from sync.pull.plan import Triage, merge, triage
from sync.state import LinkRow

CONFIG = """\
version: 1
connections:
  shop: {type: b2connect, url: http://127.0.0.1:9, token: "${T}", tenant_id: t1}
  hs: {type: hubspot, token: "${H}"}
pipelines:
  - name: people
    b2connect: {connection: shop, stream: customers}
    crm: {connection: hs, object: contacts}
    direction: both
    fields:
      - {b2connect: email, crm: email, transform: [email], direction: push}
      - {b2connect: firstName, crm: firstname, transform: [strip]}
      - {b2connect: billingAddress.city, crm: city, transform: [strip, upper]}
      - {b2connect: status, crm: stage, map: {new: New, vip: VIP}}
      - {b2connect: tier, crm: tier, map: {a: Gold, b: Gold}}
      - {b2connect: total, crm: total, transform: [{decimal: 2}], rule: crm_only}
      - {b2connect: lastName, crm: label, transform: [{template: "{firstName} {lastName}"}]}
      - {b2connect: language, crm: hs_language, rule: b2connect_only}
"""
HASHER = FieldHasher(b"k" * 32)
T0 = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def pipe() -> Pipeline:
    return parse_config(CONFIG).pipeline("people")


def test_pulled_fields_leave_out_push_only_and_b2connect_only_ones(pipe: Pipeline) -> None:
    """email (direction push) and hs_language (b2connect_only) are not pulled."""
    pulled = pull_fields(pipe, compile_fields(pipe.fields))
    assert {f.crm for f in pulled} == {"firstname", "city", "stage", "tier", "total", "label"}


def test_a_one_to_one_map_is_inverted(pipe: Pipeline) -> None:
    """``map: {vip: VIP}`` sends the CRM's ``VIP`` back as ``vip``."""
    stage = pull_fields(pipe, compile_fields(pipe.fields))[2]
    assert stage.crm == "stage" and stage.invertible
    assert stage.back("VIP") == "vip"


def test_crm_text_of_a_list_or_object_goes_back_in_the_shops_shape(pipe: Pipeline) -> None:
    """``a;b`` back over a list is a list, compact JSON back over an object an object."""
    city = {f.crm: f for f in pull_fields(pipe, compile_fields(pipe.fields))}["city"]
    assert city.back("vip;b2b", ["vip"]) == ["vip", "b2b"]
    assert city.back("", ["vip"]) == []
    assert city.back('{"city":"Bremen"}', {"city": "Kiel"}) == {"city": "Bremen"}
    assert city.back("not json", {"city": "Kiel"}) == "not json"
    assert city.back("Bremen", "Kiel") == "Bremen"


def test_many_to_one_maps_and_templates_never_flow_back(pipe: Pipeline) -> None:
    """Fields whose transform cannot be inverted are merged with direction push."""
    fields = {f.crm: f for f in pull_fields(pipe, compile_fields(pipe.fields))}
    assert not fields["tier"].invertible and fields["tier"].direction is Direction.push
    assert not fields["label"].invertible and fields["label"].direction is Direction.push


def test_crm_values_are_normalised_as_push_would_write_them(pipe: Pipeline) -> None:
    """A CRM user's ``' berlin '`` and HubSpot's string ``'12.50'`` compare in CRM form."""
    fields = {f.crm: f for f in pull_fields(pipe, compile_fields(pipe.fields))}
    assert fields["city"].crm_value(" berlin ", {}) == "BERLIN"
    assert fields["total"].crm_value("12.50", {}) == Decimal("12.50")


def test_nested_paths_become_merge_patches() -> None:
    """``billingAddress.city`` is written as ``{"billingAddress": {"city": ...}}``."""
    body: dict[str, object] = {}
    nest("billingAddress.city", "Oslo", body)
    nest("firstName", "Ada", body)
    assert body == {"billingAddress": {"city": "Oslo"}, "firstName": "Ada"}


def _record(
    crm_id: str, fields: dict[str, object], *, deleted: bool = False, modified_by: str | None = None
) -> Record:
    return Record(
        "contacts", crm_id, fields, updated_at=T0, deleted=deleted, modified_by=modified_by
    )


def _triage(
    pipe: Pipeline,
    records: list[Record],
    links: dict[str, LinkRow],
    *,
    deleted: dict[str, DeletedLink] | None = None,
    ours: str | None = None,
) -> Triage:
    return triage(
        records,
        fields=pull_fields(pipe, compile_fields(pipe.fields)),
        by_crm={link.crm_id: link for link in links.values() if link.crm_id},
        by_key={},
        deleted=deleted or {},
        id_property="b2connect_id",
        hasher=HASHER,
        lengths={},
        ours=ours,
    )


def test_a_record_equal_to_the_last_sync_is_an_echo(pipe: Pipeline) -> None:
    """Every pulled field hashes to the stored hash: no merge, counted as an echo."""
    link = LinkRow("k1", "1", {"firstname": HASHER.value("firstname", "Ada")})
    found = _triage(pipe, [_record("1", {"firstname": "Ada"})], {"k1": link})
    assert not found.pending and found.counts["echo"] == 1


def test_an_echo_stamped_by_our_user_is_counted_as_ours(pipe: Pipeline) -> None:
    """A Salesforce change by the integration user with our hashes is ``echo_ours``."""
    link = LinkRow("k1", "1", {"firstname": HASHER.value("firstname", "Ada")})
    record = _record("1", {"firstname": "Ada"}, modified_by="005us")
    found = _triage(pipe, [record], {"k1": link}, ours="005us")
    assert found.counts["echo_ours"] == 1


def test_our_user_does_not_hide_a_changed_value(pipe: Pipeline) -> None:
    """Stamped by the integration user but hashing differently: merged, not dropped."""
    link = LinkRow("k1", "1", {"firstname": HASHER.value("firstname", "Ada")})
    record = _record("1", {"firstname": "Eve"}, modified_by="005us")
    found = _triage(pipe, [record], {"k1": link}, ours="005us")
    assert [p.key for p in found.pending] == ["k1"]


def test_unlinked_crm_records_are_not_pulled(pipe: Pipeline) -> None:
    """A CRM record without a link or id property is left alone."""
    found = _triage(pipe, [_record("9", {"firstname": "New"})], {})
    assert not found.pending and found.counts["unlinked"] == 1


def test_a_record_carrying_a_forgotten_key_is_re_linked(pipe: Pipeline) -> None:
    """A CRM record holding a B2Connect key with no link is merged as a re-link."""
    found = _triage(pipe, [_record("9", {"firstname": "Ada", "b2connect_id": "k9"})], {})
    [item] = found.pending
    assert (item.key, item.relinked) == ("k9", True)


def test_a_deleted_crm_record_is_set_aside_once(pipe: Pipeline) -> None:
    """A deletion of a linked record is a delete; one already carried over is not."""
    link = LinkRow("k1", "1", {})
    fresh = _triage(pipe, [_record("1", {}, deleted=True)], {"k1": link})
    assert [lk.key for _r, lk in fresh.deletes] == ["k1"]
    gone = {"k1": DeletedLink("k1", "1", "crm", T0)}
    again = _triage(pipe, [_record("1", {}, deleted=True)], {"k1": link}, deleted=gone)
    assert not again.deletes


def test_a_restored_record_is_merged_even_when_unchanged(pipe: Pipeline) -> None:
    """A record back from the recycle bin is merged (re-linked), echo or not."""
    link = LinkRow("k1", "1", {"firstname": HASHER.value("firstname", "Ada")})
    gone = {"k1": DeletedLink("k1", "1", "crm", T0)}
    found = _triage(pipe, [_record("1", {"firstname": "Ada"})], {"k1": link}, deleted=gone)
    [item] = found.pending
    assert item.restored


def test_merge_writes_crm_wins_back_at_their_b2connect_paths(pipe: Pipeline) -> None:
    """A CRM-only change becomes a B2Connect merge patch in B2Connect's vocabulary."""
    last = {"city": HASHER.value("city", "OSLO"), "stage": HASHER.value("stage", "New")}
    link = LinkRow("k1", "1", last)
    found = _triage(pipe, [_record("1", {"city": "bergen", "stage": "VIP"})], {"k1": link})
    current = Record(
        "customers", "k1", {"billingAddress": {"city": "Oslo"}, "status": "new"}, updated_at=T0
    )
    fields = pull_fields(pipe, compile_fields(pipe.fields))
    [merged], _ = merge(
        found.pending,
        {"k1": current},
        fields=fields,
        hasher=HASHER,
        lengths={},
        blocked={},
        reactivate=True,
    )
    assert merged.to_b2connect == {"billingAddress": {"city": "BERGEN"}, "status": "vip"}
    assert merged.to_crm == {}


def test_merge_leaves_fields_with_an_open_conflict_alone(pipe: Pipeline) -> None:
    """A field with an open manual conflict is not decided again."""
    link = LinkRow("k1", "1", {"firstname": HASHER.value("firstname", "Ada")})
    found = _triage(pipe, [_record("1", {"firstname": "Eve"})], {"k1": link})
    current = Record("customers", "k1", {"firstName": "Ada"}, updated_at=T0)
    fields = pull_fields(pipe, compile_fields(pipe.fields))
    [merged], _ = merge(
        found.pending,
        {"k1": current},
        fields=fields,
        hasher=HASHER,
        lengths={},
        blocked={"k1": {"firstname"}},
        reactivate=True,
    )
    assert merged.to_b2connect == {} and not merged.decisions

"""The hot HubSpot calls read raw JSON (``_preload_content=False``), not generated models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hubspot.crm.associations.v4.api_client import ApiClient as AssociationsClient
from hubspot.crm.objects.api_client import ApiClient as ObjectsClient

from connectors.records import WriteItem
from emulators.hubspot import HubSpotEmulator
from tests.connectors.hubspot_support import FakeClock, calls, connector

UPSERT = "POST /crm/v3/objects/{object_type}/batch/upsert"


@pytest.fixture
def deserialised(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the SDK's model deserialisations (the real method still runs)."""
    seen: Counter[str] = Counter()
    for name, client in (("objects", ObjectsClient), ("associations", AssociationsClient)):
        real = client.deserialize

        def counting(
            self: Any,
            response: Any,
            response_type: Any,
            *,
            _n: str = name,
            _f: Callable[..., Any] = real,
        ) -> Any:
            seen[_n] += 1
            return _f(self, response, response_type)

        monkeypatch.setattr(client, "deserialize", counting)
    yield seen


def test_batch_upsert_read_and_associate_build_no_models(
    hubspot_emulator: HubSpotEmulator, deserialised: Counter[str]
) -> None:
    """Upserts, change reads, lookups and association batches give their results, no models."""
    clock = FakeClock()
    conn = connector(hubspot_emulator, clock=clock)
    people = [
        WriteItem(f"c-{i}", {"email": f"p{i}@example.org", "firstname": f"P{i}"})
        for i in range(150)
    ]
    results = conn.write("contacts", people)
    assert all(r.ok and r.created and r.crm_id for r in results)
    again = conn.write("contacts", people[:3])
    assert [r.crm_id for r in again] == [r.crm_id for r in results[:3]]
    assert not any(r.created for r in again)
    assert calls(hubspot_emulator)[UPSERT] == 3
    clock.advance(5)
    pages = list(conn.read_changes("contacts", None, properties=["email", "firstname"]))
    read = [rec for page in pages for rec in page.records]
    assert {rec.fields["email"] for rec in read} == {f"p{i}@example.org" for i in range(150)}
    assert {rec.key for rec in read} == {str(r.crm_id) for r in results}
    assert all(rec.updated_at is not None for rec in read)
    found = conn.lookup("contacts", "email", ["P1@example.org", "nobody@example.org"])
    assert found == {"p1@example.org": [results[1].crm_id], "nobody@example.org": []}
    by_search = conn.lookup("contacts", "firstname", ["P2"])  # search with IN, not batch read
    assert by_search == {"p2": [results[2].crm_id]}
    company = conn.write("companies", [WriteItem("co-1", {"name": "Example Ltd"})])[0]
    pairs = [(str(r.crm_id), str(company.crm_id)) for r in results[:2]]
    linked = conn.associate("contacts", "companies", pairs, 279)
    assert [(r.ok, r.key) for r in linked] == [(True, p[0]) for p in pairs]
    assert deserialised == Counter()
    conn.close()

"""Testing kit for connector authors: an in-memory :class:`FakeConnector` and a conformance
suite any connector runs in one line::

    from connectors.testing import conformance_suite

    TestMyConnector = conformance_suite(
        make=lambda: MyConnector(...),          # a fresh, working connector
        write_stream="contacts",                # a stream/object it can upsert into
        sample=lambda i: {"email": f"p{i}@example.com", "firstname": f"P{i}"},
        read_stream="contacts",                 # optional: a stream it can read changes of
    )

pytest collects the returned class; each test checks one promise of the contract
(``connectors/base.py``): metadata, per-record results in order, idempotent upserts,
JSON-serialisable cursors, describe, close.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import count
from typing import Any, ClassVar

from pydantic import BaseModel

from connectors.base import Connector, SecretResolver
from connectors.calls import CallCounter
from connectors.records import (
    Capability,
    ErasureResult,
    FieldInfo,
    Page,
    Record,
    StreamSchema,
    Subject,
    WriteItem,
    WriteResult,
)

__all__ = ["FakeConnection", "FakeConnector", "conformance_suite"]


class FakeConnection(BaseModel):
    """Config of the fake connector (it needs none)."""

    type: str = "fake"


class FakeConnector:
    """An in-memory system: source (``feed``) and target (upserts keyed on the B2Connect key).

    ``reject`` maps keys to an error code the fake returns for them; ``transient`` keys fail
    with a retriable error that many times before they succeed.
    """

    name: ClassVar[str] = "fake"
    config_model: ClassVar[type[BaseModel]] = FakeConnection
    capabilities: ClassVar[frozenset[Capability]] = frozenset(Capability)

    def __init__(self, *, page_size: int = 500, write_chunk: int | None = None) -> None:
        self.page_size = page_size
        #: records per write call, as a real connector batches them (None: any number)
        self.write_chunk = write_chunk
        self.feeds: dict[str, list[Record]] = {}
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.ids: dict[str, dict[str, str]] = {}
        self.associations: set[tuple[str, str, str, str, int]] = set()
        self.reject: dict[str, str] = {}
        self.transient: Counter[str] = Counter()
        self.calls: Counter[str] = CallCounter()
        self.erased: list[Subject] = []
        self._seq = count(1)
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any, *, secrets: SecretResolver, **options: Any) -> FakeConnector:
        del config, secrets
        return cls(**options)

    # ---- source side

    def feed(self, stream: str, records: Sequence[Record]) -> None:
        """Append changes to a stream's feed."""
        self.feeds.setdefault(stream, []).extend(records)

    def read_changes(self, stream: str, cursor: Mapping[str, Any] | None) -> Iterator[Page]:
        feed = self.feeds.get(stream, [])
        position = int((cursor or {}).get("position", 0))
        while True:
            self.calls[f"GET /feed/{stream}"] += 1
            chunk = feed[position : position + self.page_size]
            position += len(chunk)
            more = position < len(feed)
            yield Page(chunk, {"position": position}, has_more=more)
            if not more:
                return

    # ---- target side

    def check(self) -> list[str]:
        return []

    def write(self, stream: str, batch: Sequence[WriteItem], **_options: Any) -> list[WriteResult]:
        size = self.write_chunk or max(1, len(batch))
        with self._lock:  # several write batches may be in flight at once
            self.calls[f"POST /objects/{stream}/batch/upsert"] += -(-len(batch) // size) or 1
            return [self._upsert(stream, item) for item in batch]

    def _upsert(self, stream: str, item: WriteItem) -> WriteResult:
        store = self.objects.setdefault(stream, {})
        ids = self.ids.setdefault(stream, {})
        if item.key in self.reject:
            return WriteResult.failure(item.key, self.reject[item.key], "rejected by the fake")
        if self.transient[item.key] > 0:
            self.transient[item.key] -= 1
            return WriteResult.failure(item.key, "UNABLE_TO_LOCK_ROW", "busy", retriable=True)
        created = item.key not in ids
        if created:
            ids[item.key] = item.crm_id or f"{stream[:3]}-{next(self._seq)}"
        current = store.setdefault(ids[item.key], {})
        current.update(item.payload)
        current["b2connect_id"] = item.key
        return WriteResult.success(item.key, ids[item.key], created=created)

    def associate(
        self, from_object: str, to_object: str, pairs: Sequence[tuple[str, str]], type_id: int
    ) -> list[WriteResult]:
        self.calls[f"POST /associations/{from_object}/{to_object}/batch/create"] += 1
        for from_id, to_id in pairs:
            self.associations.add((from_object, from_id, to_object, to_id, type_id))
        return [WriteResult.success(from_id, to_id) for from_id, _ in pairs]

    def lookup(self, stream: str, field: str, values: Sequence[str]) -> dict[str, list[str]]:
        self.calls[f"POST /objects/{stream}/search"] += 1
        wanted = {v.strip().lower() for v in values}
        out: dict[str, list[str]] = {}
        for crm_id, fields in self.objects.get(stream, {}).items():
            value = str(fields.get(field, "")).strip().lower()
            if value in wanted:
                out.setdefault(value, []).append(crm_id)
        return out

    def delete(self, stream: str, keys: Sequence[str]) -> list[WriteResult]:
        self.calls[f"POST /objects/{stream}/batch/archive"] += 1
        ids = self.ids.get(stream, {})
        results = []
        for key in keys:
            crm_id = ids.pop(key, None)
            if crm_id is None:
                results.append(WriteResult.failure(key, "NOT_FOUND", "no such record"))
            else:
                self.objects[stream].pop(crm_id, None)
                results.append(WriteResult.success(key, crm_id))
        return results

    def erase(self, subject: Subject) -> ErasureResult:
        self.erased.append(subject)
        removed = 0
        for store in self.objects.values():
            for crm_id in [
                i for i, f in store.items() if subject.email and f.get("email") == subject.email
            ]:
                del store[crm_id]
                removed += 1
        return ErasureResult(system=self.name, done=True, removed=removed)

    def describe(self, stream: str) -> StreamSchema:
        names = {name for fields in self.objects.get(stream, {}).values() for name in fields}
        return StreamSchema(stream, {n: FieldInfo(n) for n in sorted(names)})

    def close(self) -> None:
        return None

    # ---- test helpers

    def record(self, stream: str, key: str) -> dict[str, Any] | None:
        """The stored fields of the record with B2Connect key ``key``."""
        crm_id = self.ids.get(stream, {}).get(key)
        return None if crm_id is None else self.objects[stream][crm_id]

    def count(self, stream: str) -> int:
        return len(self.objects.get(stream, {}))


def conformance_suite(
    *,
    make: Callable[[], Connector],
    write_stream: str | None = None,
    sample: Callable[[int], dict[str, Any]] | None = None,
    read_stream: str | None = None,
) -> type:
    """A pytest test class checking ``make()``'s connector against the contract."""

    class ConnectorConformance:
        __test__ = True

        def test_metadata(self) -> None:
            """name, config_model and capabilities are class attributes of the right kinds."""
            connector = make()
            cls = type(connector)
            assert isinstance(cls.name, str) and cls.name
            assert isinstance(cls.config_model, type) and issubclass(cls.config_model, BaseModel)
            assert isinstance(cls.capabilities, frozenset)
            assert all(isinstance(c, Capability) for c in cls.capabilities)
            connector.close()

        def test_check_returns_sentences(self) -> None:
            """check() returns a list of problem strings (empty when ready)."""
            connector = make()
            problems = connector.check()
            assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
            connector.close()

        def test_write_results_in_order_and_idempotent(self) -> None:
            """write() answers each item in order; writing again updates, never duplicates."""
            assert write_stream is not None and sample is not None
            connector = make()
            tag = next(_RUN)
            items = [WriteItem(f"conf-{tag}-{i}", sample(tag * 100 + i)) for i in range(3)]
            first = connector.write(write_stream, items)
            assert [r.key for r in first] == [i.key for i in items]
            assert all(r.ok and r.crm_id for r in first), first
            assert all(r.created for r in first)
            again = connector.write(write_stream, items)
            assert [r.crm_id for r in again] == [r.crm_id for r in first]
            assert not any(r.created for r in again)
            connector.close()

        def test_read_changes_pages_have_json_cursors(self) -> None:
            """read_changes() yields Pages whose cursors survive JSON round trips."""
            assert read_stream is not None
            connector = make()
            for page in connector.read_changes(read_stream, None):
                assert isinstance(page, Page)
                assert all(isinstance(r, Record) for r in page.records)
                assert json.loads(json.dumps(page.cursor)) == page.cursor
                if not page.has_more:
                    break
            connector.close()

        def test_describe(self) -> None:
            """describe() returns a StreamSchema of FieldInfo."""
            stream = write_stream or read_stream
            assert stream is not None
            connector = make()
            schema = connector.describe(stream)
            assert isinstance(schema, StreamSchema)
            assert all(isinstance(info, FieldInfo) for info in schema.fields.values())
            connector.close()

        def test_close_twice(self) -> None:
            """close() may be called twice."""
            connector = make()
            connector.close()
            connector.close()

    if write_stream is None or sample is None:
        del ConnectorConformance.test_write_results_in_order_and_idempotent
    if read_stream is None:
        del ConnectorConformance.test_read_changes_pages_have_json_cursors
    if write_stream is None and read_stream is None:
        del ConnectorConformance.test_describe
    return ConnectorConformance


_RUN = count(1)

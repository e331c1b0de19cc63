"""Deferred links: an order synced before its customer gets its lookup field or association
completed by a later run, once the customer's CRM id is known. Never dropped."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from connectors.records import Capability, WriteItem
from store import begin_write
from sync import state
from sync.plan import ASSOC_PREFIX

if TYPE_CHECKING:
    from sync.push.writer import Writer

__all__ = ["associating_after", "complete_pending", "upstream_wait"]

_UPSTREAM: ContextVar[Callable[[], None] | None] = ContextVar("b2sync_upstream", default=None)


@contextmanager
def associating_after(wait: Callable[[], None]) -> Iterator[None]:
    """A run started inside goes on while the pipelines it only associates with still run
    (their records' associations are deferred, :func:`complete_pending`); before it ends it
    calls ``wait`` (they have finished) and completes what it deferred."""
    token = _UPSTREAM.set(wait)
    try:
        yield
    finally:
        _UPSTREAM.reset(token)


def upstream_wait() -> Callable[[], None] | None:
    """The wait of :func:`associating_after` around this run, if any."""
    return _UPSTREAM.get()


#: deferred links read, completed and committed together: a flush's worth (a multiple of the
#: CRMs' write and association batches, so paging adds no call where every link of a page is
#: ready). A page holds its links' rows, their field hashes and what completing them makes;
#: a 100,000-customer backfill's HubSpot orders run defers about 300,000 associations, and
#: pages of 10,000 (as before) raised the process's peak while they were completed
PENDING_PAGE = 2_000


def complete_pending(writer: Writer, *, page: int | None = None) -> Counter[str]:
    """Complete what can be completed now, every deferred link of the pipeline, a page at a
    time in the order they were deferred (each page committed on its own); return counts.
    Links whose target has no CRM id yet stay for a later run; a stopping run stops between
    pages (the rest stays too)."""
    page = page or PENDING_PAGE
    counts: Counter[str] = Counter()
    after = 0
    while not writer.stop.is_set():
        with writer.db.connect() as conn:
            rows = state.pending_for(conn, writer.pipeline.name, page, after_id=after)
        if not rows:
            break
        after = rows[-1][0]
        counts["deferred_completed"] += _complete_page(writer, [row[1:] for row in rows])
        if len(rows) < page:
            break
    return counts


def _complete_page(writer: Writer, rows: list[tuple[str, str, str, str]]) -> int:
    """Complete the deferred links ``rows`` whose targets are linked; commit; how many."""
    pipeline = writer.pipeline
    with writer.db.connect() as conn:
        targets: dict[tuple[str, str], str] = {}
        by_pipeline: dict[str, set[str]] = defaultdict(set)
        for _key, target_pipeline, target_key, _what in rows:
            by_pipeline[target_pipeline].add(target_key)
        for target_pipeline, keys in by_pipeline.items():
            for key, crm_id in state.link_ids(conn, target_pipeline, sorted(keys)).items():
                targets[(target_pipeline, key)] = crm_id
        own = state.load_links(conn, pipeline.name, [r[0] for r in rows])
    ready = [r for r in rows if (r[1], r[2]) in targets and r[0] in own and own[r[0]].crm_id]
    done: list[tuple[str, str]] = []
    new_hashes: dict[str, dict[str, str]] = {}
    field_items: list[WriteItem] = []
    assoc_pairs: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key, target_pipeline, target_key, what in ready:
        target_id = targets[(target_pipeline, target_key)]
        hashes = new_hashes.setdefault(key, dict(own[key].field_hashes))
        if what == "field":
            payload = {
                spec.crm: target_id
                for spec in pipeline.fields
                if any(
                    isinstance(s, dict) and s.get("link") == target_pipeline for s in spec.transform
                )
            }
            field_items.append(WriteItem(key, payload, own[key].crm_id))
            hashes.update(writer.hasher.fields(payload))
        else:
            assoc_pairs[target_pipeline].append((key, str(own[key].crm_id), target_id))
            name = f"{ASSOC_PREFIX}{target_pipeline}"
            hashes[name] = writer.hasher.value(name, target_id)
    if field_items:
        results = writer.write_all(pipeline.crm.object, field_items)
        for item in field_items:
            if results[item.key].ok:
                done.append((item.key, "field"))
    if assoc_pairs and Capability.ASSOCIATIONS in writer.target.capabilities:
        for assoc in pipeline.associations:
            triples = assoc_pairs.get(assoc.pipeline, [])
            if not triples:
                continue
            pairs = [(crm_id, target_id) for _k, crm_id, target_id in triples]
            answers = writer.associate(pipeline.crm.object, assoc.to_object, pairs, assoc.type_id)
            ok = {r.key for r in answers if r.ok}
            done.extend((k, f"assoc:{assoc.pipeline}") for k, crm_id, _t in triples if crm_id in ok)
    if done:
        keys = {k for k, _w in done}
        rows_out = [
            (k, own[k].crm_id, new_hashes[k], writer.hasher.record(new_hashes[k]))
            for k in sorted(keys)
        ]
        with begin_write(writer.db) as conn:
            now = writer.clock()
            state.upsert_links(
                conn, pipeline=pipeline.name, tenant_id=writer.tenant_id,
                crm_object=pipeline.crm.object, rows=rows_out, now=now,
            )  # fmt: skip
            state.remove_pending(conn, pipeline.name, done)
    return len(done)

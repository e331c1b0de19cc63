"""Portal state: records per object type, property definitions, associations, GDPR blocklist."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulators._base import HttpError

from ._schema import (
    OBJECT_TYPES,
    ObjectType,
    PropertyDef,
    association_types,
    resolve_type,
    seed_groups,
    seed_properties,
)
from ._service import derive_ticket
from ._util import iso_ms, to_number


@dataclass
class Record:
    """One CRM object; ``properties`` holds only non-empty values, all strings."""

    id: str
    type: ObjectType
    properties: dict[str, str]
    created: float
    updated: float
    archived: bool = False
    archived_at: float | None = None
    #: (time it becomes searchable, properties) versions, for the search index lag;
    #: empty: search sees ``properties``
    versions: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    #: property -> its values, newest first, each with who set it (``propertiesWithHistory``)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self, wanted: list[str] | None = None) -> dict[str, Any]:
        """The SimplePublicObject shape with the properties in ``wanted`` (default set if None)."""
        names = list(self.type.defaults) if wanted is None else _with_basics(self.type, wanted)
        body: dict[str, Any] = {
            "id": self.id,
            "properties": {n: self.properties.get(n) for n in names},
            "createdAt": iso_ms(self.created),
            "updatedAt": iso_ms(self.updated),
            "archived": self.archived,
        }
        if self.archived and self.archived_at is not None:
            body["archivedAt"] = iso_ms(self.archived_at)
        return body

    def to_write_json(self) -> dict[str, Any]:
        """What create/update answer: every set property plus the basics."""
        return self.to_json(sorted(self.properties))

    def admin_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "properties": dict(sorted(self.properties.items())),
            "createdAt": iso_ms(self.created),
            "updatedAt": iso_ms(self.updated),
            "archived": self.archived,
        }


def _with_basics(ot: ObjectType, wanted: list[str]) -> list[str]:
    out = list(dict.fromkeys(wanted))
    for b in ot.basics:
        if b not in out:
            out.append(b)
    return out


#: (kind, record, changed property names, change source)
Listener = Callable[[str, Record, list[str], str], None]


class Associations:
    """Directed association edges; every edge is stored in both directions."""

    def __init__(self) -> None:
        # (type, id) -> to_type -> to_id -> type ids
        self.edges: dict[tuple[str, str], dict[str, dict[str, set[int]]]] = {}

    def add(self, ft: str, fid: str, tt: str, tid: str, pair: tuple[int, int]) -> None:
        """Add type ``pair[0]`` from (ft, fid) to (tt, tid) and ``pair[1]`` back."""
        self.edges.setdefault((ft, fid), {}).setdefault(tt, {}).setdefault(tid, set()).add(pair[0])
        self.edges.setdefault((tt, tid), {}).setdefault(ft, {}).setdefault(fid, set()).add(pair[1])

    def types(self, ft: str, fid: str, tt: str, tid: str) -> set[int]:
        return set(self.edges.get((ft, fid), {}).get(tt, {}).get(tid, set()))

    def targets(self, ft: str, fid: str, tt: str) -> list[tuple[str, set[int]]]:
        """(to id, type ids) in ascending numeric id order."""
        found = self.edges.get((ft, fid), {}).get(tt, {})
        return sorted(((k, set(v)) for k, v in found.items() if v), key=lambda kv: int(kv[0]))

    def remove(self, ft: str, fid: str, tt: str, tid: str, only: set[int] | None = None) -> None:
        """Remove the pair (or only some type ids of it) in both directions."""
        fwd = self.edges.get((ft, fid), {}).get(tt, {})
        rev = self.edges.get((tt, tid), {}).get(ft, {})
        if only is None:
            fwd.pop(tid, None)
            rev.pop(fid, None)
            return
        pairs = association_types(resolve_type(ft), resolve_type(tt))
        rev_only = {r for f, r, _ in pairs if f in only}
        fwd.get(tid, set()).difference_update(only)
        rev.get(fid, set()).difference_update(rev_only)

    def drop_object(self, ot: str, oid: str) -> None:
        """Forget every edge touching one object."""
        for tt, targets in self.edges.pop((ot, oid), {}).items():
            for tid in targets:
                self.edges.get((tt, tid), {}).get(ot, {}).pop(oid, None)

    def rows(self) -> Iterator[dict[str, Any]]:
        for (ft, fid), by_type in sorted(self.edges.items()):
            for tt, targets in sorted(by_type.items()):
                for tid, type_ids in sorted(targets.items()):
                    if type_ids:
                        yield {
                            "id": f"{ft}:{fid}-{tt}:{tid}",
                            "fromObjectType": ft,
                            "fromObjectId": fid,
                            "toObjectType": tt,
                            "toObjectId": tid,
                            "associationTypeIds": sorted(type_ids),
                        }


class CrmStore:
    """All CRM objects of one emulated portal."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.listener: Listener | None = None
        self.search_lag_s = 0.0
        self.reset()

    def reset(self) -> None:
        now = self.clock()
        self.properties: dict[str, dict[str, PropertyDef]] = {
            name: seed_properties(name, now) for name in OBJECT_TYPES
        }
        #: object type -> group name -> PropertyGroup JSON
        self.groups: dict[str, dict[str, dict[str, Any]]] = {
            name: seed_groups(name, self.properties[name]) for name in OBJECT_TYPES
        }
        self.records: dict[str, dict[str, Record]] = {name: {} for name in OBJECT_TYPES}
        self.assoc = Associations()
        self.blocklist: set[str] = set()
        self._next_id = 1000
        #: (object type, property) -> value -> record ids that held it; entries may be stale
        #: (find() re-checks the record), never missing: create/update/restore add to it
        self._index: dict[tuple[str, str], dict[str, set[str]]] = {}

    # ---- lookups

    def get(self, ot: ObjectType, rid: str) -> Record | None:
        return self.records[ot.name].get(rid)

    def all(self, ot: ObjectType) -> list[Record]:
        """Records in id order, archived included."""
        return sorted(self.records[ot.name].values(), key=lambda r: int(r.id))

    def find(
        self, ot: ObjectType, prop: str, value: str, *, archived: bool = False
    ) -> Record | None:
        """The record whose ``prop`` equals ``value`` (ids/emails case-insensitively)."""
        if prop in ("hs_object_id", "id"):
            rec = self.get(ot, str(value))
            return rec if rec is not None and rec.archived == archived else None
        needle = str(value).strip().lower() if prop == "email" else str(value)
        candidates = self._index.get((ot.name, prop), {}).get(needle, set())
        for rid in sorted(candidates, key=int):
            rec = self.records[ot.name].get(rid)
            if rec is not None and rec.archived == archived and rec.properties.get(prop) == needle:
                return rec
        return None

    def _reindex(self, rec: Record) -> None:
        for name, value in rec.properties.items():
            self._index.setdefault((rec.type.name, name), {}).setdefault(value, set()).add(rec.id)

    def is_unique(self, ot: ObjectType, prop: str) -> bool:
        """Whether ``prop`` may serve as an idProperty."""
        if prop == "hs_object_id" or (ot.name == "contacts" and prop == "email"):
            return True
        defn = self.properties[ot.name].get(prop)
        return defn is not None and defn.has_unique_value and not defn.archived

    def conflict(
        self,
        ot: ObjectType,
        props: dict[str, str],
        exclude: str | None,
    ) -> HttpError | None:
        """The 409 for a unique value (or contact email) another live record already holds."""
        for name, value in props.items():
            if value == "" or not self.is_unique(ot, name):
                continue
            other = self.find(ot, name, value)
            if other is None or other.id == exclude:
                continue
            other_id = other.id
            if name == "email":
                message = f"Contact already exists. Existing ID: {other_id}"
            else:
                message = (
                    f"A {ot.singular} with the unique value '{value}' for property '{name}' "
                    f"already exists. Existing ID: {other_id}"
                )
            return HttpError(
                409, "CONFLICT", message, context={"existingId": [other_id], "propertyName": [name]}
            )
        return None

    # ---- writes

    def create(
        self, ot: ObjectType, props: dict[str, str], source: str, user_id: int | None = None
    ) -> Record:
        now = self.clock()
        self._next_id += 1
        rid = str(self._next_id)
        stamp = iso_ms(now)
        values = {k: v for k, v in props.items() if v != ""}
        values.update({"hs_object_id": rid, ot.created_prop: stamp, ot.modified_prop: stamp})
        rec = Record(rid, ot, values, now, now)
        self._remember(rec, [k for k in props if props[k] != ""], source, user_id, now)
        self._derive(rec)
        self._snapshot(rec)
        self.records[ot.name][rid] = rec
        self._reindex(rec)
        self._emit("creation", rec, sorted(k for k in props if props[k] != ""), source)
        return rec

    def update(
        self, rec: Record, props: dict[str, str], source: str, user_id: int | None = None
    ) -> list[str]:
        """Apply ``props`` ("" clears); bumps the last-modified date on every write.

        ``source`` is HubSpot's ``sourceType`` (``CRM_UI`` for a user, ``INTEGRATION`` for
        an app); ``user_id`` the HubSpot user behind a ``CRM_UI`` change (default user 1).
        """
        changed = []
        before = dict(rec.properties)
        for name, value in props.items():
            old = rec.properties.get(name, "")
            if value == "":
                rec.properties.pop(name, None)
            else:
                rec.properties[name] = value
            if old != value:
                changed.append(name)
        now = self.clock()
        self._remember(rec, changed, source, user_id, now)
        rec.updated = now
        rec.properties[rec.type.modified_prop] = iso_ms(now)
        self._derive(rec)
        self._snapshot(rec, before)
        self._reindex(rec)
        if changed:
            self._emit("propertyChange", rec, changed, source)
        return changed

    def archive(self, rec: Record, source: str) -> None:
        if rec.archived:
            return
        now = self.clock()
        rec.archived, rec.archived_at, rec.updated = True, now, now
        self.assoc.drop_object(rec.type.name, rec.id)
        self._emit("deletion", rec, [], source)

    def restore(self, rec: Record, source: str) -> None:
        if not rec.archived:
            return
        now = self.clock()
        rec.archived, rec.archived_at, rec.updated = False, None, now
        rec.properties[rec.type.modified_prop] = iso_ms(now)
        self._snapshot(rec)
        self._reindex(rec)
        self._emit("restore", rec, [], source)

    def purge(self, rec: Record, source: str) -> None:
        """GDPR delete: gone for good, associations removed, email blocklisted."""
        self.records[rec.type.name].pop(rec.id, None)
        self.assoc.drop_object(rec.type.name, rec.id)
        email = rec.properties.get("email")
        if email:
            self.blocklist.add(email)
        self._emit("privacyDeletion", rec, [], source)
        self._emit("deletion", rec, [], source)

    # ---- internals

    def search_view(self, rec: Record) -> dict[str, str] | None:
        """The record's properties as the (lagging) search index sees them: the latest write
        that is searchable by now (each write becomes searchable ``search_lag_s`` as set at
        the time of that write after it), or None while even its creation is not."""
        if not rec.versions:
            return rec.properties
        now = self.clock()
        seen = [props for visible, props in rec.versions if visible <= now]
        return seen[-1] if seen else None

    def _snapshot(self, rec: Record, before: dict[str, str] | None = None) -> None:
        now = self.clock()
        pending = [v for v in rec.versions if v[0] > now]
        if self.search_lag_s <= 0 and not pending:
            rec.versions = []
            return
        if not rec.versions and before is not None:
            rec.versions.append((float("-inf"), before))  # what the index held so far
        rec.versions.append((now + max(self.search_lag_s, 0.0), dict(rec.properties)))
        visible = [i for i, (at, _) in enumerate(rec.versions) if at <= now]
        if len(visible) > 1:
            drop = set(visible[:-1])
            rec.versions = [v for i, v in enumerate(rec.versions) if i not in drop]

    def _derive(self, rec: Record) -> None:
        """Calculated properties (line item net price, ticket close date)."""
        if rec.type.name == "tickets":
            derive_ticket(rec.properties, iso_ms(self.clock()))
            return
        if rec.type.name != "line_items":
            return
        qty, price = (
            to_number(rec.properties.get("quantity")),
            to_number(rec.properties.get("price")),
        )
        if qty is None or price is None:
            rec.properties.pop("amount", None)
            return
        discount = to_number(rec.properties.get("discount")) or 0.0
        amount = round((price - discount) * qty, 2)
        rec.properties["amount"] = str(int(amount)) if amount.is_integer() else str(amount)

    #: the app whose API writes are recorded as ``INTEGRATION`` changes (``sourceId``)
    app_id: int = 0

    def _remember(
        self, rec: Record, names: list[str], source: str, user_id: int | None, now: float
    ) -> None:
        """One property-history entry per changed property, as HubSpot records it: a user's
        change has ``sourceId: userId:N`` and ``updatedByUserId: N``; an app's its app id."""
        for name in names:
            entry: dict[str, Any] = {
                "value": rec.properties.get(name, ""),
                "timestamp": iso_ms(now),
                "sourceType": source,
            }
            if source == "CRM_UI":
                user = user_id or 1
                entry.update(sourceId=f"userId:{user}", updatedByUserId=user)
            else:
                entry["sourceId"] = str(self.app_id)
            rec.history.setdefault(name, []).insert(0, entry)

    def _emit(self, kind: str, rec: Record, changed: list[str], source: str) -> None:
        if self.listener is not None:
            self.listener(kind, rec, changed, source)

"""The org's data: records per sObject, the Recycle Bin, unique indexes and rollback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ._ids import IdFactory, to18
from ._objects import CASE_CLOSED_STATUSES, SCHEMA, children_of
from ._schema import SObject
from ._validate import prepare
from ._values import SaveError, format_stamp

__all__ = ["PURGED_VISIBLE_SECONDS", "RECYCLE_BIN_DAYS", "MultipleMatches", "Store"]

RECYCLE_BIN_DAYS = 15
#: how long a hard-deleted or purged row still answers ``queryAll`` with ``IsDeleted = true``;
#: Salesforce: "After records are deleted from the Recycle Bin using this call, they can be
#: queried using queryAll() for some time. Typically this time is 24 hours" (SOAP API
#: Developer Guide, emptyRecycleBin(),
#: developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_emptyrecyclebin.htm)
PURGED_VISIBLE_SECONDS = 24 * 3600.0
Record = dict[str, Any]
_JournalEntry = tuple[str, str, Record | None, float | None]


class MultipleMatches(Exception):
    """An external id value matched more than one live record."""

    def __init__(self, obj: str, field: str, ids: list[str]) -> None:
        super().__init__(f"{field}: more than one record found for external id field: {ids}")
        self.obj = obj
        self.field = field
        self.ids = ids


def _key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class Store:
    """All records; every mutation goes through :meth:`_put` (index + journal)."""

    def __init__(self, clock: Callable[[], float], users: dict[str, str]) -> None:
        self.clock = clock
        self.schema: dict[str, SObject] = SCHEMA
        self.ids = IdFactory()
        self.users = users
        self.rows: dict[str, dict[str, Record]] = {}
        self.deleted_at: dict[str, float] = {}
        self.physically_deleted: dict[str, float] = {}
        #: rows removed for good that ``queryAll`` still shows: id -> (object, row, when)
        self.purged: dict[str, tuple[str, Record, float]] = {}
        self.purged_visible_seconds = PURGED_VISIBLE_SECONDS
        self.created_at = 0.0
        self._unique: dict[tuple[str, str], dict[Any, str]] = {}
        self._journal: list[_JournalEntry] | None = None
        self.clear()

    # ---- lifecycle

    def clear(self) -> None:
        """Forget every record and re-seed the org's users."""
        self.rows = {name: {} for name in self.schema}
        self.deleted_at = {}
        self.physically_deleted = {}
        self.purged = {}
        self.auto_numbers: dict[str, int] = {}
        self._unique = {
            (o.name, f.name): {}
            for o in self.schema.values()
            for f in o.fields.values()
            if f.unique
        }
        self.created_at = self.clock()
        stamp = format_stamp(self.created_at)
        first = next(iter(self.users))
        for uid, name in self.users.items():
            self.rows["User"][uid] = {
                "Id": uid,
                "IsDeleted": False,
                "CreatedDate": stamp,
                "CreatedById": first,
                "LastModifiedDate": stamp,
                "LastModifiedById": first,
                "SystemModstamp": stamp,
                "Username": name.lower().replace(" ", ".") + "@b2sync.example",
                "Name": name,
                "IsActive": True,
            }

    def now(self) -> str:
        return format_stamp(self.clock())

    # ---- reading

    def object_of(self, rid: str) -> str | None:
        """The sObject whose key prefix ``rid`` carries."""
        return next((o.name for o in self.schema.values() if rid.startswith(o.key_prefix)), None)

    def find(self, rid: str) -> tuple[str, Record] | None:
        """(object, record) for an id in any state, Recycle Bin included."""
        full = to18(rid)
        obj = self.object_of(full) if full else None
        if full is None or obj is None:
            return None
        rec = self.rows[obj].get(full)
        return (obj, rec) if rec is not None else None

    def live(self, obj: str) -> list[Record]:
        return [r for r in self.rows[obj].values() if not r["IsDeleted"]]

    def every(self, obj: str) -> list[Record]:
        return list(self.rows[obj].values())

    def query_all_rows(self, obj: str) -> list[Record]:
        """What ``queryAll`` sees: every row, plus rows purged recently (``IsDeleted``)."""
        horizon = self.clock() - self.purged_visible_seconds
        ghosts = [row for o, row, when in self.purged.values() if o == obj and when > horizon]
        return self.every(obj) + ghosts

    def was_purged(self, rid: str) -> bool:
        """Whether ``rid`` was removed for good (hard delete or emptied Recycle Bin)."""
        full = to18(rid)
        return full is not None and full in self.purged

    def purge(self, rid: str) -> None:
        """Empty one record from the Recycle Bin (SOAP ``emptyRecycleBin``)."""
        found = self.find(rid)
        if found is None:
            if self.was_purged(rid):
                raise SaveError("ENTITY_IS_DELETED", "entity is deleted")
            raise SaveError("INVALID_ID_FIELD", f"invalid record id: {rid}")
        if not found[1]["IsDeleted"]:
            raise SaveError(
                "INVALID_ID_FIELD", "Only records in the Recycle Bin can be purged; delete it first"
            )
        self._forget(found[0], found[1])

    def match_external(self, obj: str, field: str, value: Any) -> list[Record]:
        """Live records whose ``field`` equals ``value`` (case-insensitive for text)."""
        if field == "Id":
            found = self.find(str(value))
            return [found[1]] if found and found[0] == obj and not found[1]["IsDeleted"] else []
        index = self._unique.get((obj, field))
        if index is not None:
            rid = index.get(_key(value))
            return [self.rows[obj][rid]] if rid else []
        return [r for r in self.live(obj) if _key(r.get(field)) == _key(value)]

    def unique_holder(self, obj: str, field: str, value: Any) -> str | None:
        """Id of the live record holding ``value`` in unique ``field``."""
        return self._unique[(obj, field)].get(_key(value))

    # ---- writing

    def create(self, obj: str, data: dict[str, Any], user: str) -> Record:
        sobj = self.schema[obj]
        values = prepare(self, sobj, data, creating=True)
        rid = self.ids.new(sobj.key_prefix)
        stamp = self.now()
        rec: Record = dict.fromkeys(sobj.fields)
        rec.update(values)
        rec.update(
            Id=rid,
            IsDeleted=False,
            CreatedDate=stamp,
            CreatedById=user,
            LastModifiedDate=stamp,
            LastModifiedById=user,
            SystemModstamp=stamp,
        )
        if "OwnerId" in rec and rec["OwnerId"] in {None, "$user"}:
            rec["OwnerId"] = user
        self._derive_name(sobj, rec, creating=True)
        self._derive_case(sobj, rec, stamp, creating=True)
        self._put(obj, rid, rec, None)
        return rec

    def update(self, obj: str, rid: str, data: dict[str, Any], user: str) -> Record:
        current = self._writable(obj, rid)
        values = prepare(self, self.schema[obj], data, creating=False, rid=current["Id"])
        stamp = self.now()
        rec = {**current, **values}
        rec.update(LastModifiedDate=stamp, LastModifiedById=user, SystemModstamp=stamp)
        self._derive_name(self.schema[obj], rec, creating=False)
        self._derive_case(self.schema[obj], rec, stamp, creating=False)
        self._put(obj, rec["Id"], rec, None)
        return rec

    def upsert(
        self, obj: str, field: str, value: Any, data: dict[str, Any], user: str
    ) -> tuple[Record, bool]:
        """Create or update by external id; raises :class:`MultipleMatches`."""
        matches = self.match_external(obj, field, value)
        if len(matches) > 1:
            raise MultipleMatches(obj, field, [r["Id"] for r in matches])
        body = {k: v for k, v in data.items() if k.lower() != field.lower()}
        if matches:
            return self.update(obj, matches[0]["Id"], body, user), False
        if field != "Id":
            body[field] = value
        return self.create(obj, body, user), True

    def delete(self, rid: str, user: str) -> None:
        """Soft delete into the Recycle Bin, cascading to master-detail children."""
        found = self.find(rid)
        if found is None:
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        obj, current = found
        if current["IsDeleted"]:
            raise SaveError("ENTITY_IS_DELETED", "entity is deleted")
        if not self.schema[obj].createable:
            raise SaveError(
                "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id"
            )
        now = self.clock()
        stamp = format_stamp(now)
        rec = {**current, "IsDeleted": True, "SystemModstamp": stamp}
        rec.update(LastModifiedDate=stamp, LastModifiedById=user)
        self._put(obj, rec["Id"], rec, now)
        for child, lookup in children_of(obj):
            if lookup.cascade_delete:
                for row in self.live(child):
                    if row.get(lookup.name) == rec["Id"]:
                        self.delete(row["Id"], user)

    def hard_delete(self, rid: str) -> None:
        """Remove permanently (Bulk ``hardDelete``), skipping the Recycle Bin."""
        found = self.find(rid)
        if found is None:
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        obj, rec = found
        for child, lookup in children_of(obj):
            if lookup.cascade_delete:
                for row in self.every(child):
                    if row.get(lookup.name) == rec["Id"]:
                        self.hard_delete(row["Id"])
        self._forget(obj, rec)

    def _forget(self, obj: str, rec: Record) -> None:
        """Remove a row for good; ``queryAll`` still shows it for a while (``IsDeleted``)."""
        now = self.clock()
        self._put(obj, rec["Id"], None, None)
        self.purged[rec["Id"]] = (obj, {**rec, "IsDeleted": True}, now)
        self.physically_deleted[obj] = now

    def undelete(self, obj: str, rid: str, user: str) -> Record:
        """Restore a record from the Recycle Bin (as a user would from the UI)."""
        found = self.find(rid)
        if found is None or found[0] != obj or not found[1]["IsDeleted"]:
            raise SaveError("UNDELETE_FAILED", "Entity is not in the recycle bin")
        rec = found[1]
        for f in self.schema[obj].fields.values():
            holder = self.unique_holder(obj, f.name, rec[f.name]) if f.unique else None
            if holder is not None and rec[f.name] is not None:
                raise SaveError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {holder}",
                    [f.name],
                )
        stamp = self.now()
        restored = {**rec, "IsDeleted": False, "SystemModstamp": stamp}
        restored.update(LastModifiedDate=stamp, LastModifiedById=user)
        self._put(obj, rec["Id"], restored, None)
        return restored

    def touch(self, obj: str, rid: str) -> Record:
        """A system process touches the record: only ``SystemModstamp`` moves."""
        rec = {**self._writable(obj, rid), "SystemModstamp": self.now()}
        self._put(obj, rec["Id"], rec, None)
        return rec

    def purge_expired(self) -> None:
        """Empty Recycle Bin rows older than 15 days."""
        horizon = self.clock() - RECYCLE_BIN_DAYS * 86400
        for rid, when in list(self.deleted_at.items()):
            if when < horizon:
                found = self.find(rid)
                if found is not None:
                    self._put(found[0], rid, None, None)
                    self.physically_deleted[found[0]] = max(
                        when, self.physically_deleted.get(found[0], 0.0)
                    )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo every write made inside the block when it raises."""
        outer = self._journal
        self._journal = []
        try:
            yield
        except BaseException:
            entries, self._journal = self._journal, None
            for obj, rid, old, deleted in reversed(entries):
                self._put(obj, rid, old, deleted)
            raise
        finally:
            if outer is not None and self._journal is not None:
                outer.extend(self._journal)
            self._journal = outer

    # ---- internals

    def _writable(self, obj: str, rid: str) -> Record:
        found = self.find(rid)
        if found is None or found[0] != obj:
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Id"])
        if found[1]["IsDeleted"]:
            raise SaveError("ENTITY_IS_DELETED", "entity is deleted")
        return found[1]

    def _derive_name(self, sobj: SObject, rec: Record, *, creating: bool) -> None:
        if sobj.name_kind == "compound":
            parts = [rec.get("FirstName"), rec.get("LastName")]
            rec["Name"] = " ".join(p for p in parts if p)
        elif sobj.name_kind == "text" and creating and rec.get("Name") in {None, "$id"}:
            rec["Name"] = rec["Id"]
        elif sobj.name_kind == "auto" and creating:
            self.auto_numbers[sobj.name] = self.auto_numbers.get(sobj.name, 0) + 1
            rec["Name"] = f"{sobj.key_prefix.upper()}-{self.auto_numbers[sobj.name]:06d}"

    def _derive_case(self, sobj: SObject, rec: Record, stamp: str, *, creating: bool) -> None:
        """A Case's number on create; IsClosed and ClosedDate follow its Status."""
        if sobj.name != "Case":
            return
        if creating:
            self.auto_numbers["Case"] = self.auto_numbers.get("Case", 1000) + 1
            rec["CaseNumber"] = f"{self.auto_numbers['Case']:08d}"
        closed = rec.get("Status") in CASE_CLOSED_STATUSES
        rec["ClosedDate"] = (rec.get("ClosedDate") or stamp) if closed else None
        rec["IsClosed"] = closed

    def _put(self, obj: str, rid: str, rec: Record | None, deleted: float | None) -> None:
        old = self.rows[obj].get(rid)
        if self._journal is not None:
            self._journal.append((obj, rid, old, self.deleted_at.get(rid)))
        self._index(obj, old, remove=True)
        if rec is None:
            self.rows[obj].pop(rid, None)
            self.deleted_at.pop(rid, None)
            return
        self.rows[obj][rid] = rec
        if deleted is None:
            self.deleted_at.pop(rid, None)
        else:
            self.deleted_at[rid] = deleted
        self._index(obj, rec, remove=False)

    def _index(self, obj: str, rec: Record | None, *, remove: bool) -> None:
        if rec is None or rec["IsDeleted"]:
            return
        for (o, field), index in self._unique.items():
            if o != obj or rec.get(field) is None:
                continue
            if remove:
                if index.get(_key(rec[field])) == rec["Id"]:
                    del index[_key(rec[field])]
            else:
                index[_key(rec[field])] = rec["Id"]

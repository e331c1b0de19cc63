"""Turn a write body into stored values, in the order Salesforce checks them: unknown
fields, read-only fields, types and lengths, required fields, references, uniqueness."""

from __future__ import annotations

from typing import Any, Protocol

from ._schema import Field, SObject
from ._values import SaveError, coerce

__all__ = ["Records", "prepare"]


class Records(Protocol):
    """What the checks read of the org's records (the store, which calls :func:`prepare`)."""

    schema: dict[str, SObject]

    def find(self, rid: str) -> tuple[str, dict[str, Any]] | None:
        """The object name and live-or-deleted record with id ``rid``."""
        ...

    def live(self, obj: str) -> list[dict[str, Any]]:
        """The records of ``obj`` not deleted."""
        ...

    def match_external(self, obj: str, field: str, value: Any) -> list[dict[str, Any]]:
        """Live records whose ``field`` equals ``value``."""
        ...

    def unique_holder(self, obj: str, field: str, value: Any) -> str | None:
        """Id of the live record holding ``value`` in unique ``field``."""
        ...


_SECURITY_HINT = (
    "Please check the security settings of this field and verify that it is read/write "
    "for your profile or permission set."
)


def prepare(
    store: Records, sobj: SObject, data: Any, *, creating: bool, rid: str | None = None
) -> dict[str, Any]:
    """Validated, coerced values of ``data`` for a create or an update of ``rid``."""
    if not isinstance(data, dict):
        raise SaveError("JSON_PARSER_ERROR", "The record must be a JSON object")
    values: dict[str, Any] = {}
    read_only: list[str] = []
    for key, raw in data.items():
        if key == "attributes":
            continue
        f = sobj.field_ci(key)
        if f is None:
            rel = sobj.relationship(key)
            if rel is None or not isinstance(raw, dict):
                raise SaveError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {sobj.name}", [key]
                )
            values[rel.name] = _resolve_relationship(store, rel, raw)
            continue
        if not (f.createable if creating else f.updateable):
            read_only.append(f.name)
            continue
        values[f.name] = coerce(f, raw)
    if read_only:
        raise SaveError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(read_only)}. {_SECURITY_HINT}",
            read_only,
        )
    if creating:
        _apply_defaults(sobj, values)
    _check_required(sobj, values, creating=creating)
    _check_references(store, sobj, values)
    _check_unique(store, sobj, values, rid)
    if creating and sobj.name == "CampaignMember":
        _check_new_member(store, values)
    return values


def _check_new_member(store: Records, values: dict[str, Any]) -> None:
    """A contact is a member of a campaign at most once (Salesforce: DUPLICATE_VALUE)."""
    campaign, contact = values.get("CampaignId"), values.get("ContactId")
    for member in store.live("CampaignMember"):
        if member.get("CampaignId") == campaign and member.get("ContactId") == contact:
            raise SaveError(
                "DUPLICATE_VALUE",
                "Already a campaign member.",
                ["ContactId"],
            )


def _apply_defaults(sobj: SObject, values: dict[str, Any]) -> None:
    for f in sobj.fields.values():
        if values.get(f.name) is None and f.default is not None and f.createable:
            values[f.name] = f.default


def _check_required(sobj: SObject, values: dict[str, Any], *, creating: bool) -> None:
    if creating:
        missing = [
            f.name for f in sobj.fields.values() if f.required and values.get(f.name) is None
        ]
    else:
        missing = [
            name
            for name, value in values.items()
            if value is None and not sobj.fields[name].nillable
        ]
    if missing:
        raise SaveError(
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )


def _check_references(store: Records, sobj: SObject, values: dict[str, Any]) -> None:
    for name, value in values.items():
        f = sobj.fields[name]
        if f.type != "reference" or value is None or value == "$user":
            continue
        found = store.find(value)
        if found is None or found[1]["IsDeleted"]:
            raise SaveError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
        if found[0] not in f.reference_to:
            raise SaveError(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{f.display_label}: id value of incorrect type: {value}",
                [name],
            )


def _check_unique(store: Records, sobj: SObject, values: dict[str, Any], rid: str | None) -> None:
    for name, value in values.items():
        f = sobj.fields[name]
        if not f.unique or value is None:
            continue
        holder = store.unique_holder(sobj.name, name, value)
        if holder is not None and holder != rid:
            raise SaveError(
                "DUPLICATE_VALUE",
                f"duplicate value found: {name} duplicates value on record with id: {holder}",
                [name],
            )


def _resolve_relationship(store: Records, f: Field, raw: dict[str, Any]) -> str:
    """``{"Contact__r": {"B2Connect_Id__c": "x"}}`` -> the matching record's Id."""
    attrs = raw.get("attributes") or {}
    target = attrs.get("type") if isinstance(attrs, dict) else None
    target = target or f.reference_to[0]
    keys = [k for k in raw if k != "attributes"]
    target_obj = store.schema.get(target)
    if target_obj is None or target not in f.reference_to or len(keys) != 1:
        raise SaveError("INVALID_FIELD", f"Invalid foreign key reference for {f.relationship_name}")
    ext = target_obj.field_ci(keys[0])
    if ext is None or not (ext.external_id or ext.name == "Id"):
        raise SaveError(
            "INVALID_FIELD",
            f"The field {keys[0]} is not an external id or indexed field on {target}",
            [f.name],
        )
    value = raw[keys[0]]
    matches = store.match_external(target, ext.name, value)
    if not matches:
        raise SaveError(
            "INVALID_FIELD",
            f"Foreign key external ID: {value} not found for field {ext.name} in entity {target}",
            [f.name],
        )
    if len(matches) > 1:
        raise SaveError(
            "INVALID_FIELD",
            f"More than 1 record found for External ID field {ext.name} in entity {target}",
            [f.name],
        )
    return str(matches[0]["Id"])

"""sObject metadata: field definitions and the describe payloads built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Field", "SObject", "describe_global_entry", "describe_sobject"]

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
}
TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "email", "phone", "url", "picklist", "reference", "combobox"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})


@dataclass(frozen=True)
class Field:
    """One field of an sObject, with the describe attributes the emulator enforces."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    cascade_delete: bool = False
    precision: int = 0
    scale: int = 0
    name_field: bool = False
    auto_number: bool = False

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def required(self) -> bool:
        """Must be supplied on create (not nillable, writable, no default)."""
        return (
            not self.nillable
            and self.createable
            and self.default is None
            and self.type != "boolean"
            and not self.auto_number
        )

    @property
    def display_label(self) -> str:
        return self.label or self.name.removesuffix("__c").replace("_", " ")


@dataclass(frozen=True)
class SObject:
    """An sObject type: its key prefix, fields and which compound/auto name it carries."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: dict[str, Field] = field(default_factory=dict)
    createable: bool = True
    name_kind: str | None = None  # "compound" | "text" | "auto" | None

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def field_ci(self, name: str) -> Field | None:
        """A field by API name, case-insensitively (as Salesforce matches them)."""
        direct = self.fields.get(name)
        if direct is not None:
            return direct
        lowered = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == lowered), None)

    def relationship(self, name: str) -> Field | None:
        """The lookup field whose relationship name is ``name`` (e.g. ``Contact__r``)."""
        lowered = name.lower()
        return next(
            (
                f
                for f in self.fields.values()
                if f.relationship_name and f.relationship_name.lower() == lowered
            ),
            None,
        )


def _urls(version: str, obj: SObject) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def describe_global_entry(obj: SObject, version: str) -> dict[str, Any]:
    """The entry for ``obj`` in ``GET /sobjects``."""
    return {
        "activateable": False,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deletable": obj.createable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in {"Account", "Contact"},
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": obj.createable,
        "updateable": obj.createable,
        "urls": _urls(version, obj),
    }


def _describe_field(f: Field) -> dict[str, Any]:
    text = f.type in TEXT_TYPES
    return {
        "aggregatable": f.type not in {"textarea", "boolean"},
        "autoNumber": f.auto_number,
        "byteLength": f.length * 3 if text else 0,
        "calculated": False,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": False,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default if f.type == "boolean" else None,
        "defaultedOnCreate": f.default is not None or not f.createable or f.type == "boolean",
        "digits": 0,
        "externalId": f.external_id,
        "filterable": f.type != "textarea",
        "groupable": f.type not in {"textarea", "double", "currency", "percent"},
        "idLookup": f.type == "id" or f.external_id or f.type == "email",
        "label": f.display_label,
        "length": f.length if text else 0,
        "name": f.name,
        "nameField": f.name_field,
        "nillable": f.nillable,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": v == f.default,
                "label": v,
                "validFor": None,
                "value": v,
            }
            for v in f.picklist
        ],
        "precision": f.precision,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "restrictedPicklist": f.restricted,
        "scale": f.scale,
        "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "sortable": f.type != "textarea",
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
    }


def describe_sobject(
    obj: SObject, version: str, children: list[tuple[str, Field]]
) -> dict[str, Any]:
    """The ``GET /sobjects/{S}/describe`` payload; ``children`` are (child object, lookup)."""
    out = describe_global_entry(obj, version)
    out.update(
        {
            "childRelationships": [
                {
                    "cascadeDelete": f.cascade_delete,
                    "childSObject": child,
                    "deprecatedAndHidden": False,
                    "field": f.name,
                    "relationshipName": _child_relationship_name(child),
                    "restrictedDelete": False,
                }
                for child, f in children
            ],
            "fields": [_describe_field(f) for f in obj.fields.values()],
            "recordTypeInfos": [],
            "supportedScopes": [{"label": "All " + obj.label_plural.lower(), "name": "everything"}],
        }
    )
    return out


def _child_relationship_name(child: str) -> str:
    if child.endswith("__c"):
        return child[:-3] + "s__r"
    return child + "s"

"""Property definitions: the unique id property (checked once, created when missing), describe.

A new property goes into an existing property group (HubSpot refuses an unknown ``groupName``
with a 400): the object's default group (``contactinformation``, ``companyinformation``,
``lineiteminformation``, ``orderinformation``...) when the portal has it, else b2sync's own
group, created once (``POST /crm/v3/properties/{objectType}/groups``).
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from hubspot.crm.properties.models import PropertyCreate, PropertyGroupCreate

from connectors.errors import Fatal
from connectors.records import FieldInfo, StreamSchema

from ._api import HubSpotApi
from ._errors import HubSpotApiError
from ._types import TEXT_LIMIT, property_group

__all__ = ["PropertyKeeper", "missing_message"]

log = structlog.get_logger(__name__)

GET_PROPERTY = "GET /crm/v3/properties/{object_type}/{property_name}"
LIST_PROPERTIES = "GET /crm/v3/properties/{object_type}"
CREATE_PROPERTY = "POST /crm/v3/properties/{object_type}"
GET_GROUP = "GET /crm/v3/properties/{object_type}/groups/{group_name}"
CREATE_GROUP = "POST /crm/v3/properties/{object_type}/groups"

#: the group b2sync creates when an object type has no default group
OWN_GROUP = "b2sync"
OWN_GROUP_LABEL = "b2sync"


def missing_message(stream: str, name: str) -> str:
    """What ``check`` says about a missing id property."""
    return (
        f"HubSpot property '{name}' does not exist on {stream}; b2sync creates it on first "
        "write, or create it as a unique single-line text property"
    )


def _not_unique_message(stream: str, name: str) -> str:
    return (
        f"HubSpot property '{name}' on {stream} does not enforce unique values, so b2sync "
        "cannot upsert on it; use a unique single-line text property as id_property"
    )


def builtin_id_property(stream: str, name: str) -> bool:
    """Id properties HubSpot itself guarantees unique."""
    return name == "hs_object_id" or (stream == "contacts" and name == "email")


class PropertyKeeper:
    """Knows which id properties are ready, per object type, so each is checked once."""

    def __init__(self, api: HubSpotApi) -> None:
        self.api = api
        self._ready: set[tuple[str, str]] = set()
        #: concurrent first writes of an object check its id property once, the others wait
        #: (one lock per object and property: different objects are checked at once)
        self._checking: dict[tuple[str, str], threading.Lock] = {}
        self._locks = threading.Lock()

    def _fetch(self, stream: str, name: str) -> Any | None:
        """The property definition, or None when it does not exist."""
        try:
            data, _ = self.api.call(
                GET_PROPERTY, self.api.properties.get_by_name_with_http_info, stream, name
            )
        except HubSpotApiError as err:
            if err.status == 404:
                return None
            raise Fatal(
                f"HubSpot refused to describe property '{name}' on {stream} "
                f"({err.status} {err.body.category}): {err.body.message}",
                code=err.body.category or str(err.status),
            ) from err
        return data

    def problem(self, stream: str, name: str) -> str | None:
        """Why ``name`` cannot serve as the upsert key on ``stream``; None when it can."""
        if builtin_id_property(stream, name):
            return None
        definition = self._fetch(stream, name)
        if definition is None:
            return missing_message(stream, name)
        if not getattr(definition, "has_unique_value", False):
            return _not_unique_message(stream, name)
        self._ready.add((stream, name))
        return None

    def ensure(self, stream: str, name: str, *, recheck: bool = False) -> None:
        """Make sure the unique id property exists (created once when missing)."""
        if builtin_id_property(stream, name):
            return
        if recheck:
            self._ready.discard((stream, name))
        if (stream, name) in self._ready:
            return
        with self._locks:
            checking = self._checking.setdefault((stream, name), threading.Lock())
        with checking:
            if (stream, name) in self._ready:  # checked while this thread waited
                return
            definition = self._fetch(stream, name)
            if definition is None:
                self._create(stream, name)
            elif not getattr(definition, "has_unique_value", False):
                raise Fatal(_not_unique_message(stream, name), code="ID_PROPERTY_NOT_UNIQUE")
            self._ready.add((stream, name))

    def _group_exists(self, stream: str, group: str) -> bool:
        try:
            self.api.call(
                GET_GROUP,
                self.api.client.crm.properties.groups_api.get_by_name_with_http_info,
                stream,
                group,
            )
        except HubSpotApiError as err:
            if err.status == 404:
                return False
            raise Fatal(
                f"HubSpot refused to describe property group '{group}' on {stream} "
                f"({err.status} {err.body.category}): {err.body.message}",
                code=err.body.category or str(err.status),
            ) from err
        return True

    def group_for(self, stream: str) -> str:
        """An existing property group for a new property on ``stream``: the object's default
        group, else b2sync's own (created when missing)."""
        default = property_group(stream)
        if self._group_exists(stream, default):
            return default
        body = PropertyGroupCreate(name=OWN_GROUP, label=OWN_GROUP_LABEL, display_order=-1)
        try:
            self.api.call(
                CREATE_GROUP,
                self.api.client.crm.properties.groups_api.create_with_http_info,
                stream,
                body,
            )
        except HubSpotApiError as err:
            if err.status != 409:  # 409: it exists already, which is all we need
                raise Fatal(
                    f"b2sync could not create HubSpot property group '{OWN_GROUP}' on {stream} "
                    f"({err.status}: {err.body.message}); create a property group for it",
                    code=err.body.category or str(err.status),
                ) from err
        log.info("hubspot.property_group_used", object=stream, group=OWN_GROUP, missing=default)
        return OWN_GROUP

    def _create(self, stream: str, name: str) -> None:
        body = PropertyCreate(
            name=name,
            label=name.replace("_", " ").title(),
            type="string",
            field_type="text",
            group_name=self.group_for(stream),
            has_unique_value=True,
            form_field=False,
            description="Key of the matching B2Connect record, written by b2sync",
        )
        try:
            self.api.call(CREATE_PROPERTY, self.api.properties.create_with_http_info, stream, body)
        except HubSpotApiError as err:
            if err.status == 409:  # created meanwhile by someone else
                return
            raise Fatal(
                f"b2sync could not create HubSpot property '{name}' on {stream} "
                f"({err.status}: {err.body.message}); create it as a unique single-line text "
                "property",
                code=err.body.category or str(err.status),
            ) from err
        log.info("hubspot.id_property_created", object=stream, property=name)

    def describe(self, stream: str) -> StreamSchema:
        """Every property of ``stream`` as :class:`FieldInfo`."""
        try:
            data, _ = self.api.call(
                LIST_PROPERTIES, self.api.properties.get_all_with_http_info, stream
            )
        except HubSpotApiError as err:
            raise Fatal(
                f"HubSpot cannot describe '{stream}' ({err.status}: {err.body.message}); "
                "check the object type name",
                code=err.body.category or str(err.status),
            ) from err
        fields: dict[str, FieldInfo] = {}
        for prop in getattr(data, "results", None) or []:
            fields[prop.name] = _field_info(prop)
        return StreamSchema(stream=stream, fields=fields)


def _field_info(prop: Any) -> FieldInfo:
    kind = str(prop.type or "string")
    field_type = str(prop.field_type or "")
    meta = prop.modification_metadata
    read_only = bool(getattr(meta, "read_only_value", False)) or bool(prop.calculated)
    unique = bool(prop.has_unique_value)
    text = kind == "string" and field_type in ("text", "textarea", "")
    return FieldInfo(
        name=str(prop.name),
        type=kind,
        length=TEXT_LIMIT if text else None,
        nillable=True,
        unique=unique,
        external_id=unique,
        updateable=not read_only,
    )

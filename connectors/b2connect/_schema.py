"""The contract's fields per stream (``docs/b2connect-integration-api.yaml``), for ``describe``.

B2Connect has no describe call, so the schemas are hard-coded here. Types follow the OpenAPI
type/format: ``string``, ``id`` (uuid), ``email``, ``datetime`` (date-time), ``decimal``
(money, 2 places), ``integer``, ``boolean``, ``object`` (an address), ``array``. Lengths are
the contract's ``maxLength`` (of the write-back schema where it has one); ``nillable`` and
``updateable`` say whether the write-back route accepts null, and the field at all.
"""

from __future__ import annotations

from connectors.records import FieldInfo, StreamSchema

__all__ = ["STREAMS", "nested_fields", "schema_of"]


def _f(
    name: str,
    type_: str = "string",
    length: int | None = None,
    *,
    nillable: bool = True,
    ro: bool = False,
    unique: bool = False,
) -> FieldInfo:
    return FieldInfo(
        name, type_, length, nillable=nillable, unique=unique, external_id=unique, updateable=not ro
    )


def _ids() -> list[FieldInfo]:
    return [
        _f("id", "id", nillable=False, ro=True, unique=True),
        _f("tenantId", "id", nillable=False, ro=True),
    ]


def _stamps() -> list[FieldInfo]:
    return [
        _f("createdAt", "datetime", nillable=False, ro=True),
        _f("updatedAt", "datetime", nillable=False, ro=True),
    ]


def _party_tail() -> list[FieldInfo]:
    return [
        _f("customerType", nillable=False),
        _f("language", length=5, nillable=False),
        _f("currency", length=3, nillable=False),
        _f("isActive", "boolean", nillable=False),
        _f("billingAddress", "object"),
        _f("shippingAddress", "object"),
    ]


_CUSTOMERS = [
    *_ids(),
    _f("customerNumber", ro=True),
    _f("email", "email", 255, nillable=False),
    _f("firstName", length=100),
    _f("lastName", length=100),
    _f("salutation", length=20),
    _f("phone", length=50),
    _f("mobile", length=50),
    _f("companyId", "id"),
    *_party_tail(),
    *_stamps(),
]

_COMPANIES = [
    *_ids(),
    _f("customerNumber", ro=True),
    _f("name", length=200, nillable=False),
    _f("vatId", length=30),
    _f("taxId", length=30),
    _f("website", length=255),
    _f("email", "email", 255),
    _f("phone", length=50),
    *_party_tail(),
    _f("addresses", "array", ro=True),
    *_stamps(),
]

_ADDRESS_PARTS = (
    "FirstName",
    "LastName",
    "Company",
    "Street",
    "City",
    "PostalCode",
    "Country",
    "Phone",
)

_ORDERS = [
    *_ids(),
    _f("customerId", "id", ro=True),
    _f("customerEmail", length=255, nillable=False, ro=True),
    _f("orderNumber", length=50, nillable=False, ro=True),
    _f("status", length=20, nillable=False, ro=True),
    _f("paymentStatus", length=20, nillable=False, ro=True),
    _f("paymentMethod", length=20, nillable=False, ro=True),
    _f("paymentProvider", length=50, ro=True),
    _f("transactionId", length=100, ro=True),
    *(
        _f(name, "decimal", nillable=False, ro=True)
        for name in ("subtotal", "taxAmount", "discountAmount", "shippingAmount", "totalAmount")
    ),
    _f("currency", length=3, nillable=False, ro=True),
    *(
        _f(f"{side}{part}", length=2 if part == "Country" else 200, ro=True)
        for side in ("shipping", "billing")
        for part in _ADDRESS_PARTS
    ),
    _f("notes", length=1000, ro=True),
    _f("discountCode", length=100, ro=True),
    _f("source", length=100, ro=True),
    _f("items", "array", nillable=False, ro=True),
    _f("statusHistory", "array", ro=True),
    _f("returns", "array", ro=True),
    *_stamps(),
]

_CONSENTS = [
    *_ids(),
    _f("subjectId", "id"),
    _f("email", "email", 255),
    _f("channel", nillable=False),
    _f("purpose", nillable=False),
    _f("status", nillable=False),
    _f("legalBasis"),
    _f("source", length=100),
    _f("capturedAt", "datetime"),
    _f("wordingVersion", length=50),
    _f("ipAddress"),
    *_stamps(),
]

_ERASURES = [
    *_ids(),
    _f("subjectId", "id", ro=True),
    _f("email", length=255, ro=True),
    _f("status", nillable=False),
    _f("origin", nillable=False, ro=True),
    _f("source", length=100, ro=True),
    _f("reason", length=500, ro=True),
    _f("note", length=500),
    _f("requestedAt", "datetime", ro=True),
    _f("completedAt", "datetime", ro=True),
    *_stamps(),
]

_SCHEMAS: dict[str, list[FieldInfo]] = {
    "customers": _CUSTOMERS,
    "companies": _COMPANIES,
    "orders": _ORDERS,
    "consents": _CONSENTS,
    "erasures": _ERASURES,
}

#: every stream the connector knows, in the contract's order
STREAMS: tuple[str, ...] = tuple(_SCHEMAS)


def schema_of(stream: str) -> StreamSchema:
    """The :class:`StreamSchema` of a known stream."""
    return StreamSchema(stream, {f.name: f for f in _SCHEMAS[stream]})


_ADDRESS = ("street1", "street2", "city", "state", "postalCode", "countryCode")
_COMPANY_ADDRESS = (
    "id", "type", "name", "company", *_ADDRESS[:-1], "countryCode", "phone", "isDefault",
    "isActive",
)  # fmt: skip
_ORDER_ITEM = (
    "id", "orderId", "productId", "productName", "productSku", "quantity", "unitPrice",
    "totalPrice", "createdAt",
)  # fmt: skip

#: fields of the objects (and of each item of the arrays) inside a record, per stream
_NESTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("customers", "billingAddress"): _ADDRESS,
    ("customers", "shippingAddress"): _ADDRESS,
    ("companies", "billingAddress"): _ADDRESS,
    ("companies", "shippingAddress"): _ADDRESS,
    ("companies", "addresses"): _COMPANY_ADDRESS,
    ("orders", "items"): _ORDER_ITEM,
    ("orders", "statusHistory"): ("status", "changedAt"),
    ("orders", "returns"): ("id", "status", "refundAmount", "createdAt"),
}


def nested_fields(stream: str, name: str) -> tuple[str, ...] | None:
    """Fields of the object (or array items) ``name`` of ``stream``; None when it has none."""
    return _NESTED.get((stream, name))

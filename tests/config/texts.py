"""Config texts the config tests share: the connections every test config starts with."""

from __future__ import annotations

#: ``version``, a B2Connect shop and a HubSpot connection, up to ``pipelines:``.
HEADER = """\
version: 1
connections:
  shop:
    type: b2connect
    url: http://127.0.0.1:9
    token: ${SHOP_TOKEN}
    tenant_id: 3fa85f64-5717-4562-b3fc-2c963f66afa6
  hs:
    type: hubspot
    token: ${HS_TOKEN}
pipelines:
"""


def contacts_pipeline(name: str, direction: str, *fields: str) -> str:
    """A ``shop`` customers <-> ``hs`` contacts pipeline matched on email, one line a field."""
    head = (
        f"  - name: {name}\n"
        "    b2connect: {connection: shop, stream: customers}\n"
        "    crm: {connection: hs, object: contacts}\n"
        f"    direction: {direction}\n"
        "    match_key: {b2connect: email, crm: email}\n"
        "    fields:\n"
    )
    return head + "".join(f"      - {field}\n" for field in fields)

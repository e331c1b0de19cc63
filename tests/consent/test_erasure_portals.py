"""A HubSpot privacy deletion filed for one tenant never touches another tenant's people, even
when both tenants' portals use the same HubSpot record id."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from consent.erasure.model import Origin, SubjectIds
from mapping.config import parse_config
from store.models import metadata
from tests.consent.erasure_kit import CONFIG, Kit, make_kit

SECOND_TENANT = """\
  shop2: {type: b2connect, url: http://127.0.0.1:9, token: "${T}", tenant_id: T2}
  hs2: {type: hubspot, token: "${H}"}
  hs: {type: hubspot"""
SECOND_PIPELINE = """\
  - name: people-hs2
    b2connect: {connection: shop2, stream: customers}
    crm: {connection: hs2, object: contacts, id_property: b2connect_id}
    fields:
      - {b2connect: email, crm: email, transform: [email]}
"""


def _two_tenants(tmp_path: Path) -> Kit:
    kit = make_kit(tmp_path)
    text = (CONFIG % {"audit": "true"}).replace("  hs: {type: hubspot", SECOND_TENANT, 1)
    kit.config = parse_config(text + SECOND_PIPELINE)
    return kit


def _links(kit: Kit) -> set[tuple[str, str]]:
    links = metadata.tables["links"]
    with kit.db.connect() as conn:
        rows = conn.execute(sa.select(links.c.pipeline, links.c.b2connect_key))
        return {(r.pipeline, r.b2connect_key) for r in rows}


def test_same_hubspot_id_in_two_tenants_erases_in_the_filing_tenant_only(tmp_path: Path) -> None:
    """Tenant T2's portal deletes contact 501; tenant T1's contact 501 (another portal, another
    person) keeps its link."""
    kit = _two_tenants(tmp_path)
    kit.link("people-hs", "c1", "501", "ada@example.com")
    kit.link("people-hs2", "c7", "501", "bob@example.com")
    intake = kit.desk().file(SubjectIds(crm_ids={"hubspot": "501"}), tenant="t2",
                             origin=Origin.HUBSPOT)  # fmt: skip
    assert intake.status == "filed"
    assert _links(kit) == {("people-hs", "c1")}

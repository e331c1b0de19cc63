"""End to end: CAC, net LTV and LTV:CAC reach HubSpot and Salesforce contacts after a sync.

The seed's orders carry B2Connect's ``source`` (email, paid_search, social, affiliate or
none); the spend CSV covers every month of the seed for three of those channels.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta

from insights.orders import parse_time
from tests.e2e.conftest import E2E, ROOT, config_for
from tests.e2e.insights_support import hubspot_contacts, salesforce_contacts
from tests.e2e.test_cli_sync import cli

CENT = Decimal("0.01")
SPEND = {"email": Decimal(120), "paid_search": Decimal(300), "social": Decimal("45.50")}


def _spend_csv(path: Path) -> dict[tuple[str, str], Decimal]:
    now = datetime.now(UTC)
    rows: dict[tuple[str, str], Decimal] = {}
    for n in range(48):
        moment = now - relativedelta(months=n)
        for channel, amount in SPEND.items():
            rows[(f"{moment:%Y-%m}", channel)] = amount
    lines = ["month,channel,amount", *(f"{m},{c},{a}" for (m, c), a in rows.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


def _with_spend(e2e: E2E, tmp_path: Path) -> dict[tuple[str, str], Decimal]:
    csv_path = tmp_path / "marketing-spend.csv"
    spend = _spend_csv(csv_path)
    text = (ROOT / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("  # marketing_spend:\n", f"  marketing_spend:\n    csv: {csv_path}\n", 1)
    e2e.config, e2e.config_path = config_for(tmp_path, text)
    assert e2e.config.insights.marketing_spend is not None
    return spend


def _first_orders(e2e: E2E) -> dict[str, tuple[str, str]]:
    """Each seeded customer's cohort month and channel (first non-cancelled order)."""
    assert e2e.stack.seed_data is not None
    firsts: dict[str, tuple[datetime, str, str]] = {}
    for order in e2e.stack.seed_data.orders:
        if order["status"] == "cancelled":
            continue
        created = parse_time(order["createdAt"], order["id"], "createdAt")
        mark = (created, order["id"], order.get("source") or "unattributed")
        if order["customerId"] not in firsts or mark < firsts[order["customerId"]]:
            firsts[order["customerId"]] = mark
    return {k: (f"{c:%Y-%m}", ch) for k, (c, _id, ch) in firsts.items()}


def test_sync_writes_cac_net_ltv_and_ratio_to_both_crms(e2e: E2E, tmp_path: Path) -> None:
    """`b2sync sync` with a spend CSV: each contact's CAC is its cohort+channel's spend over
    its new customers, net LTV = LTV − CAC, LTV:CAC = LTV / CAC, in HubSpot and Salesforce."""
    spend = _with_spend(e2e, tmp_path)

    result = cli(e2e, "sync", "--config", str(e2e.config_path))

    assert result.returncode == 0, result.stderr
    firsts = _first_orders(e2e)
    new = Counter(firsts.values())
    hubspot, salesforce = hubspot_contacts(e2e), salesforce_contacts(e2e)
    channels: set[str] = set()
    checked = 0
    for key in sorted(set(hubspot) & set(salesforce) & set(firsts)):
        cell = firsts[key]
        cac = (spend.get(cell, Decimal(0)) / new[cell]).quantize(CENT)
        props: dict[str, Any] = hubspot[key]["properties"]
        fields = salesforce[key]
        ltv = Decimal(props["b2c_ltv"])
        assert props["b2c_acquisition_channel"] == fields["Acquisition_Channel__c"] == cell[1]
        assert Decimal(props["b2c_cac"]) == Decimal(str(fields["CAC__c"])) == cac
        assert Decimal(props["b2c_net_ltv"]) == Decimal(str(fields["Net_LTV__c"])) == ltv - cac
        if cac:
            ratio = (ltv / cac).quantize(CENT)
            assert Decimal(props["b2c_ltv_cac_ratio"]) == ratio
            assert Decimal(str(fields["LTV_CAC_Ratio__c"])) == ratio
        else:  # organic (no spend on that channel): no ratio
            assert not props.get("b2c_ltv_cac_ratio")
            assert fields["LTV_CAC_Ratio__c"] is None
        channels.add(cell[1])
        checked += 1
    assert checked >= 5
    assert "unattributed" in channels and len(channels) >= 3

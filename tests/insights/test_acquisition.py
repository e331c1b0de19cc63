"""CAC, net LTV and LTV:CAC: spend from a CSV and the YAML, first-order attribution by the
order's ``source``, through ``b2sync report monthly``, ``b2sync check`` and the refresh pass."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from b2sync.cli import app
from insights.acquisition import acquisitions, cac_table
from insights.compute import aggregate_metrics, score_customers
from insights.lifecycle import PopulationThresholds
from mapping.config import MarketingSpend
from store import make_engine, upgrade
from tests.insights.factories import dated_order
from tests.insights.kit import SETTINGS, TENANT, add, refresher

runner = CliRunner()
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


# May cohort: a and b by email, c unattributed; June cohort: d by paid search, e by social
# (e's earlier order was cancelled, so it does not count as the first one)
ORDERS = [
    dated_order("a1", "a", "2026-05-03", "100.00", " Email "),
    dated_order("a2", "a", "2026-06-01", "200.00", "social"),  # not a's first order: ignored
    dated_order("b1", "b", "2026-05-10", "50.00", "email"),
    dated_order("c1", "c", "2026-05-20", "80.00"),
    dated_order("d1", "d", "2026-06-05", "300.00", "paid_search"),
    dated_order("e0", "e", "2026-04-01", "999.00", "affiliate", status="cancelled"),
    dated_order("e1", "e", "2026-06-10", "120.00", "Social"),
]
CSV = "month,channel,amount\n2026-05,email,300\n2026-05,social,100\n2026-06,paid_search,150\n" \
      "2026-06,email,50.00\n"  # fmt: skip
#: the YAML's rows add up with the CSV's (paid_search in June: 150 + 50)
ROWS = [{"month": "2026-06", "channel": "Paid_Search", "amount": 50}]


def _config(tmp_path: Path, url: str, spend: str) -> Path:
    text = (
        f"version: 1\nstate_url: {url}\n"
        f"insights:\n  marketing_spend:\n{spend}"
        "connections:\n"
        "  shop:\n    type: b2connect\n    url: http://127.0.0.1:9\n    token: ${T}\n"
        f"    tenant_id: {TENANT}\n"
        "  hs:\n    type: hubspot\n    url: http://127.0.0.1:9\n    token: ${T}\n"
        "pipelines:\n  - name: orders\n    b2connect: {connection: shop, stream: orders}\n"
        "    crm: {connection: hs, object: orders}\n"
        "    fields: [{b2connect: orderNumber, crm: hs_order_name}]\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _spend_yaml(csv_path: Path) -> str:
    return (
        f"    csv: {csv_path}\n"
        "    rows:\n      - {month: 2026-06, channel: Paid_Search, amount: 50}\n"
    )


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T", "token")


@pytest.fixture
def store(sqlite_store_url: str) -> str:
    engine = make_engine(sqlite_store_url)
    upgrade(engine)
    add(engine, *ORDERS, now=NOW)
    engine.dispose()
    return sqlite_store_url


def _report(tmp_path: Path, config: Path, fmt: str = "md") -> tuple[int, str, str]:
    out = tmp_path / f"r.{fmt}"
    args = ["report", "monthly", "--month", "2026-06", "--format", fmt, "-o", str(out)]
    result = runner.invoke(app, [*args, "-c", str(config)])
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    return result.exit_code, result.output, text


def test_report_shows_cac_net_ltv_and_ratio_per_cohort_and_channel(
    tmp_path: Path, store: str
) -> None:
    """`report monthly`: CAC = spend / new customers per first-order month and source."""
    spend = tmp_path / "spend.csv"
    spend.write_text(CSV, encoding="utf-8")

    code, output, md = _report(tmp_path, _config(tmp_path, store, _spend_yaml(spend)))

    assert code == 0, output
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:2]): line for line in
            md.splitlines() if line.startswith("| 2026-0")}  # fmt: skip
    # cohort, channel, spend, new customers, CAC, avg LTV (June end), avg net LTV, LTV:CAC
    assert rows[("2026-05", "email")].endswith("| 300.00 | 2 | 150.00 | 175.00 | 25.00 | 1.2 : 1 |")
    assert rows[("2026-05", "social")].endswith("| 100.00 | 0 | — | — | — | — |")
    assert rows[("2026-05", "unattributed")].endswith("| 0.00 | 1 | 0.00 | 80.00 | 80.00 | — |")
    assert rows[("2026-06", "paid_search")].endswith(
        "| 200.00 | 1 | 200.00 | 300.00 | 100.00 | 1.5 : 1 |"
    )
    assert rows[("2026-06", "social")].endswith("| 0.00 | 1 | 0.00 | 120.00 | 120.00 | — |")
    assert ("2026-04", "affiliate") not in rows  # a cancelled order acquires nobody
    # June: 250 spent for d and e; May: 400 for a, b, c. LTV:CAC over the cohorts so far:
    # (300 + 50 + 80 + 300 + 120) / 650 now, (100 + 50 + 80) / 400 at the end of May
    assert "| CAC (new customers) | 125.00 EUR | — | -8.33 EUR |" in md
    assert "| LTV:CAC | 1.3 : 1 | 3.0 : 1 | +0.7 |" in md


def test_html_report_has_the_acquisition_table(tmp_path: Path, store: str) -> None:
    """The HTML page carries the same table and the LTV:CAC target."""
    spend = tmp_path / "spend.csv"
    spend.write_text(CSV, encoding="utf-8")

    code, output, html = _report(tmp_path, _config(tmp_path, store, _spend_yaml(spend)), "html")

    assert code == 0, output
    assert "<h2>Acquisition: CAC and net LTV</h2>" in html
    assert '<td>paid_search</td><td class="n">200.00</td><td class="n">1</td>' in html
    assert '<td class="n">3.0 : 1</td>' in html


def test_without_spend_the_report_says_no_data(tmp_path: Path, store: str) -> None:
    """No marketing_spend: the section and both KPIs say "no data", nothing is invented."""
    config = _config(tmp_path, store, "    rows: []\n").read_text(encoding="utf-8")
    config = config.replace("insights:\n  marketing_spend:\n    rows: []\n", "")
    path = tmp_path / "config.yaml"
    path.write_text(config, encoding="utf-8")

    code, output, md = _report(tmp_path, path)

    assert code == 0, output
    assert "No data: no marketing spend is configured" in md
    assert "| LTV:CAC | no data | 3.0 : 1 | — |" in md


@pytest.mark.parametrize(
    ("bad", "where", "what"),
    [
        ("month,channel,amount\n2026-05,email,300\n2026-13,email,1\n", 3, "is not YYYY-MM"),
        ("month,channel,amount\n2026-05,email,3OO\n", 2, "amount '3OO' is not a number"),
        ("month,channel,amount\n\n2026-05,,300\n", 3, "the channel is empty"),
        ("month,channel,amount\n2026-05,email,-1\n", 2, "must be a non-negative number"),
        ("month,channel,amount\n2026-05,email\n", 2, "2 columns, expected 3"),
        ("month;channel;amount\n", 1, "not month,channel,amount"),
    ],
)
def test_bad_csv_row_is_refused_with_file_and_line(
    tmp_path: Path, store: str, bad: str, where: int, what: str
) -> None:
    """`check` and `report monthly` exit 2 naming the CSV's file:line and the expected form."""
    spend = tmp_path / "spend.csv"
    spend.write_text(bad, encoding="utf-8")
    config = _config(tmp_path, store, f"    csv: {spend}\n")

    checked = runner.invoke(app, ["check", "-c", str(config)])
    code, output, _md = _report(tmp_path, config)

    for exit_code, text in ((checked.exit_code, checked.output), (code, output)):
        assert exit_code == 2
        assert f"{spend}:{where}: " in text and what in text
        assert "month,channel,amount" in text
    assert not (tmp_path / "r.md").exists()


def test_missing_csv_is_refused(tmp_path: Path, store: str) -> None:
    """A CSV path that does not exist is a config error, not an empty spend table."""
    config = _config(tmp_path, store, f"    csv: {tmp_path / 'nope.csv'}\n")
    result = runner.invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == 2
    assert "cannot read the marketing-spend file" in result.output


def _fields(db: sa.Engine, spend: MarketingSpend, keys: list[str]) -> dict[str, Any]:
    """The insight fields of ``keys`` with the stored (or first) new-customer counts."""
    config = SETTINGS.model_copy(update={"marketing_spend": spend})
    with db.begin() as conn:
        table = cac_table(conn, TENANT, config, recount=False)
        acquired = acquisitions(conn, TENANT, table, keys)
        metrics, _errors = aggregate_metrics(conn, TENANT, now=NOW, settings=config, keys=keys)
    population = PopulationThresholds((Decimal(0),) * 4, Decimal(0))
    scored = score_customers(keys, metrics, {}, population=population, now=NOW, config=config,
                             acquisitions=acquired)  # fmt: skip
    return {s.key: s.fields for s in scored}


def test_each_customer_gets_cac_net_ltv_and_ratio(
    tmp_path: Path, sqlite_store_engine: sa.Engine
) -> None:
    """The fields the CRMs receive: channel, CAC of the cohort+channel, LTV − CAC, LTV / CAC."""
    spend_file = tmp_path / "spend.csv"
    spend_file.write_text(CSV, encoding="utf-8")
    spend = MarketingSpend.model_validate({"csv": str(spend_file), "rows": ROWS})
    add(sqlite_store_engine, *ORDERS, now=NOW)

    fields = _fields(sqlite_store_engine, spend, ["a", "c", "d", "x"])

    a, c, d = fields["a"], fields["c"], fields["d"]
    assert (a["acquisition_channel"], a["cac"], a["net_ltv"], a["ltv_cac_ratio"]) == (
        "email", "150.00", "150.00", "2.00",
    )  # fmt: skip
    assert (c["acquisition_channel"], c["cac"], c["net_ltv"], c["ltv_cac_ratio"]) == (
        "unattributed", "0.00", "80.00", None,
    )  # fmt: skip
    assert (d["cac"], d["net_ltv"], d["ltv_cac_ratio"]) == ("200.00", "100.00", "1.50")
    x = fields["x"]  # registered, never ordered: no cohort, no CAC
    assert (x["acquisition_channel"], x["cac"], x["net_ltv"]) == (None, None, None)


def test_incremental_passes_keep_the_full_pass_counts(sqlite_store_engine: sa.Engine) -> None:
    """New customers join the CAC denominators at the next full pass, not in between."""
    spend = MarketingSpend.model_validate({"rows": [{"month": "2026-06", "channel": "social",
                                                     "amount": 240}]})  # fmt: skip
    add(sqlite_store_engine, *ORDERS, now=NOW)
    refresh = refresher(sqlite_store_engine, marketing_spend=spend, population_drift_percent=100)
    refresh.run(full=True, tenants=[TENANT])  # counts June social: e
    add(sqlite_store_engine, dated_order("f1", "f", "2026-06-20", "60.00", "social"), now=NOW)

    assert _fields(sqlite_store_engine, spend, ["e"])["e"]["cac"] == "240.00"
    refresh.run(full=False, tenants=[TENANT])
    assert _fields(sqlite_store_engine, spend, ["e"])["e"]["cac"] == "240.00"
    refresh.run(full=True, tenants=[TENANT])  # e and f share June's social spend now
    assert _fields(sqlite_store_engine, spend, ["e", "f"])["f"]["cac"] == "120.00"


def test_insights_show_explains_cac_and_net_ltv(tmp_path: Path, store: str) -> None:
    """`insights show --customer` names the cohort, channel, CAC, net LTV and LTV:CAC."""
    spend = tmp_path / "spend.csv"
    spend.write_text(CSV, encoding="utf-8")
    config = _config(tmp_path, store, _spend_yaml(spend))

    result = runner.invoke(app, ["insights", "show", "--customer", "a", "-c", str(config)])

    assert result.exit_code == 0, result.output
    assert "Acquisition: cohort 2026-05, channel email (source of the first order); CAC 150.00" in (
        result.output
    )
    assert "net LTV 150.00 (LTV 300.00 − CAC) · LTV:CAC 2.0 : 1 (target 3 : 1)" in result.output
    assert "Support: no tickets or NPS answers in the CRMs" in result.output

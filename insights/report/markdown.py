"""The monthly report as Markdown."""

from __future__ import annotations

from decimal import Decimal

from insights.report.data import COHORT_OFFSETS, Kpi, MonthlyReport

__all__ = [
    "ACQUISITION_HEAD",
    "ACQUISITION_NOTE",
    "NO_SPEND",
    "acquisition_cells",
    "fmt_kpi",
    "fmt_target",
    "render_markdown",
]

ACQUISITION_HEAD = [
    "Cohort",
    "Channel",
    "Spend",
    "New customers",
    "CAC",
    "Avg LTV",
    "Avg net LTV",
    "LTV:CAC",
]
NO_SPEND = (
    "No data: no marketing spend is configured (`insights.marketing_spend`: a CSV file or "
    "rows in the YAML), so CAC, net LTV and LTV:CAC cannot be computed."
)
ACQUISITION_NOTE = (
    "New customers by first-order month and the `source` of that order (first-order "
    "attribution; none: unattributed). CAC = spend / new customers; net LTV = LTV − CAC; "
    "LTV as of this month's end."
)


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def acquisition_cells(report: MonthlyReport) -> list[list[str]]:
    """The acquisition table's rows as text."""
    section = report.acquisition
    if section is None:
        return []
    return [
        [
            r.month,
            r.channel,
            _money(r.spend),
            str(r.new),
            _money(r.cac),
            _money(r.average_ltv),
            _money(r.average_net_ltv),
            "—" if r.ratio is None else f"{r.ratio:.1f} : 1",
        ]
        for r in section.rows
    ]


def fmt_kpi(kpi: Kpi, value: float | None, currency: str) -> str:
    """A KPI value as text ("no data" when missing)."""
    if value is None:
        return "no data"
    if kpi.unit == "%":
        return f"{value * 100:.1f} %"
    if kpi.unit == "money":
        return f"{value:,.2f} {currency}"
    if kpi.unit == "ratio":
        return f"{value:.1f} : 1"
    return f"{value:.0f}"


def fmt_target(kpi: Kpi, currency: str) -> str:
    """The target as text ("—" for a figure without one)."""
    return "—" if kpi.target is None else fmt_kpi(kpi, kpi.target, currency)


def fmt_delta(kpi: Kpi, currency: str) -> str:
    """The change since last month, signed ("—" when either month has no data)."""
    delta = kpi.delta
    if delta is None:
        return "—"
    if kpi.unit == "%":
        return f"{delta * 100:+.1f} pt"
    if kpi.unit == "money":
        return f"{delta:+,.2f} {currency}"
    if kpi.unit == "ratio":
        return f"{delta:+.1f}"
    return f"{delta:+.0f}"


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f} %"


def render_markdown(report: MonthlyReport) -> str:
    """The whole report as one Markdown document."""
    cur = report.currency
    out = [
        f"# CRM & retention report — {report.month}",
        "",
        f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by b2sync; money in {cur}.",
        "",
        "## Summary",
        "",
        "| KPI | This month | Target | Δ vs last month |",
        "|-----|-----------:|-------:|----------------:|",
    ]
    for kpi in report.kpis:
        out.append(
            f"| {kpi.name} | {fmt_kpi(kpi, kpi.value, cur)} | {fmt_target(kpi, cur)} "
            f"| {fmt_delta(kpi, cur)} |"
        )
    out.append("")
    out += [
        "## Cohort retention",
        "",
        "Customers by first-order month; share ordering again in month k.",
        "",
    ]
    heads = " | ".join(f"M{k}" for k in COHORT_OFFSETS)
    out += [f"| Cohort | Customers | {heads} |", "|---|---:|" + "---:|" * len(COHORT_OFFSETS)]
    for label, size, cells in report.cohorts:
        out.append(f"| {label} | {size} | " + " | ".join(_cell(c) for c in cells) + " |")
    if not report.cohorts:
        out.append("| (no orders in the last 12 months) | | " + " | " * len(COHORT_OFFSETS))
    out += [
        "",
        "## Segment health",
        "",
        "| Segment | Size | Last month | Trend | Suggested action |",
    ]
    out.append("|---|---:|---:|:-:|---|")
    for row in report.segments:
        out.append(f"| {row.segment} | {row.size} | {row.previous} | {row.trend} | {row.action} |")
    churn = report.churn
    out += [
        "",
        "## Churn analysis",
        "",
        f"- Churned this month: {churn['churned']} customers, lifetime value "
        f"{churn['lost_ltv']:,.2f} {cur}.",
        f"- At risk now (no order for more than the at-risk period): {churn['at_risk_now']}.",
    ]
    if churn["from_segment"]:
        parts = ", ".join(f"{seg} {n}" for seg, n in churn["from_segment"].items())
        out.append(f"- Segment last month of those who churned: {parts}.")
    out += ["", "## Acquisition: CAC and net LTV", ""]
    if report.acquisition is None:
        out.append(NO_SPEND)
    else:
        out += [ACQUISITION_NOTE, ""]
        out += ["| " + " | ".join(ACQUISITION_HEAD) + " |", "|---|---|" + "---:|" * 6]
        out += ["| " + " | ".join(row) + " |" for row in acquisition_cells(report)]
        if not report.acquisition.rows:
            out.append("| (no spend or new customers in the last 12 months) |" + " |" * 7)
    sync = report.sync
    status = ", ".join(f"{k} {v}" for k, v in sync["runs_by_status"].items()) or "none"
    erasures = ", ".join(f"{k} {v}" for k, v in sync["erasures_by_status"].items()) or "none"
    out += [
        "",
        "## Email performance",
        "",
        report.email,
        "",
    ]
    if report.email_kpis:
        out += ["| Metric | This month | Last month | Δ vs last month |", "|---|---:|---:|---:|"]
        out += [
            f"| {k.name} | {fmt_kpi(k, k.value, cur)} | {fmt_kpi(k, k.previous, cur)} "
            f"| {fmt_delta(k, cur)} |"
            for k in report.email_kpis
        ]
        out.append("")
    out += ["## Support and satisfaction", "", report.support, ""]
    if report.support_kpis:
        out += ["| Metric | This month | Last month | Δ vs last month |", "|---|---:|---:|---:|"]
        out += [
            f"| {k.name} | {fmt_kpi(k, k.value, cur)} | {fmt_kpi(k, k.previous, cur)} "
            f"| {fmt_delta(k, cur)} |"
            for k in report.support_kpis
        ]
        out.append("")
    out += [
        "## Sync health",
        "",
        f"- Pipeline runs: {sync['runs']} ({status}).",
        f"- Records written: {sync['records_written']}; failed: {sync['records_failed']}; "
        f"API calls: {sync['api_calls']}.",
        f"- Dead letters waiting: {sync['dead_letters_open']}.",
        f"- Erasure requests: {sync['erasures']} ({erasures}).",
    ]
    out += [f"\n_{note}_" for note in report.notes]
    return "\n".join(out) + "\n"

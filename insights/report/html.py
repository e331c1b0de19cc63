"""The monthly report as one self-contained HTML page with inline SVG charts (no scripts)."""

from __future__ import annotations

from html import escape

from insights.report.data import COHORT_OFFSETS, MonthlyReport
from insights.report.markdown import (
    ACQUISITION_HEAD,
    ACQUISITION_NOTE,
    NO_SPEND,
    acquisition_cells,
    fmt_delta,
    fmt_kpi,
    fmt_target,
)

__all__ = ["cohort_heatmap", "render_html", "segment_chart"]

_COLORS = (
    "#1b5e20", "#2e7d32", "#43a047", "#7cb342", "#c0ca33",
    "#fdd835", "#fb8c00", "#e53935", "#8e24aa", "#546e7a",
)  # fmt: skip
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.3rem .6rem;border:1px solid #ddd}
th{background:#f4f4f4;text-align:left}td.n{text-align:right}.muted{color:#777}
.up{color:#2e7d32}.down{color:#c62828}
"""


def _heat(value: float) -> str:
    """White → green by share."""
    level = max(0.0, min(1.0, value))
    g = int(255 - 120 * level)
    rb = int(255 - 200 * level)
    return f"rgb({rb},{g},{rb})"


def cohort_heatmap(report: MonthlyReport) -> str:
    """Cohorts × M1..M12 as an SVG heatmap."""
    cell_w, cell_h, left, top = 70, 26, 110, 30
    rows = report.cohorts
    width = left + cell_w * len(COHORT_OFFSETS) + 10
    height = top + cell_h * max(len(rows), 1) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Cohort retention heatmap">'
    ]
    for i, k in enumerate(COHORT_OFFSETS):
        x = left + i * cell_w + cell_w / 2
        parts.append(f'<text x="{x}" y="20" text-anchor="middle" font-size="13">M{k}</text>')
    for r, (label, _size, cells) in enumerate(rows):
        y = top + r * cell_h
        parts.append(
            f'<text x="{left - 8}" y="{y + 18}" text-anchor="end" font-size="13">{label}</text>'
        )
        for i, value in enumerate(cells):
            x = left + i * cell_w
            fill = "#eeeeee" if value is None else _heat(value)
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"/>'
            )
            if value is not None:
                parts.append(
                    f'<text x="{x + cell_w / 2}" y="{y + 17}" text-anchor="middle" '
                    f'font-size="12">{value * 100:.0f}%</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def segment_chart(report: MonthlyReport) -> str:
    """Segment sizes over the trend months as SVG lines with a legend."""
    width, height, left, top, bottom = 760, 300, 50, 20, 40
    plot_w, plot_h = width - left - 200, height - top - bottom
    months = report.trend_months
    peak = max([max(r.history, default=0) for r in report.segments] + [1])
    step = plot_w / max(len(months) - 1, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="Segment sizes over time">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 5}" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, month in enumerate(months):
        x = left + i * step
        parts.append(
            f'<text x="{x}" y="{top + plot_h + 18}" text-anchor="middle" font-size="11">{month}</text>'
        )
    for n, row in enumerate(report.segments):
        color = _COLORS[n % len(_COLORS)]
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}"
            for i, v in enumerate(row.history)
        )
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        y = top + 8 + n * 22
        parts.append(
            f'<rect x="{left + plot_w + 20}" y="{y - 9}" width="12" height="12" fill="{color}"/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 38}" y="{y + 1}" font-size="12">{escape(row.segment)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join(
            f'<td class="n">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(report: MonthlyReport) -> str:
    """The whole report as one HTML document."""
    cur = report.currency
    kpi_rows = [
        [k.name, fmt_kpi(k, k.value, cur), fmt_target(k, cur), fmt_delta(k, cur)]
        for k in report.kpis
    ]
    cohort_rows = [
        [label, str(size), *("" if c is None else f"{c * 100:.0f} %" for c in cells)]
        for label, size, cells in report.cohorts
    ]
    seg_rows = [
        [r.segment, str(r.size), str(r.previous), r.trend, r.action] for r in report.segments
    ]
    email_rows = [
        [k.name, fmt_kpi(k, k.value, cur), fmt_kpi(k, k.previous, cur), fmt_delta(k, cur)]
        for k in report.email_kpis
    ]
    support_rows = [
        [k.name, fmt_kpi(k, k.value, cur), fmt_kpi(k, k.previous, cur), fmt_delta(k, cur)]
        for k in report.support_kpis
    ]
    churn, sync = report.churn, report.sync
    from_seg = ", ".join(f"{s} {n}" for s, n in churn["from_segment"].items()) or "—"
    status = ", ".join(f"{k} {v}" for k, v in sync["runs_by_status"].items()) or "none"
    erasures = ", ".join(f"{k} {v}" for k, v in sync["erasures_by_status"].items()) or "none"
    body = [
        f"<h1>CRM &amp; retention report — {escape(report.month)}</h1>",
        f'<p class="muted">Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by b2sync; '
        f"money in {escape(cur)}.</p>",
        "<h2>Summary</h2>",
        _table(["KPI", "This month", "Target", "Δ vs last month"], kpi_rows, {1, 2, 3}),
        "<h2>Cohort retention</h2>",
        cohort_heatmap(report),
        _table(
            ["Cohort", "Customers", *(f"M{k}" for k in COHORT_OFFSETS)],
            cohort_rows,
            set(range(1, 2 + len(COHORT_OFFSETS))),
        ),
        "<h2>Segment health</h2>",
        segment_chart(report),
        _table(["Segment", "Size", "Last month", "Trend", "Suggested action"], seg_rows, {1, 2}),
        "<h2>Churn analysis</h2>",
        f"<ul><li>Churned this month: {churn['churned']} customers, lifetime value "
        f"{churn['lost_ltv']:,.2f} {escape(cur)}.</li>"
        f"<li>At risk now: {churn['at_risk_now']}.</li>"
        f"<li>Their segment last month: {escape(from_seg)}.</li></ul>",
        "<h2>Acquisition: CAC and net LTV</h2>",
        f"<p>{escape(NO_SPEND if report.acquisition is None else ACQUISITION_NOTE)}</p>",
        _table(ACQUISITION_HEAD, acquisition_cells(report), set(range(2, 8)))
        if report.acquisition is not None
        else "",
        "<h2>Email performance</h2>",
        f"<p>{escape(report.email)}</p>",
        _table(["Metric", "This month", "Last month", "Δ vs last month"], email_rows, {1, 2, 3})
        if email_rows
        else "",
        "<h2>Support and satisfaction</h2>",
        f"<p>{escape(report.support)}</p>",
        _table(["Metric", "This month", "Last month", "Δ vs last month"], support_rows, {1, 2, 3})
        if support_rows
        else "",
        "<h2>Sync health</h2>",
        f"<ul><li>Pipeline runs: {sync['runs']} ({escape(status)}).</li>"
        f"<li>Records written: {sync['records_written']}; failed: {sync['records_failed']}; "
        f"API calls: {sync['api_calls']}.</li>"
        f"<li>Dead letters waiting: {sync['dead_letters_open']}.</li>"
        f"<li>Erasure requests: {sync['erasures']} ({escape(erasures)}).</li></ul>",
        *(f'<p class="muted">{escape(n)}</p>' for n in report.notes),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>b2sync report {escape(report.month)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )

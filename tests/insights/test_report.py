"""The monthly report: KPIs and cohorts by hand, Markdown and HTML, and Chromium rendering."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from insights.report.data import MonthlyReport, build_report, parse_month
from insights.report.html import render_html
from insights.report.markdown import render_markdown
from tests.insights.factories import dated_order
from tests.insights.kit import SETTINGS, TENANT, add

REPORT_NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# cohort 2026-01: a, b, c, d; a orders again in Feb (M1) and Apr (M3); b in Feb (M1)
# cohort 2026-05: e; orders again in June (M1)
ORDERS = [
    dated_order("a1", "a", "2026-01-05"),
    dated_order("a2", "a", "2026-02-10"),
    dated_order("a3", "a", "2026-04-10", "900.00"),
    dated_order("b1", "b", "2026-01-20"),
    dated_order("b2", "b", "2026-02-02"),
    dated_order("c1", "c", "2026-01-25"),
    dated_order("d1", "d", "2026-01-28"),
    dated_order("e1", "e", "2026-05-03"),
    dated_order("e2", "e", "2026-06-01"),
]


@pytest.fixture
def report(sqlite_store_engine: sa.Engine) -> MonthlyReport:
    add(sqlite_store_engine, *ORDERS, now=REPORT_NOW)
    with sqlite_store_engine.connect() as conn:
        return build_report(conn, TENANT, parse_month("2026-06"), SETTINGS, REPORT_NOW)


def test_month_must_be_yyyy_mm() -> None:
    """A malformed month names the expected format."""
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month("June 2026")


def test_cohort_table_by_hand(report: MonthlyReport) -> None:
    """Cohort shares per month offset; cells after the report month stay empty."""
    cohorts = {label: (size, cells) for label, size, cells in report.cohorts}
    assert cohorts["2026-01"] == (4, [0.5, 0.0, 0.25, None, None])
    assert cohorts["2026-05"] == (1, [1.0, None, None, None, None])


def test_summary_kpis_by_hand(report: MonthlyReport) -> None:
    """Repeat rate, average LTV and churn at the month's end; NPS has no data."""
    kpis = {k.name: k for k in report.kpis}
    assert kpis["Repeat-purchase rate"].value == pytest.approx(3 / 5)  # a, b, e of five buyers
    assert kpis["Average LTV"].value == pytest.approx((1100 + 200 + 100 + 100 + 200) / 5)
    assert kpis["Churn rate"].value == pytest.approx(0.0)  # nobody passes 180 days in June
    assert kpis["NPS"].value is None
    assert kpis["Repeat-purchase rate"].delta == pytest.approx(3 / 5 - 2 / 5)


def test_markdown_has_every_section(report: MonthlyReport) -> None:
    """Summary, cohorts, segments, churn, email (no data) and sync health are all there."""
    text = render_markdown(report)
    for heading in ("Summary", "Cohort retention", "Segment health", "Churn analysis",
                    "Email performance", "Sync health"):  # fmt: skip
        assert f"## {heading}" in text
    assert "| NPS | no data |" in text
    assert "No data: no connected CRM has shared email engagement" in text


def test_html_embeds_two_svg_charts_and_no_script(report: MonthlyReport) -> None:
    """The page is self-contained: inline SVG heatmap and segment chart, no JavaScript."""
    page = render_html(report)
    assert page.count("<svg") == 2
    assert 'aria-label="Cohort retention heatmap"' in page
    assert "<script" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (chromium / chromium-browser)")
def test_html_report_renders_in_headless_chromium(report: MonthlyReport, tmp_path: Path) -> None:
    """Chromium lays the page out (DOM with both charts) and takes a screenshot of it."""
    assert CHROMIUM is not None
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    base = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [*base, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [*base, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "CRM &amp; retention report — 2026-06" in dom
    assert dom.count("<svg") == 2
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000

"""The monthly report: ``data`` builds it (pure), ``html`` and ``markdown`` render it."""

from __future__ import annotations

from insights.report.data import MonthlyReport, build_report, parse_month
from insights.report.html import render_html
from insights.report.markdown import render_markdown

__all__ = ["MonthlyReport", "build_report", "parse_month", "render_html", "render_markdown"]

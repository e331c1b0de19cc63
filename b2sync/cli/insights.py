"""``b2sync report monthly``, ``b2sync insights show`` and ``b2sync insights refresh``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from b2sync.cli.common import EXIT_BAD_CONFIG, ConfigOption, fail, load_or_exit, open_runner
from insights.acquisition import acquisitions, cac_table
from insights.compute import load_population
from insights.engagement import recent_engagement
from insights.errors import SpendError
from insights.explain import explain
from insights.ledger import CUSTOMERS, orders_of
from insights.lifecycle import PopulationThresholds
from insights.refresh import InsightsRefresh
from insights.report.data import MonthlyReport, build_report, parse_month
from insights.report.html import render_html
from insights.report.markdown import render_markdown
from insights.support import support_signals
from sync import state
from sync.runner import Runner

__all__ = ["insights_app", "report_app", "write_report"]

insights_app = typer.Typer(help="Retention insights: explain, refresh.", no_args_is_help=True)
report_app = typer.Typer(help="Reports for the CRM & retention programme.", no_args_is_help=True)


class Format(StrEnum):
    """Report formats."""

    md = "md"
    html = "html"


TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="The B2Connect tenant (default: the only one in the config)."),
]


def choose_tenant(runner: Runner, wanted: str | None) -> str:
    """``wanted`` if the config has it, else the only tenant; exit 2 listing them otherwise."""
    tenants = InsightsRefresh.for_runner(runner).tenants()
    if not tenants:
        fail("no customers or orders pipeline in the config; nothing to report", EXIT_BAD_CONFIG)
    listed = ", ".join(tenants)
    if wanted is not None:
        if wanted not in tenants:
            fail(f"no tenant '{wanted}' in the config; its tenants: {listed}", EXIT_BAD_CONFIG)
        return wanted
    if len(tenants) > 1:
        fail(
            f"the config has several tenants ({listed}); choose one with --tenant", EXIT_BAD_CONFIG
        )
    return tenants[0]


def write_report(
    runner: Runner, month: str, fmt: str, output: Path | None, *, tenant: str | None = None
) -> Path:
    """Build one month's report for ``tenant`` (default: the only one) and write it."""
    try:
        start = parse_month(month)
    except ValueError as exc:
        fail(str(exc), EXIT_BAD_CONFIG)
    chosen = choose_tenant(runner, tenant)
    with runner.db.connect() as conn:
        try:
            report: MonthlyReport = build_report(
                conn, chosen, start, runner.config.insights, runner.clock()
            )
        except SpendError as exc:  # the spend CSV changed since the config was loaded
            fail(str(exc), EXIT_BAD_CONFIG)
    text = render_html(report) if fmt == "html" else render_markdown(report)
    path = output or Path("reports") / f"b2sync-report-{month}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")] = "",
    fmt: Annotated[Format, typer.Option("--format", help="md or html.")] = Format.md,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: reports/).")
    ] = None,
    tenant: TenantOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the monthly CRM & retention report (summary, cohorts, segments, churn, sync)."""
    _, cfg = load_or_exit(config)
    chosen = month or datetime.now(UTC).strftime("%Y-%m")
    with open_runner(cfg) as runner:
        path = write_report(runner, chosen, fmt.value, output, tenant=tenant)
    typer.echo(f"report written to {path}")


def _key_for_email(runner: Runner, tenant: str, email: str) -> str | None:
    refresh = InsightsRefresh.for_runner(runner)
    for pipe in refresh.customer_pipelines(tenant):
        match = pipe.match_key.crm if pipe.match_key else "email"
        found = runner.connector(pipe.crm.connection).lookup(pipe.crm.object, match, [email])
        ids = found.get(email.strip().lower(), [])
        with runner.db.connect() as conn:
            keys = state.crm_ids_taken(conn, pipe.name, ids)
        if keys:
            return sorted(keys.values())[0]
    return None


@insights_app.command("show")
def insights_show(
    email: Annotated[str | None, typer.Option("--email", help="The customer's email.")] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="Or the B2Connect customer id.")
    ] = None,
    tenant: TenantOption = None,
    config: ConfigOption = None,
) -> None:
    """Explain one customer's scores: the orders counted and the thresholds applied."""
    if not email and not customer:
        fail("give --email or --customer", EXIT_BAD_CONFIG)
    _, cfg = load_or_exit(config)
    with open_runner(cfg) as runner:
        tenant = choose_tenant(runner, tenant)
        key = customer or _key_for_email(runner, tenant, str(email))
        if key is None:
            fail("no synced customer has that email (run `b2sync sync` first?)")
        with runner.db.connect() as conn:
            orders = orders_of(conn, tenant, key)
            stored = load_population(conn, tenant)
            engaged = recent_engagement(
                conn, tenant, [key], now=runner.clock(), days=cfg.insights.lead_activity_days
            )
            row = conn.execute(
                CUSTOMERS.select().where(
                    CUSTOMERS.c.tenant_id == tenant, CUSTOMERS.c.customer_key == key
                )
            ).first()
            support = support_signals(
                conn, tenant, [key], now=runner.clock(), days=cfg.insights.support_days
            )
            try:
                table = cac_table(conn, tenant, cfg.insights, recount=False, save=False)
            except SpendError as exc:
                fail(str(exc), EXIT_BAD_CONFIG)
            acquired = acquisitions(conn, tenant, table, [key])
        if row is None and not orders:
            fail(f"b2sync knows no customer {key}")
        zero = Decimal(0)
        population = stored[0] if stored else PopulationThresholds((zero,) * 4, zero)
        lines = explain(
            key,
            orders,
            population=population,
            b2b=bool(row.b2b) if row is not None else False,
            now=runner.clock(),
            config=cfg.insights,
            engagement=engaged.get(key),
            acquisition=acquired.get(key),
            support=support.get(key),
        )
    typer.echo("\n".join(lines))


@insights_app.command("refresh")
def insights_refresh(
    full: Annotated[bool, typer.Option("--full", help="Recompute everyone.")] = False,
    config: ConfigOption = None,
) -> None:
    """Recompute changed customers, push their insight fields, fire workflow rules."""
    _, cfg = load_or_exit(config)
    with open_runner(cfg) as runner:
        summaries = InsightsRefresh.for_runner(runner).run(full=full)
    for s in summaries:
        pushed = ", ".join(f"{p}: {c['written']} written" for p, c in s.pushed.items()) or "-"
        fired = ", ".join(f"{r} {n}" for r, n in s.fired.items()) or "none"
        kind = "full" if s.full else "incremental"
        typer.echo(
            f"tenant {s.tenant_id}: {kind}, {s.recomputed} recomputed; {pushed}; rules fired: {fired}"
        )
        for key, message in sorted(s.errors.items()):
            typer.echo(f"  {key}: {message}", err=True)

"""``b2sync demo``'s erasure: one person erased everywhere, then a stale change blocked."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from connectors.records import Record
from consent.erasure.daemon import PrivacyTasks
from consent.erasure.model import SubjectIds
from consent.erasure.report import erasure_status
from consent.erasure.service import desk_for, processor_for
from consent.erasure.tombstones import hits
from sync.replay import ReplaySource
from sync.runner import Runner

__all__ = ["demo_erasure"]


def _synced_customer(runner: Runner, stack: Any) -> dict[str, Any] | None:
    contacts = {r["properties"].get("b2connect_id") for r in stack.hubspot.admin_list("contacts")}
    for customer in stack.b2connect.admin_list("customers"):
        if customer["id"] in contacts and not customer.get("deleted") and customer.get("email"):
            return dict(customer)
    return None


def demo_erasure(runner: Runner, stack: Any, console: Console) -> None:
    """Erase one synced customer, print each system's step, replay their old data."""
    person = _synced_customer(runner, stack)
    if person is None:
        return
    intake = desk_for(runner).file(SubjectIds(customer_id=person["id"]))
    if intake.request_id is None:
        return
    processor_for(runner).process(intake.request_id)
    with runner.db.connect() as conn:
        [row] = erasure_status(conn, runner.clock(), request_id=intake.request_id)
    steps = ", ".join(f"{s['system']} {s['status']}" for s in row["steps"])
    console.print(
        f"[bold]erasure[/] of customer {person['id']}: request {row['id']} {row['status']} "
        f"({steps}); due {row['due_at'][:10]}"
    )
    stale = Record("customers", person["id"], person)
    for pipe in runner.select(None):
        if pipe.b2connect.stream == "customers":
            runner.run_pipeline(pipe, trigger="demo", source_override=ReplaySource([stale]))
    with runner.db.connect() as conn:
        blocked = [h for h in hits(conn) if h["erasure_request_id"] == row["id"]]
    console.print(
        f"  a replay of their old record was blocked {len(blocked)} time(s) by the tombstone; "
        "`b2sync erasure status` shows the request"
    )


def demo_erasure_round(runner: Runner) -> str:
    """One round of the daemon's erasure task (shoppers' requests, due steps), summed up."""
    with runner.db.connect() as conn:
        before = {r["id"]: r["status"] for r in erasure_status(conn, runner.clock())}
    PrivacyTasks(lambda: runner).erasure_tick()
    with runner.db.connect() as conn:
        after = {r["id"]: r["status"] for r in erasure_status(conn, runner.clock())}
    new = len(set(after) - set(before))
    done = sum(
        1 for rid, status in after.items() if status == "completed" and before.get(rid) != status
    )
    return f", erasures filed {new} (completed {done})" if new or done else ""

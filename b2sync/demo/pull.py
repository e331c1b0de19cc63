"""``b2sync demo``'s two-way step: a HubSpot user's edit flows back to B2Connect."""

from __future__ import annotations

from rich.console import Console

from mapping.config import Direction
from sync.runner import Runner

__all__ = ["show_crm_edit"]

NEW_NAME = "Edited-in-HubSpot"


def show_crm_edit(runner: Runner, stack: object, console: Console) -> None:
    """Rename one linked HubSpot contact as a sales rep would, sync, show B2Connect's value."""
    from emulators.stack import EmulatorStack

    assert isinstance(stack, EmulatorStack)
    pipe = next(
        (
            p
            for p in runner.select(None)
            if p.direction is not Direction.push
            and runner.config.connections[p.crm.connection].type == "hubspot"
        ),
        None,
    )
    if pipe is None:
        return
    linked = [
        c
        for c in stack.hubspot.admin_list(pipe.crm.object)
        if c["properties"].get("b2connect_id") and not c.get("archived")
    ]
    if not linked:
        return
    contact = linked[0]
    key = str(contact["properties"]["b2connect_id"])
    stack.hubspot.admin_patch(
        pipe.crm.object, contact["id"], {"properties": {"firstname": NEW_NAME}}
    )
    first = runner.run_pipeline(pipe, trigger="demo")
    again = runner.run_pipeline(pipe, trigger="demo")
    customer = stack.b2connect.admin_get(pipe.b2connect.stream, key)
    console.print(
        f"[bold]two-way[/]: a HubSpot user renamed contact {contact['id']}; B2Connect customer "
        f"{key} now has firstName {customer.get('firstName')!r} "
        f"({first.counts['pull_to_b2connect']} written back, "
        f"{first.counts['updated']} pushed back to HubSpot: its echo is free; "
        f"the next run wrote {again.counts['written'] + again.counts['pull_written']})"
    )

"""b2sync entry point: assembles the command line from the packages that own its commands.

``b2sync`` (console script) → :func:`main`. This module sits on top of the import graph and
only wires things together; the service behind ``b2sync run`` (scheduler, webhooks, health,
metrics, status API, signals, reload) lives in :mod:`sync.service`.
"""

from __future__ import annotations

import consent.consent_cli
import consent.erasure_cli  # noqa: F401 - registers `erase`, `erasure`, `retention`
import insights.cli  # noqa: F401 - registers `report monthly`, `insights show`/`refresh`
import sync.commands  # registers `sync`, `deadletters`, `mapping`, `audit`, `keys`
import sync.conflicts_cli  # registers `conflicts`, `pipelines resume`
import sync.demo  # registers `b2sync demo`
import sync.service._cli  # noqa: F401 - registers `run`, `reload`, `status`
from emulators.cli import app as emulators_app
from sync.cli import app

__all__ = ["app", "main"]

app.add_typer(
    emulators_app, name="emulators", help="Run the local B2Connect/HubSpot/Salesforce emulators."
)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

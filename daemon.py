"""b2sync entry point: assembles the command line and runs the long-lived service.

``b2sync`` (console script) → :func:`main`. The command groups live with the packages that
own them; this module sits on top of the import graph and wires them together.
"""

from __future__ import annotations

from emulators.cli import app as emulators_app
from sync.cli import app

__all__ = ["app", "main"]

app.add_typer(emulators_app, name="emulators", help="Run the local B2Connect/HubSpot/Salesforce emulators.")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per area."""

import os

# pytest-xdist's workers export COLUMNS=80 and LINES=24 (no terminal behind them); the CLI then
# sizes its tables to 80 columns, as it would in an 80-column terminal. Tests that check a
# width set COLUMNS themselves; the others see what a pipe sees, as in a serial run.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

pytest_plugins = [
    "tests.fixtures.b2connect",
    "tests.fixtures.hubspot",
    "tests.fixtures.salesforce",
    "tests.fixtures.store",
]

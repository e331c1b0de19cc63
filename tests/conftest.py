"""Shared pytest configuration: fixtures live in tests/fixtures/, one module per area."""

pytest_plugins = [
    "tests.fixtures.b2connect",
    "tests.fixtures.hubspot",
    "tests.fixtures.salesforce",
    "tests.fixtures.store",
]

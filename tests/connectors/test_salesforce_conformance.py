"""The connector conformance suite, run on SalesforceConnector against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.salesforce import SalesforceConnector
from connectors.testing import conformance_suite
from emulators.salesforce import SalesforceEmulator
from tests.connectors.salesforce_support import connect

_SERVER = SalesforceEmulator()


def _make() -> SalesforceConnector:
    if not _SERVER.port:
        _SERVER.start()
    return connect(_SERVER)


@pytest.fixture(scope="module", autouse=True)
def _stop_server() -> Iterator[None]:
    yield
    _SERVER.stop()


TestSalesforceConformance = conformance_suite(
    make=_make,
    write_stream="Contact",
    sample=lambda i: {"LastName": f"Person {i}", "Email": f"p{i}@example.com"},
    read_stream="Contact",
)

"""The connector conformance suite, run on B2ConnectConnector against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.b2connect import B2ConnectConnector
from connectors.testing import conformance_suite
from emulators.b2connect import B2ConnectEmulator

_SERVER = B2ConnectEmulator()


def _make() -> B2ConnectConnector:
    if not _SERVER.port:
        _SERVER.start()
        _SERVER.admin_create("customers", {"email": "seed@example.com"})
    return B2ConnectConnector(
        url=_SERVER.url, token=_SERVER.token_for(), tenant_id=_SERVER.tenant_id
    )


@pytest.fixture(scope="module", autouse=True)
def _stop_server() -> Iterator[None]:
    yield
    _SERVER.stop()


TestB2ConnectConformance = conformance_suite(
    make=_make,
    write_stream="consents",
    sample=lambda i: {
        "email": f"p{i}@example.com",
        "channel": "email",
        "purpose": "newsletter",
        "status": "granted",
    },
    read_stream="customers",
)

"""The connector conformance suite, run on HubSpotConnector against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.hubspot import HubSpotConnector
from connectors.testing import conformance_suite
from emulators.hubspot import HubSpotEmulator

_SERVER = HubSpotEmulator()


def _make() -> HubSpotConnector:
    if not _SERVER.port:
        _SERVER.start()
    return HubSpotConnector(url=_SERVER.url, token=_SERVER.token)


@pytest.fixture(scope="module", autouse=True)
def _stop_server() -> Iterator[None]:
    yield
    _SERVER.stop()


TestHubSpotConformance = conformance_suite(
    make=_make,
    write_stream="contacts",
    sample=lambda i: {"email": f"p{i}@example.com", "firstname": f"P{i}"},
    read_stream="contacts",
)

"""Fidelity suite: run against the emulators by default, or against real vendor accounts.

By default every test here drives the real SDKs against ``emulators/`` (the fixtures in
``tests/fixtures/``). ``pytest tests/fidelity --real`` (or ``B2SYNC_FIDELITY_REAL=1``)
targets a real Salesforce sandbox and a HubSpot developer portal instead, with credentials
from the environment:

- ``B2SYNC_FIDELITY_SALESFORCE_URL`` and ``B2SYNC_FIDELITY_SALESFORCE_TOKEN`` (instance URL
  and an OAuth access token of a sandbox user);
- ``B2SYNC_FIDELITY_HUBSPOT_TOKEN`` (a private-app token of a developer test portal).

In ``--real`` mode a test that needs a vendor whose credentials are absent is skipped with
that reason; tests marked ``emulator_only`` (they steer emulator knobs no real account
has, such as a fixed search lag) are skipped too. Tests that take ``fidelity_hubspot`` /
``fidelity_salesforce`` get a real SDK client for whichever target the run has. See
``docs/fidelity.md``.

The ``e2e`` fixture here is the end-to-end kit of ``tests/e2e`` over this suite's own
emulator stack, reset to the vendors' defaults for every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import hubspot
import pytest
from simple_salesforce.api import Salesforce

from tests.e2e.conftest import stack_fixtures
from tests.fixtures.hubspot import hubspot_client_for
from tests.fixtures.salesforce import salesforce_client

SALESFORCE_URL_ENV = "B2SYNC_FIDELITY_SALESFORCE_URL"
SALESFORCE_TOKEN_ENV = "B2SYNC_FIDELITY_SALESFORCE_TOKEN"
HUBSPOT_TOKEN_ENV = "B2SYNC_FIDELITY_HUBSPOT_TOKEN"
REAL_ENV = "B2SYNC_FIDELITY_REAL"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--real`` (works when pytest is pointed at tests/fidelity)."""
    parser.addoption(
        "--real",
        action="store_true",
        default=False,
        help="run tests/fidelity against a real Salesforce sandbox / HubSpot portal "
        f"(credentials from {SALESFORCE_URL_ENV}, {SALESFORCE_TOKEN_ENV}, {HUBSPOT_TOKEN_ENV})",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's markers (the run is ``--strict-markers``)."""
    config.addinivalue_line("markers", "fidelity_salesforce: a Salesforce vendor behaviour")
    config.addinivalue_line("markers", "fidelity_hubspot: a HubSpot vendor behaviour")
    config.addinivalue_line(
        "markers", "emulator_only: steers an emulator knob; skipped in --real mode"
    )


def real_mode(config: pytest.Config) -> bool:
    """True when the suite targets real vendor accounts."""
    return bool(config.getoption("--real", default=False)) or os.environ.get(REAL_ENV) == "1"


@dataclass(frozen=True)
class RealTargets:
    """Credentials of the real accounts, each ``None`` when absent from the environment."""

    salesforce_url: str | None
    salesforce_token: str | None
    hubspot_token: str | None

    @classmethod
    def from_env(cls) -> RealTargets:
        """Read the credentials from the environment (never from a file in the repo)."""
        return cls(
            salesforce_url=os.environ.get(SALESFORCE_URL_ENV) or None,
            salesforce_token=os.environ.get(SALESFORCE_TOKEN_ENV) or None,
            hubspot_token=os.environ.get(HUBSPOT_TOKEN_ENV) or None,
        )

    def missing(self, vendor: str) -> list[str]:
        """The env var names still needed to run ``vendor`` ("salesforce" or "hubspot")."""
        if vendor == "salesforce":
            need = {
                SALESFORCE_URL_ENV: self.salesforce_url,
                SALESFORCE_TOKEN_ENV: self.salesforce_token,
            }
        else:
            need = {HUBSPOT_TOKEN_ENV: self.hubspot_token}
        return [name for name, value in need.items() if not value]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In --real mode skip emulator-only tests and tests whose vendor has no credentials."""
    if not real_mode(config):
        return
    targets = RealTargets.from_env()
    for item in items:
        if "tests/fidelity" not in item.nodeid.replace("\\", "/"):
            continue
        if item.get_closest_marker("emulator_only"):
            item.add_marker(pytest.mark.skip(reason="--real: steers an emulator-only knob"))
            continue
        for vendor in ("salesforce", "hubspot"):
            if item.get_closest_marker(f"fidelity_{vendor}") is None:
                continue
            missing = targets.missing(vendor)
            if missing:
                reason = f"--real: {vendor} credentials absent ({', '.join(missing)} not set)"
                item.add_marker(pytest.mark.skip(reason=reason))


def _skip_unless_configured(targets: RealTargets, vendor: str) -> None:
    missing = targets.missing(vendor)
    if missing:
        pytest.skip(f"--real: {vendor} credentials absent ({', '.join(missing)} not set)")


@pytest.fixture(scope="session")
def fidelity_real(pytestconfig: pytest.Config) -> bool:
    """Whether this run targets real vendor accounts (``--real``)."""
    return real_mode(pytestconfig)


@pytest.fixture(scope="session")
def real_targets() -> RealTargets:
    """The real-account credentials from the environment."""
    return RealTargets.from_env()


@pytest.fixture
def fidelity_hubspot(
    fidelity_real: bool, real_targets: RealTargets, request: pytest.FixtureRequest
) -> hubspot.Client:
    """A real ``hubspot.Client``: the test portal in --real mode, else the reset emulator."""
    if fidelity_real:
        _skip_unless_configured(real_targets, "hubspot")
        return hubspot.Client.create(access_token=real_targets.hubspot_token)
    return hubspot_client_for(request.getfixturevalue("hubspot_emulator"))


@pytest.fixture
def fidelity_salesforce(
    fidelity_real: bool, real_targets: RealTargets, request: pytest.FixtureRequest
) -> Iterator[Salesforce]:
    """A real simple-salesforce client: the sandbox in --real mode, else the reset emulator."""
    if fidelity_real:
        _skip_unless_configured(real_targets, "salesforce")
        client = Salesforce(
            instance_url=real_targets.salesforce_url,
            session_id=real_targets.salesforce_token,
            version="59.0",
        )
    else:
        client = salesforce_client(request.getfixturevalue("salesforce_emulator"))
    yield client
    client.session.close()


#: the three emulators with the e2e suite's seed for the whole session, and a fresh store (the
#: emulators at their vendor defaults, re-seeded) for each test
fidelity_stack, e2e = stack_fixtures("fidelity_stack", "e2e", customers=40, seed=7, scope="session")

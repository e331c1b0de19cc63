"""Vendor-behaviour (fidelity) tests: the emulators do what production does where it breaks
connectors. The end-to-end kit of ``tests/e2e`` (the ``e2e`` fixture: emulator stack reset and
re-seeded, the shipped config, a fresh store) is shared here, over this package's own stack;
the per-emulator fixtures come from ``tests/fixtures`` through tests/conftest.py.
"""

from collections.abc import Iterator

import pytest

from emulators.stack import EmulatorStack
from tests.e2e.conftest import e2e

__all__ = ["e2e"]


@pytest.fixture(scope="session")
def _stack() -> Iterator[EmulatorStack]:
    """The three emulators for this session (the stack ``e2e`` resets for each test)."""
    with EmulatorStack(customers=40, seed=7) as stack:
        yield stack

"""Fixtures of the fidelity suite: an e2e stack of its own (``e2e``), next to the
per-emulator fixtures every test package gets (``sf``, ``salesforce_emulator``, ...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.stack import EmulatorStack
from tests.e2e.conftest import E2E, MASTER_KEY, config_for


@pytest.fixture(scope="session")
def fidelity_stack() -> Iterator[EmulatorStack]:
    """The three emulators with the e2e suite's seed, for the whole session."""
    with EmulatorStack(customers=40, seed=7) as stack:
        yield stack


@pytest.fixture
def e2e(
    fidelity_stack: EmulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[E2E]:
    """The emulators at their vendor defaults, re-seeded, and a fresh store for this test."""
    for emu in fidelity_stack.emulators:
        emu.reset()
    fidelity_stack.load_seed()
    for key, value in fidelity_stack.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("B2SYNC_MASTER_KEY", MASTER_KEY)
    config, path = config_for(tmp_path)
    yield E2E(fidelity_stack, config, path, [])
    for emu in fidelity_stack.emulators:
        emu.reset()

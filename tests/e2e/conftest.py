"""End-to-end kit: the three emulators, the shipped config.yaml pointed at them, a runner."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
import requests

from b2sync.runtime import build_runner
from emulators.stack import EmulatorStack
from mapping.config import Config, parse_config
from sync.retry import RetryPolicy
from sync.run import RunSummary
from sync.runner import Runner

ROOT = Path(__file__).resolve().parents[2]
#: test-only audit master key (base64 of 32 bytes)
MASTER_KEY = "dGVzdC1tYXN0ZXIta2V5LWZvci1iMnN5bmMtdGVzdHM="
FAST_RETRY = RetryPolicy(attempts=6, initial=0.001, maximum=0.02)


@dataclass
class E2E:
    """A running stack and a config whose store lives in tmp_path."""

    stack: EmulatorStack
    config: Config
    config_path: Path

    waits: list[float]

    def runner(self) -> Runner:
        options = {
            "hubspot": {"waiter": self.waits.append},
            "salesforce": {"bulk_wait_s": 0.01},
        }
        return build_runner(self.config, retry=FAST_RETRY, connector_options=options)

    def sync(self, *names: str, **kw: Any) -> list[RunSummary]:
        runner = self.runner()
        try:
            return [runner.run_pipeline(p, **kw) for p in runner.select(list(names) or None)]
        finally:
            runner.close()

    def calls(self, system: str) -> dict[str, int]:
        """The emulator's own per-endpoint call counts (as GET /_emulator/calls serves them)."""
        emu = getattr(self.stack, system)
        verify = getattr(emu, "ca_file", True)
        with requests.Session() as session:
            session.trust_env = False
            answer = session.get(f"{emu.url}/_emulator/calls", timeout=10, verify=verify)
        return dict(answer.json())

    def faults(self, system: str, rules: list[dict[str, Any]]) -> None:
        emu = getattr(self.stack, system)
        from emulators import FaultPlan

        emu.faults = FaultPlan.from_json({"rules": rules})

    def records(self, system: str, obj: str) -> list[dict[str, Any]]:
        emu = getattr(self.stack, system)
        return list(emu.admin_list(obj))


def config_for(tmp_path: Path, text: str | None = None) -> tuple[Config, Path]:
    source = text or (ROOT / "config.yaml").read_text(encoding="utf-8")
    source = source.replace("sqlite:///state/b2sync.db", f"sqlite:///{tmp_path}/state.db")
    path = tmp_path / "config.yaml"
    path.write_text(source, encoding="utf-8")
    return parse_config(source, str(path)), path


@pytest.fixture(scope="session")
def _stack() -> Iterator[EmulatorStack]:
    with EmulatorStack(customers=40, seed=7) as stack:
        yield stack


def fresh_e2e(
    stack: EmulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[E2E]:
    """``stack`` reset to the vendors' defaults and re-seeded, its variables and the master key
    in the environment, and a fresh store with the shipped config; reset again afterwards."""
    for emu in stack.emulators:
        emu.reset()
    stack.load_seed()
    for key, value in stack.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("B2SYNC_MASTER_KEY", MASTER_KEY)
    config, path = config_for(tmp_path)
    yield E2E(stack, config, path, [])
    for emu in stack.emulators:
        emu.reset()


def stack_fixtures(
    stack_name: str,
    e2e_name: str,
    *,
    customers: int,
    seed: int,
    scope: Literal["module", "session"] = "module",
) -> tuple[Any, Any]:
    """Two fixtures: ``stack_name``, an :class:`EmulatorStack` of ``customers`` seeded with
    ``seed`` for the ``scope``, and ``e2e_name``, that stack fresh for each test
    (:func:`fresh_e2e`). Assign both to those names in the test module or conftest."""

    @pytest.fixture(scope=scope, name=stack_name)
    def stack() -> Iterator[EmulatorStack]:
        with EmulatorStack(customers=customers, seed=seed) as emulators:
            yield emulators

    @pytest.fixture(name=e2e_name)
    def e2e(
        request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[E2E]:
        yield from fresh_e2e(request.getfixturevalue(stack_name), tmp_path, monkeypatch)

    return stack, e2e


@pytest.fixture
def e2e(_stack: EmulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[E2E]:
    """The session's emulators, reset and re-seeded, and a fresh store for this test."""
    yield from fresh_e2e(_stack, tmp_path, monkeypatch)


def by_key(records: list[dict[str, Any]], field: str) -> dict[str, list[dict[str, Any]]]:
    """Records grouped by the value of ``field`` (HubSpot properties or Salesforce fields)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        fields = record.get("properties", record)
        value = fields.get(field)
        if value and not record.get("archived") and not record.get("IsDeleted"):
            out.setdefault(str(value), []).append(record)
    return out

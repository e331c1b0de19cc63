"""Wiring erasure to a :class:`sync.runner.Runner`: the desk, the processor, the fetcher.

The CLI, the daemon, the demo and the tests build their erasure parts here, so all of them
use the runner's store, field hasher (tombstones), audit keys and connectors.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import structlog

from connectors.errors import ConnectorError
from consent.erasure.intake import CustomerFetcher, ErasureDesk
from consent.erasure.process import ErasureProcessor
from sync.runner import Runner

__all__ = ["Guard", "customer_fetcher", "desk_for", "no_guard", "processor_for"]

log = structlog.get_logger(__name__)


Guard = Callable[[str], AbstractContextManager[object]]


def no_guard(_name: str) -> AbstractContextManager[object]:
    return nullcontext()


def customer_fetcher(runner: Runner, guard: Guard = no_guard) -> CustomerFetcher:
    """Looks a customer up in B2Connect (``None``: no such customer; ``{}``: cannot tell)."""

    def fetch(connection: str, customer_id: str) -> dict[str, Any] | None:
        connector = runner.connector(connection)
        get = getattr(connector, "fetch", None)
        if get is None:
            return {}
        try:
            with guard(connection):
                found = get("customers", [customer_id])
        except ConnectorError as exc:
            log.warning("erasure.lookup_failed", error=type(exc).__name__, code=exc.code)
            return {}
        record = found.get(customer_id) if isinstance(found, dict) else None
        return None if record is None else dict(record.fields)

    return fetch


def desk_for(runner: Runner, guard: Guard = no_guard) -> ErasureDesk:
    """An intake desk on the runner's store, hasher and audit keys."""
    return ErasureDesk(
        config=runner.config,
        db=runner.db,
        hasher=runner.hasher,
        keys=runner.audit_keys,
        clock=runner.clock,
        fetch_customer=customer_fetcher(runner, guard),
    )


def processor_for(runner: Runner, guard: Guard = no_guard) -> ErasureProcessor:
    """A step processor calling the runner's connectors."""
    return ErasureProcessor(
        db=runner.db,
        hasher=runner.hasher,
        connector=runner.connector,
        keys=runner.audit_keys,
        clock=runner.clock,
        guard=guard,
        config=runner.config,
    )

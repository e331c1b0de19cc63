"""The smallest daemon the HTTP layer can talk to: no token, no pipelines; it records the
pipelines a webhook made due and the erasure requests it handed over."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from b2sync.service import SeenEvents
from mapping.config import Config

__all__ = ["FakeService"]


class FakeService:
    """What :func:`b2sync.service.build_app` needs from the daemon, with canned answers."""

    version = "test"

    def __init__(
        self,
        config: Config,
        *,
        now: Callable[[], float] = time.time,
        readiness: dict[str, Any] | None = None,
    ) -> None:
        self.seen = SeenEvents()
        self._config = config
        self._now = now
        self._readiness = readiness or {"ready": True}
        self.due: list[str] = []
        self.erasures: list[Any] = []

    def config(self) -> Config:
        return self._config

    def now(self) -> float:
        return self._now()

    def mark_due(self, names: list[str], trigger: str, keys: list[str] | None = None) -> None:
        del trigger, keys
        self.due.extend(names)

    def file_erasures(self, items: list[Any]) -> None:
        self.erasures.extend(items)

    def readiness(self) -> dict[str, Any]:
        return self._readiness

    def status(self) -> dict[str, Any]:
        return {}

    def metrics_text(self) -> bytes:
        return b""

    def status_token(self) -> str | None:
        return None

    def metrics_token(self) -> str | None:
        return None

    def count_webhook(self, source: str, outcome: str) -> None:
        del source, outcome

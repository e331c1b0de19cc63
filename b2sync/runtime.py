"""Where the product builds its :class:`~sync.runner.Runner`: with every feature's hooks.

:func:`build_runner` is the only place a production runner is built (the CLI, the daemon and
the demo all come through here), so no code path runs a pipeline without the tombstone hook.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from b2sync.features import RECORD_HOOKS
from mapping.config import Config
from sync.hooks import HookFactory
from sync.retry import RetryPolicy
from sync.runner import Runner

__all__ = ["build_runner"]


def build_runner(
    config: Config,
    *,
    hooks: Sequence[HookFactory] = RECORD_HOOKS,
    stop: threading.Event | None = None,
    clock: Callable[[], datetime] | None = None,
    retry: RetryPolicy | None = None,
    migrate: bool = True,
    connector_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Runner:
    """A runner of ``config`` running the features' record hooks (tombstones first)."""
    return Runner(
        config,
        hooks=hooks,
        stop=stop,
        clock=clock,
        retry=retry,
        migrate=migrate,
        connector_options=connector_options,
    )

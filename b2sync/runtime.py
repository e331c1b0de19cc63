"""Where the product builds its :class:`~sync.runner.Runner`: with every feature's hooks.

:func:`build_runner` is the only place a production runner is built (the CLI, the daemon and
the demo all come through here), so no code path runs a pipeline without the tombstone hook.
"""

from __future__ import annotations

from typing import Any

from b2sync.features import RECORD_HOOKS
from mapping.config import Config
from sync.runner import Runner

__all__ = ["build_runner"]


def build_runner(config: Config, **options: Any) -> Runner:
    """A runner of ``config`` that runs the features' record hooks in order (tombstones
    first); ``options`` are :class:`~sync.runner.Runner`'s (``stop``, ``clock``, ``retry``,
    ``migrate``, ``connector_options``, ``tenant``)."""
    return Runner(config, hooks=RECORD_HOOKS, **options)

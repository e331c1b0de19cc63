"""The b2sync product: the composition root, the only package that imports every feature.

- :mod:`b2sync.features`: what each feature contributes, in the order it runs;
- :mod:`b2sync.runtime`: :func:`~b2sync.runtime.build_runner`, the only place a production
  runner is built;
- :mod:`b2sync.cli`: the command line, one module per command group;
- :mod:`b2sync.service`: the daemon behind ``b2sync run``;
- :mod:`b2sync.demo`: the demo scenes (with tests and bench, the only user of ``emulators``).

``daemon.py`` (the ``b2sync`` console script) calls :func:`main`.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``b2sync`` command line."""
    from b2sync.cli import main as cli_main  # the CLI imports every feature: only when run

    cli_main()

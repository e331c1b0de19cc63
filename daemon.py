"""b2sync entry point (the ``b2sync`` console script): hands over to :mod:`b2sync`.

The command line lives in :mod:`b2sync.cli`, the service behind ``b2sync run`` (scheduler,
webhooks, health, metrics, status API, signals, reload) in :mod:`b2sync.service`.
"""

from __future__ import annotations

from b2sync import main

__all__ = ["main"]


if __name__ == "__main__":
    main()

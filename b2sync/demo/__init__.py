"""The demo scenes behind ``b2sync demo`` and the ``b2sync emulators`` commands.

With tests and bench, this is the only package that imports :mod:`emulators`.
"""

from __future__ import annotations

__all__: list[str] = []

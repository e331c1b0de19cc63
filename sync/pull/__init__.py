"""sync/pull."""

from __future__ import annotations

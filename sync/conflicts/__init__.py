"""sync/conflicts."""

from __future__ import annotations

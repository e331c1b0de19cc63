"""Records a CRM user marks for the shop, created in B2Connect (``create_in_shop``)."""

from __future__ import annotations

from sync.create.engine import CREATE_STREAM, ShopCreateRun

__all__ = ["CREATE_STREAM", "ShopCreateRun"]

"""The ten RFM segment names, which the insights thresholds name (the grid is in ``insights``)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Segment"]


class Segment(StrEnum):
    """An RFM segment; the value is the display name written to the CRM."""

    CHAMPIONS = "Champions"
    LOYAL = "Loyal"
    POTENTIAL_LOYALISTS = "Potential Loyalists"
    NEW_CUSTOMERS = "New Customers"
    PROMISING = "Promising"
    NEED_ATTENTION = "Need Attention"
    ABOUT_TO_SLEEP = "About to Sleep"
    AT_RISK = "At Risk"
    HIBERNATING = "Hibernating"
    LOST = "Lost"

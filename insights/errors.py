"""Errors of the insights core.

Tree::

    InsightsError (ValueError)   one customer's data cannot be scored: dead-letter that
    │                            record, name the reason, move on
    ├── UnknownCurrency          an order's currency has no rate in ``insights.rates``
    ├── InvalidOrder             an order lacks a field the metrics need, or it is malformed
    └── SpendError               the marketing-spend CSV became unreadable or malformed after
                                 the config was loaded (file:line): no CAC this pass

Messages never carry personal data, only field names, order ids and currency codes.
"""

from __future__ import annotations

__all__ = ["InsightsError", "InvalidOrder", "SpendError", "UnknownCurrency"]


class InsightsError(ValueError):
    """A customer's insights cannot be computed; the message says what to fix."""


class UnknownCurrency(InsightsError):
    """An order is in a currency the rate table does not know."""

    def __init__(self, currency: str, reporting: str) -> None:
        super().__init__(
            f"no exchange rate for currency '{currency}'; add '{currency}' to the insights "
            f"rate table (rate to the reporting currency '{reporting}')"
        )
        self.currency = currency


class InvalidOrder(InsightsError):
    """An order field is missing or malformed."""

    def __init__(self, order_id: str, field: str, problem: str) -> None:
        super().__init__(f"order '{order_id}': field '{field}' {problem}")
        self.order_id = order_id
        self.field = field


class SpendError(InsightsError):
    """The marketing-spend CSV cannot be read or has a malformed row (names file:line)."""

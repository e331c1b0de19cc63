"""One process spending a shared :class:`RedisBudget` (started by the budget tests).

``python -m tests.scale.budget_worker URL KEY CALLS LIMIT WINDOW_S DAILY`` acquires ``CALLS``
times and prints JSON: the Redis times of its admissions, and how many calls the daily share
refused.
"""

from __future__ import annotations

import json
import sys

import redis

from connectors.errors import BudgetExhausted
from connectors.redis_budget import RedisBudget


def main(url: str, key: str, calls: int, limit: int, window_s: float, daily: int) -> None:
    budget = RedisBudget(
        redis.Redis.from_url(url), key, window_limit=limit, window_s=window_s,
        daily_limit=daily if daily > 0 else None,
    )  # fmt: skip
    admitted: list[int] = []
    refused = 0
    for _ in range(calls):
        try:
            budget.acquire()
        except BudgetExhausted:
            refused += 1
            continue
        admitted.append(budget.admitted_at_ms)
    json.dump({"admitted": admitted, "refused": refused, "waited_s": budget.waited_s}, sys.stdout)


if __name__ == "__main__":
    url, key, calls, limit, window_s, daily = sys.argv[1:7]
    main(url, key, int(calls), int(limit), float(window_s), int(daily))

"""The Redis budget: processes sharing one portal's budget never exceed it, together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from connectors.errors import BudgetExhausted
from connectors.redis_budget import RedisBudget
from tests.concurrency import busiest_window

ROOT = Path(__file__).resolve().parents[2]


def spend(url: str, key: str, *, calls: int, limit: int, window_s: float, daily: int = 0,
          processes: int = 3) -> list[dict[str, Any]]:  # fmt: skip
    """``processes`` real processes, each acquiring ``calls`` times from one budget."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.scale.budget_worker",
                url,
                key,
                str(calls),
                str(limit),
                str(window_s),
                str(daily),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results.append(json.loads(out))
    return results


def test_three_processes_never_exceed_one_window_budget(redis_url: str) -> None:
    """3 processes × 30 calls on a 12-per-0.5 s budget: never more than 12 in any 0.5 s."""
    results = spend(redis_url, "hubspot:4242", calls=30, limit=12, window_s=0.5)
    admitted = [t for r in results for t in r["admitted"]]
    assert len(admitted) == 90
    assert busiest_window(admitted, 500) == 12
    assert sum(r["waited_s"] for r in results) > 0, "the processes had to wait for each other"


def test_daily_share_holds_across_processes(redis_url: str) -> None:
    """A daily share of 20 calls: 3 processes asking 10 each get 20 together, 10 refused."""
    results = spend(redis_url, "hubspot:77", calls=10, limit=-1, window_s=10, daily=20)
    assert sum(len(r["admitted"]) for r in results) == 20
    assert sum(r["refused"] for r in results) == 10


def test_a_429_blocks_every_process_for_its_retry_after(redis_url: str) -> None:
    """A 429 one process meets makes the others wait its Retry-After before their next call."""
    client = redis.Redis.from_url(redis_url)
    seen, other = RedisBudget(client, "hubspot:1"), RedisBudget(client, "hubspot:1")
    seen.observe({"Retry-After": "3"}, 429)
    wait = other.try_acquire()
    assert 2.0 < wait <= 3.0


def test_vendor_daily_figures_raise_the_shared_count(redis_url: str) -> None:
    """Calls spent outside b2sync (the vendor's daily-remaining header) count against the share."""
    client = redis.Redis.from_url(redis_url)
    budget = RedisBudget(client, "hubspot:2", daily_limit=1000, daily_share=0.5)
    budget.observe({"X-HubSpot-RateLimit-Daily": "1000",
                    "X-HubSpot-RateLimit-Daily-Remaining": "501"}, 200)  # fmt: skip
    budget.acquire()
    with pytest.raises(BudgetExhausted, match="500 of 1000"):
        budget.acquire()


def test_concurrency_slots_are_shared(redis_url: str) -> None:
    """Salesforce-style concurrency: a second holder waits until the first releases."""
    client = redis.Redis.from_url(redis_url)
    waits: list[float] = []
    first = RedisBudget(client, "salesforce:00D1", concurrency=1)
    second = RedisBudget(client, "salesforce:00D1", concurrency=1, waiter=waits.append)
    first.acquire()
    calls = 0

    def waiter(seconds: float) -> None:
        nonlocal calls
        waits.append(seconds)
        calls += 1
        if calls == 3:
            first.release()

    second.waiter = waiter
    second.acquire()
    assert calls == 3, "the second holder waited until the first released its slot"


def test_a_fresh_process_checks_its_first_call_against_the_learnt_limit(redis_url: str) -> None:
    """A process that learnt the daily limit from the vendor leaves it in Redis: a fresh
    process (after a deploy) is refused its very first call once the share is spent, and
    the calls it made before knowing any limit were counted too."""
    client = redis.Redis.from_url(redis_url)
    first = RedisBudget(client, "hubspot:fresh", daily_share=0.5)
    first.acquire(3)  # no limit known yet: admitted, and counted
    assert first.used_today() == 3
    first.observe({"X-HubSpot-RateLimit-Daily": "10", "X-HubSpot-RateLimit-Daily-Remaining": "5"})
    assert first.used_today() == 5  # the vendor's own count
    fresh = RedisBudget(client, "hubspot:fresh", daily_share=0.5)
    with pytest.raises(BudgetExhausted, match=r"\(5 of 10 calls"):
        fresh.acquire()
    search = RedisBudget(client, "hubspot:fresh:search", daily_key="hubspot:fresh", daily_share=0.5)
    with pytest.raises(BudgetExhausted):
        search.acquire()  # a search spends the portal's one day

"""Quiescence: right after a backfill, a rerun writes nothing anywhere.

A few hundred customers from the seed, plus the seed's awkward values put on purpose on
some of them (German numbers with leading zeros after the trunk prefix, which phonenumbers
formats to an E.164 text that parses to another number; mixed phone formats; odd country
and names with stray spaces or letters that change under case mapping), through every pipeline of the shipped config.yaml, then the insights pass (as
``b2sync sync`` ends), then a ``--full`` rerun: 0 write calls on B2Connect, HubSpot and
Salesforce.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.stack import EmulatorStack
from insights.refresh import InsightsRefresh
from tests.e2e.conftest import fresh_e2e
from tests.e2e.two_way_support import TwoWay, open_two_way

#: values people type, each one a ping-pong before finding 8 was fixed
AWKWARD = [
    {"phone": "0004 / 195113"},
    {"phone": "0012 / 345678"},
    {"phone": "+49 (0)171 1234567"},
    {"phone": "0049 89 123456"},
    {"phone": "06.12.34.56.78"},
    {"phone": " 030 1234567 "},
    {"billingAddress": {"city": " Köln "}},
    {"billingAddress": {"city": "", "countryCode": "CH"}},
    {"firstName": "  Ada  ", "lastName": "ŉ Lovelace"},
]


@pytest.fixture(scope="module")
def big_stack() -> Iterator[EmulatorStack]:
    kwargs = {"rate_limit_per_10s": 10**9, "daily_limit": 10**10, "search_per_second": 10**6}
    with EmulatorStack(customers=300, seed=42, hubspot_kwargs=kwargs) as stack:
        yield stack


@pytest.fixture
def shop(
    big_stack: EmulatorStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TwoWay]:
    fresh = fresh_e2e(big_stack, tmp_path, monkeypatch)
    e2e = next(fresh)
    customers = sorted(big_stack.b2connect.admin_list("customers"), key=lambda c: c["id"])
    for customer, changes in zip(customers[::7], AWKWARD, strict=False):
        patch = dict(changes)
        if "billingAddress" in patch:  # the address is written whole
            patch["billingAddress"] = {**customer["billingAddress"], **changes["billingAddress"]}
        big_stack.b2connect.admin_patch("customers", customer["id"], patch)
    yield from open_two_way(e2e, e2e.config)
    next(fresh, None)  # reset the emulators again


def _backfill(tw: TwoWay, *, full: bool) -> None:
    runner = tw.runner
    for pipe in runner.select(None):
        tw.summaries.append(runner.run_pipeline(pipe, full=full))
    if not full:
        list(InsightsRefresh.for_runner(runner).run())


@pytest.mark.slow
def test_a_rerun_after_the_backfill_writes_nothing_anywhere(shop: TwoWay) -> None:
    """Backfill of the seed with awkward values, then a --full rerun: 0 write calls."""
    backfill = shop.writes_during(lambda: _backfill(shop, full=False))
    assert any(k.startswith("hubspot") for k in backfill), "the backfill wrote"
    assert shop.writes_during(lambda: _backfill(shop, full=True)) == {}
    assert {s.status.value for s in shop.summaries} == {"succeeded"}

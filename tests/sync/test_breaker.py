"""The delete breaker (sync/breaker.py): limits, trips, resets, allowances, policies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from mapping.config import Config, Pipeline, parse_config
from sync import state
from sync.breaker import (
    BreakerTrip,
    check_deletes,
    clear_allowance,
    linked_population,
    on_delete_policy,
    record_trip,
    reset,
    tripped,
    tripped_all,
)
from sync.deleted_links import mark_deleted
from sync.errors import DeleteBreakerTripped
from tests.sync.conftest import CONFIG

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def pipeline(config: Config, extra: str = "") -> Pipeline:
    text = CONFIG.replace(
        "    match_key: {b2connect: email, crm: email}\n",
        "    match_key: {b2connect: email, crm: email}\n" + extra,
        1,
    )
    return parse_config(text).pipeline("customers") if extra else config.pipeline("customers")


def check(db: sa.Engine, pipe: Pipeline, deletes: int, population: int) -> None:
    with db.begin() as conn:
        check_deletes(
            conn, pipe, direction="to_crm", deletes=deletes, population=population, now=NOW
        )


def test_default_limit_is_the_smaller_of_100_and_ten_percent(config: Config) -> None:
    """Defaults: 100 records or 10% of the linked population, whichever is smaller."""
    breaker = config.pipeline("customers").delete_breaker
    assert breaker.limit(10_000) == 100
    assert breaker.limit(500) == 50


def test_share_limit_never_below_one_record(config: Config) -> None:
    """A single deletion in a tiny pipeline never trips the breaker."""
    assert config.pipeline("customers").delete_breaker.limit(3) == 1


def test_deletes_within_limit_pass(config: Config, db: sa.Engine) -> None:
    """Deleting up to the limit raises nothing and records nothing."""
    check(db, config.pipeline("customers"), deletes=10, population=100)
    with db.connect() as conn:
        assert tripped(conn, "customers") is None


def test_too_many_deletes_raise_with_counts(config: Config, db: sa.Engine) -> None:
    """Above the limit: DeleteBreakerTripped carries pipeline, direction and counts."""
    with pytest.raises(DeleteBreakerTripped) as info:
        check(db, config.pipeline("customers"), deletes=11, population=100)
    err = info.value
    assert (err.pipeline, err.direction, err.deletes, err.population, err.limit) == (
        "customers",
        "to_crm",
        11,
        100,
        10,
    )


def test_trip_is_recorded_when_the_transaction_commits(config: Config, db: sa.Engine) -> None:
    """check_deletes writes the trip on the caller's connection."""
    pipe = config.pipeline("customers")
    with db.begin() as conn, pytest.raises(DeleteBreakerTripped):
        check_deletes(conn, pipe, direction="to_b2connect", deletes=5, population=0, now=NOW)
    with db.connect() as conn:
        trip = tripped(conn, "customers")
    assert trip == BreakerTrip("customers", "to_b2connect", 5, 0, 1, NOW)


def test_record_trip_survives_a_rolled_back_run(config: Config, db: sa.Engine) -> None:
    """record_trip stores a trip in its own transaction (the engine calls it after rollback)."""
    trip = BreakerTrip("customers", "to_crm", 7, 20, 2, NOW)
    record_trip(db, trip)
    with db.connect() as conn:
        assert tripped_all(conn) == {"customers": trip}


def test_configured_max_count_applies(config: Config, db: sa.Engine) -> None:
    """delete_breaker.max_count from YAML lowers the limit."""
    pipe = pipeline(config, "    delete_breaker: {max_count: 2, max_share: 1.0}\n")
    check(db, pipe, deletes=2, population=1000)
    with pytest.raises(DeleteBreakerTripped):
        check(db, pipe, deletes=3, population=1000)


def test_reset_clears_the_trip_and_reports_it(config: Config, db: sa.Engine) -> None:
    """reset returns True once, then False; the pipeline is no longer tripped."""
    record_trip(db, BreakerTrip("customers", "to_crm", 7, 20, 2, NOW))
    with db.begin() as conn:
        assert reset(conn, "customers", actor="operator:ann", now=NOW) is True
        assert reset(conn, "customers", actor="operator:ann", now=NOW) is False
        assert tripped(conn, "customers") is None


def test_allowance_lets_the_tripped_count_through_until_cleared(
    config: Config, db: sa.Engine
) -> None:
    """reset(allow_deletes=True) allows up to the tripped count until a run succeeds."""
    pipe = config.pipeline("customers")
    with pytest.raises(DeleteBreakerTripped) as info:
        check(db, pipe, deletes=30, population=100)
    record_trip(db, info.value.trip)
    with db.begin() as conn:
        reset(conn, "customers", actor="operator:ann", now=NOW, allow_deletes=True)
    check(db, pipe, deletes=30, population=100)
    with db.begin() as conn:
        clear_allowance(conn, "customers")
    with pytest.raises(DeleteBreakerTripped):
        check(db, pipe, deletes=30, population=100)


def test_population_counts_live_linked_records(db: sa.Engine) -> None:
    """Links with a CRM id count; parked and deleted-marked links do not."""
    with db.begin() as conn:
        rows: list[tuple[str, str | None, dict[str, str], str]] = [
            ("a", "1", {}, "h"),
            ("b", "2", {}, "h"),
            ("c", None, {}, "h"),
        ]
        state.upsert_links(
            conn, pipeline="customers", tenant_id="t1", crm_object="contacts", rows=rows, now=NOW
        )
        mark_deleted(conn, "customers", ["b"], "b2connect", NOW)
        assert linked_population(conn, "customers") == 1


def test_policy_per_direction() -> None:
    """on_delete_policy reads the per-direction mapping."""
    text = CONFIG.replace(
        "    match_key: {b2connect: email, crm: email}\n",
        "    match_key: {b2connect: email, crm: email}\n"
        "    on_delete: {to_crm: delete, to_b2connect: archive}\n",
        1,
    )
    pipe = parse_config(text).pipeline("customers")
    assert on_delete_policy(pipe, "to_crm") == "delete"
    assert on_delete_policy(pipe, "to_b2connect") == "archive"


def test_scalar_policy_means_to_crm() -> None:
    """The original scalar form `on_delete: archive` is the to-CRM policy."""
    text = CONFIG.replace(
        "    match_key: {b2connect: email, crm: email}\n",
        "    match_key: {b2connect: email, crm: email}\n    on_delete: archive\n",
        1,
    )
    pipe = parse_config(text).pipeline("customers")
    assert on_delete_policy(pipe, "to_crm") == "archive"
    assert on_delete_policy(pipe, "to_b2connect") == "ignore"

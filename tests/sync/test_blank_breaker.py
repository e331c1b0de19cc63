"""The blank breaker (sync/breaker.py, sync/blanks.py): limits per field, trips, allowances."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from mapping.config import Config, ConfigError, Direction, Rule, parse_config
from sync.blanks import BlankGuard, merge_blanks
from sync.breaker import BreakerTrip, check_deletes, clear_allowance, record_trip, reset, tripped
from sync.errors import BlankBreakerTripped, DeleteBreakerTripped
from sync.hashing import FieldHasher
from sync.merge import Side, merge_field
from tests.sync.conftest import CONFIG
from tests.sync.test_breaker import pipeline

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HASHER = FieldHasher(b"blank-breaker-test-key-0123")


def guard(config: Config, db: sa.Engine) -> BlankGuard:
    return BlankGuard(config.pipeline("customers"), db, lambda: NOW)


def test_default_limit_is_ten_percent_with_a_floor_of_ten(config: Config) -> None:
    """Defaults: 10% of the linked records per field, never fewer than 10."""
    breaker = config.pipeline("customers").blank_breaker
    assert (breaker.limit(35), breaker.limit(2_000), breaker.limit(0)) == (10, 200, 10)


def test_settings_are_per_pipeline(config: Config) -> None:
    """blank_breaker takes a share and a floor; a share of 1 lets everything through."""
    pipe = pipeline(config, "    blank_breaker: {max_share: 1, min_count: 0}\n")
    assert pipe.blank_breaker.limit(500) == 500


def test_run_totals_per_field_trip_the_breaker(config: Config, db: sa.Engine) -> None:
    """Flushes add up per field; the flush that passes the limit raises before writing."""
    blanks = guard(config, db)
    blanks.admit({"to_b2connect": Counter({"firstname": 6, "city": 9})})
    with pytest.raises(BlankBreakerTripped) as info:
        blanks.admit({"to_b2connect": Counter({"firstname": 5})})
    trip = info.value.trip
    assert (trip.kind, trip.field, trip.deletes, trip.limit) == ("blank", "firstname", 11, 10)
    assert "blank breaker tripped" in trip.message and "resume customers" in trip.message
    with db.connect() as conn:
        assert tripped(conn, "customers") == trip


def test_directions_count_apart(config: Config, db: sa.Engine) -> None:
    """Blankings towards the CRM and towards B2Connect have their own totals."""
    blanks = guard(config, db)
    blanks.admit({"to_b2connect": Counter({"phone": 10}), "to_crm": Counter({"phone": 10})})


def test_allowance_lets_the_tripped_blanks_through_until_cleared(
    config: Config, db: sa.Engine
) -> None:
    """resume --allow-deletes of a blank trip allows that many blankings, not deletions."""
    with pytest.raises(BlankBreakerTripped) as info:
        guard(config, db).admit({"to_crm": Counter({"lastname": 30})})
    record_trip(db, info.value.trip)
    with db.begin() as conn:
        assert reset(conn, "customers", actor="operator:ann", now=NOW, allow_deletes=True)
    guard(config, db).admit({"to_crm": Counter({"lastname": 30})})
    with db.begin() as conn, pytest.raises(DeleteBreakerTripped):
        check_deletes(
            conn, config.pipeline("customers"), direction="to_crm", deletes=30,
            population=100, now=NOW,
        )  # fmt: skip
    with db.begin() as conn:
        clear_allowance(conn, "customers")
    with pytest.raises(BlankBreakerTripped):
        guard(config, db).admit({"to_crm": Counter({"lastname": 30})})


def test_trip_json_round_trips_and_old_rows_read_as_delete_trips() -> None:
    """The settings row keeps kind and field; rows written before them are delete trips."""
    trip = BreakerTrip("customers", "to_crm", 12, 40, 10, NOW, kind="blank", field="phone")
    assert BreakerTrip.from_json(trip.to_json()) == trip
    old = '{"deletes": 5, "direction": "to_crm", "limit": 1, "pipeline": "customers", '
    old += '"population": 9, "tripped_at": "2026-11-25T12:00:00+00:00"}'
    assert BreakerTrip.from_json(old).kind == "delete"


def test_merge_blanks_counts_blank_writes_only() -> None:
    """A merge's writes of blank values count per direction and field; other writes not."""

    def decide(field: str, b2c: object, crm: object) -> object:
        last = HASHER.value(field, "old")
        return merge_field(
            field, Rule.two_way, Direction.both, last,
            Side(b2c, HASHER.value(field, b2c), NOW), Side(crm, HASHER.value(field, crm), None),
        )  # fmt: skip

    decisions = [decide("city", "old", None), decide("city", "", "old"), decide("zip", "old", "9")]
    found = merge_blanks(decisions)  # type: ignore[arg-type]
    assert found == {"to_b2connect": Counter({"city": 1}), "to_crm": Counter({"city": 1})}


def test_a_top_level_blank_breaker_is_every_pipelines_default() -> None:
    """``blank_breaker`` at the top is inherited; a pipeline's own one wins."""
    top = CONFIG.replace(
        "pipelines:\n", "blank_breaker: {max_share: 0.5, min_count: 3}\npipelines:\n", 1
    )
    assert parse_config(top).pipeline("customers").blank_breaker.limit(100) == 50
    own = top.replace(
        "    match_key: {b2connect: email, crm: email}\n",
        "    match_key: {b2connect: email, crm: email}\n    blank_breaker: {min_count: 7}\n",
        1,
    )
    assert parse_config(own).pipeline("customers").blank_breaker.limit(20) == 7


def test_a_bad_top_level_blank_breaker_is_one_clear_error() -> None:
    """An invalid share is reported once, at its own place."""
    bad = CONFIG.replace("pipelines:\n", "blank_breaker: {max_share: 2}\npipelines:\n", 1)
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert [i for i in info.value.issues if "max_share" in str(i)] == info.value.issues
    assert len(info.value.issues) == 1

"""The per-tenant-per-pipeline lock and its fencing token: a stale holder cannot commit."""

from __future__ import annotations

import threading

import pytest
import redis
import sqlalchemy as sa

from store import begin_write
from store.models import RunStatus, metadata
from sync import state
from sync.fencing import RedisPipelineLock, StaleFence, check_fence, stored_fence
from tests.e2e.conftest import E2E, by_key, stack_fixtures

PIPE = "customers-to-hubspot"


_stack, e2e = stack_fixtures("_stack", "e2e", customers=60, seed=19)


def test_lock_hands_out_growing_tokens_and_excludes_a_second_holder(redis_url: str) -> None:
    """While held, nobody else gets the lock; after it expires the next token is higher."""
    client = redis.Redis.from_url(redis_url)
    first = RedisPipelineLock(client, "acme", PIPE, ttl_s=0.2)
    second = RedisPipelineLock(client, "acme", PIPE, ttl_s=5)
    other_tenant = RedisPipelineLock(client, "globex", PIPE)
    assert first.acquire() == 1
    assert second.acquire() is None
    assert other_tenant.acquire() == 1, "tenants' locks are independent"
    client.pexpire(first.key, 1)  # the holder stalls past its lease
    threading.Event().wait(0.05)
    assert second.acquire() == 2
    assert not first.renew(), "the stale holder learns it lost the lock"
    first.release()
    assert client.get(second.key) is not None, "a stale release leaves the new holder's lock"


def test_tokens_stay_above_the_store_after_redis_lost_its_data(
    redis_url: str, store_engine: sa.Engine
) -> None:
    """Redis restarted empty: the next token still beats the highest the store has seen."""
    with begin_write(store_engine) as conn:
        check_fence(conn, PIPE, 57)
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    with store_engine.connect() as conn:
        floor = stored_fence(conn, PIPE)
    token = RedisPipelineLock(client, "acme", PIPE).acquire(floor)
    assert token == 58
    with begin_write(store_engine) as conn:
        check_fence(conn, PIPE, token)


def test_stale_token_rolls_back_the_whole_commit(store_engine: sa.Engine) -> None:
    """A commit with a token below the highest seen raises and writes nothing."""
    with begin_write(store_engine) as conn:
        check_fence(conn, PIPE, 2)
    with pytest.raises(StaleFence, match="token 1 is stale"), begin_write(store_engine) as conn:
        state.set_setting(conn, "written-by-stale-holder", "yes")
        check_fence(conn, PIPE, 1)
    with store_engine.connect() as conn:
        assert state.get_setting(conn, "written-by-stale-holder") is None
        assert state.get_setting(conn, f"fence:{PIPE}") == "2"


def test_stale_holder_mid_run_cannot_commit(e2e: E2E, redis_url: str) -> None:
    """Holder 1 stalls mid-run, its lock expires, holder 2 runs; holder 1's next commit is
    refused and its run ends interrupted, while holder 2's run is complete."""
    client = redis.Redis.from_url(redis_url)
    old = RedisPipelineLock(client, "default", PIPE)
    new = RedisPipelineLock(client, "default", PIPE)
    old_token = old.acquire()
    assert old_token == 1
    e2e.config = e2e.config.model_copy(
        update={"pipelines": [
            p.model_copy(update={"batch_size": 10}) if p.name == PIPE else p
            for p in e2e.config.pipelines
        ]}
    )  # fmt: skip
    taken_over: list[RunStatus] = []

    def stall_then_lose_the_lock(_: object) -> None:
        if taken_over:
            return
        client.delete(old.key)  # expired while holder 1 was paused
        new_token = new.acquire()
        assert new_token == 2
        runner = e2e.runner()
        try:
            taken_over.append(
                runner.run_pipeline(runner.config.pipeline(PIPE), fence=new_token).status
            )
        finally:
            runner.close()

    runner = e2e.runner()
    try:
        stale = runner.run_pipeline(
            runner.config.pipeline(PIPE), fence=old_token, progress=stall_then_lose_the_lock
        )
    finally:
        runner.close()
    assert taken_over == [RunStatus.SUCCEEDED]
    assert stale.status is RunStatus.INTERRUPTED
    assert "fencing token 1 is stale" in (stale.error or "")
    contacts = by_key(e2e.records("hubspot", "contacts"), "b2connect_id")
    assert contacts and all(len(v) == 1 for v in contacts.values()), "no duplicate"
    engine = sa.create_engine(f"sqlite:///{e2e.config_path.parent}/state.db")
    with engine.connect() as conn:
        links = conn.execute(
            sa.select(sa.func.count()).select_from(metadata.tables["links"])
            .where(metadata.tables["links"].c.pipeline == PIPE)
        ).scalar()  # fmt: skip
        assert state.get_setting(conn, f"fence:{PIPE}") == "2"
    engine.dispose()
    assert links == len(contacts), "every CRM record written is linked, once"

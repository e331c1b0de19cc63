"""Leases in the store's ``locks`` table: one run of a pipeline at a time across processes.

In one process, :mod:`sync.locks` makes runs of a pipeline take turns; across processes
(``b2sync sync`` next to the daemon, several replicas on PostgreSQL) a run holds the
``pipeline:<name>`` lease from its start to its finish, renewing it at each commit. A lease
whose holder died on this host is taken over; an expired one is free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from store import begin_write, insert_on_conflict
from store.models import RunStatus, metadata
from sync import state

__all__ = [
    "LeaseHolder",
    "acquire_lock",
    "lease_holder",
    "lock_owner",
    "release_lock",
    "renew_lock",
    "start_locked_run",
]

_locks = metadata.tables["locks"]
_runs = metadata.tables["runs"]


@dataclass(frozen=True)
class LeaseHolder:
    """The run holding a lease: its owner (``host:pid:run_id``) and how it was started."""

    owner: str
    run_id: str
    #: the run's trigger (``manual`` for `b2sync sync`; the daemon's are schedule, webhook...)
    trigger: str | None

    @property
    def by_daemon(self) -> bool:
        """True unless another one-off `b2sync sync` holds it."""
        return self.trigger != "manual"


def lease_holder(
    db: sa.Engine, name: str, now: datetime, stale: Callable[[str], bool]
) -> LeaseHolder | None:
    """Who holds the unexpired lease ``name`` (a holder for which ``stale`` is true, whose
    process died, holds nothing: the next run takes it over). Reads only."""
    with db.connect() as conn:
        owner = conn.execute(
            sa.select(_locks.c.owner).where(_locks.c.name == name, _locks.c.expires_at >= now)
        ).scalar_one_or_none()
        if owner is None or stale(owner):
            return None
        run_id = owner.rsplit(":", 1)[-1]
        trigger = conn.execute(
            sa.select(_runs.c.trigger).where(_runs.c.id == run_id)
        ).scalar_one_or_none()
    return LeaseHolder(owner, run_id, trigger)


def acquire_lock(
    conn: sa.Connection, name: str, owner: str, now: datetime, expires: datetime
) -> bool:
    """Take the named lease unless someone else holds an unexpired one."""
    conn.execute(sa.delete(_locks).where(_locks.c.name == name, _locks.c.expires_at < now))
    stmt = insert_on_conflict(conn, _locks).on_conflict_do_nothing(
        index_elements=[_locks.c.b2sync_tenant, _locks.c.name]
    )
    conn.execute(stmt, [{"name": name, "owner": owner, "acquired_at": now, "expires_at": expires}])
    holder = conn.execute(
        sa.select(_locks.c.owner).where(_locks.c.name == name)
    ).scalar_one_or_none()
    return holder == owner


def start_locked_run(
    db: sa.Engine,
    lock: str,
    *,
    owner: str,
    run_id: str,
    pipeline: str,
    trigger: str,
    now: datetime,
    ttl: timedelta,
    stale: Callable[[str], bool],
) -> bool:
    """Take the ``lock`` lease and record the run's start, in one write transaction.

    A holder for which ``stale`` is true (its process died) loses the lease and its run is
    marked interrupted. The holder's read decides the writes, so the transaction takes the
    write lock at ``BEGIN`` (:func:`store.begin_write`): another process that commits in
    between cannot make it fail with "database is locked"; it waits its turn instead.
    False when someone else holds an unexpired lease.
    """
    with begin_write(db) as conn:
        holder = lock_owner(conn, lock)
        if holder is not None and stale(holder):
            release_lock(conn, lock, holder)
            dead_run = holder.rsplit(":", 1)[-1]
            state.finish_run(conn, dead_run, RunStatus.INTERRUPTED, {}, "process died", now)
        if not acquire_lock(conn, lock, owner, now, now + ttl):
            return False
        state.start_run(conn, run_id, pipeline, trigger, now)
    return True


def lock_owner(conn: sa.Connection, name: str) -> str | None:
    """Who holds the named lease, if anyone."""
    owner = conn.execute(
        sa.select(_locks.c.owner).where(_locks.c.name == name)
    ).scalar_one_or_none()
    return str(owner) if owner is not None else None


def renew_lock(conn: sa.Connection, name: str, owner: str, expires: datetime) -> None:
    """Extend our lease."""
    conn.execute(
        sa.update(_locks)
        .where(_locks.c.name == name, _locks.c.owner == owner)
        .values(expires_at=expires)
    )


def release_lock(conn: sa.Connection, name: str, owner: str) -> None:
    """Give the lease back."""
    conn.execute(sa.delete(_locks).where(_locks.c.name == name, _locks.c.owner == owner))

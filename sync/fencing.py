"""A per-tenant-per-pipeline lock in Redis with a fencing token, checked where runs commit.

Workers of a scaled-out deployment take the lock ``b2sync:lock:<tenant>:<pipeline>`` in Redis
before a run (``SET NX PX``: it expires by itself when its holder dies) and get a **fencing
token** with it: ``INCR`` of a counter that only grows. The run passes the token to every
commit (:class:`sync.run.Run` ``fence``), and the commit transaction compares it with the
highest token the tenant's state store has seen for that pipeline (:func:`check_fence`):
a lower one is refused (:class:`StaleFence`) and the transaction rolls back.

Why in the store and not in Redis: a check in Redis right before the commit leaves a gap (the
holder is paused between the check and the commit: GC, swap, a stopped VM) in which the lock
expires and a new holder commits; the stale commit then lands after it. In the store the
comparison and the writes are one transaction: the conditional ``UPDATE`` of the fence row
takes the row lock (PostgreSQL) or the write lock (SQLite, ``BEGIN IMMEDIATE``), so of two
holders only the one with the highest token can commit, whatever the timing. The Redis lock
gives mutual exclusion in the normal case; the fence gives safety when the lock fails (an
expiry during a pause, a Redis failover losing the key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from store import insert_on_conflict
from store.models import metadata
from sync.errors import StaleFence

__all__ = ["RedisPipelineLock", "StaleFence", "check_fence", "fence_name", "stored_fence"]

_settings = metadata.tables["settings"]

#: KEYS: lock, counter. ARGV: holder, ttl ms, floor. Returns the new token (above the floor:
#: the highest token the store has seen, so a Redis that lost its data cannot hand out tokens
#: the store refuses), or 0 when held.
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then
  if tonumber(redis.call('GET', KEYS[2]) or '0') < tonumber(ARGV[3]) then
    redis.call('SET', KEYS[2], ARGV[3])
  end
  local token = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', tonumber(ARGV[2]))
  return token
end
return 0
"""

#: KEYS: lock. ARGV: holder|token, ttl ms. 1 when still ours (and extended).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
"""

#: KEYS: lock. ARGV: holder|token. Deletes the lock only when it is still ours.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def fence_name(pipeline: str) -> str:
    """The ``settings`` row holding the highest fencing token seen for ``pipeline``."""
    return f"fence:{pipeline}"


def check_fence(conn: sa.Connection, pipeline: str, token: int) -> None:
    """Record ``token`` as the pipeline's highest, inside the caller's write transaction;
    raise :class:`StaleFence` when a higher one was recorded (a newer holder ran)."""
    name = fence_name(pipeline)
    stmt = insert_on_conflict(conn, _settings).on_conflict_do_nothing(
        index_elements=[_settings.c.b2sync_tenant, _settings.c.name]
    )
    conn.execute(stmt, [{"name": name, "value": str(token)}])
    # one statement compares and raises: its row lock orders concurrent committers
    raised = conn.execute(
        sa.update(_settings)
        .where(_settings.c.name == name, sa.cast(_settings.c.value, sa.BigInteger) <= token)
        .values(value=str(token))
    ).rowcount
    if raised == 0:
        seen = conn.execute(sa.select(_settings.c.value).where(_settings.c.name == name)).scalar()
        raise StaleFence(pipeline, token, int(str(seen)))


def stored_fence(conn: sa.Connection, pipeline: str) -> int:
    """The highest fencing token the store has seen for ``pipeline`` (0: none yet)."""
    value = conn.execute(
        sa.select(_settings.c.value).where(_settings.c.name == fence_name(pipeline))
    ).scalar()
    return int(str(value)) if value is not None else 0


@dataclass
class RedisPipelineLock:
    """The Redis lock of one tenant's pipeline; :meth:`acquire` returns its fencing token."""

    redis: Any
    tenant: str
    pipeline: str
    ttl_s: float = 60.0
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)
    token: int | None = None

    def __post_init__(self) -> None:
        self._take = self.redis.register_script(_TAKE)
        self._renew = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)

    @property
    def key(self) -> str:
        return f"b2sync:lock:{self.tenant}:{self.pipeline}"

    def acquire(self, floor: int = 0) -> int | None:
        """Take the lock: the fencing token (above ``floor``, the highest the store has seen:
        :func:`stored_fence`), or None when another holder has it."""
        token = int(
            self._take(
                keys=[self.key, f"b2sync:fence:{self.tenant}:{self.pipeline}"],
                args=[self.holder, int(self.ttl_s * 1000), floor],
            )
        )
        self.token = token or None
        return self.token

    def renew(self) -> bool:
        """Extend the lock; False when it expired and someone else may hold it now."""
        if self.token is None:
            return False
        value = f"{self.holder}|{self.token}"
        return bool(self._renew(keys=[self.key], args=[value, int(self.ttl_s * 1000)]))

    def release(self) -> None:
        """Give the lock back if it is still ours."""
        if self.token is not None:
            self._release(keys=[self.key], args=[f"{self.holder}|{self.token}"])
            self.token = None

"""Serve the audit page on 127.0.0.1 in a thread, for the web and browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
import uvicorn
from starlette.types import ASGIApp

from audit import AuditEvent, KeyRing, record_events
from audit.web import make_app
from store import ErasureRequest, ErasureStatus
from tests.audit.conftest import T0, write_event

TOKEN = "test-ui-token-0123456789abcdefghijklmnop"
#: the customer of :func:`many_events` and the non-ASCII name in their values
PERSON = "C-1000"
NAME = "Zoë Ünal-Ølsen"
_erasures: sa.Table = ErasureRequest.__table__  # type: ignore[attr-defined]


def seed(engine: sa.Engine, keys: KeyRing) -> None:
    """Three events (two for ada) and one erasure request with per-system status."""
    with engine.begin() as conn:
        record_events(
            conn,
            [
                write_event("ada@example.com"),
                write_event("bob@example.com", minutes=1, key="C-2"),
                write_event("ada@example.com", minutes=2, action="consent.change"),
            ],
            keys=keys,
        )
        conn.execute(
            _erasures.insert().values(
                tenant_id="t1",
                subject_ref="ER-77",
                requested_at=T0,
                due_at=T0 + timedelta(days=30),
                status=ErasureStatus.PENDING,
                system_status={
                    "hubspot": {"status": "done"},
                    "salesforce": {"status": "retrying", "detail": "HTTP 503"},
                },
                attempts=1,
            )
        )


def many_events(n: int) -> list[AuditEvent]:
    """``n`` writes for one customer (keyed by id, as the engine writes them, with their
    email as alias), three for someone else; values hold a non-ASCII name."""
    out = []
    for i in range(n):
        event = write_event(PERSON, minutes=i, key=PERSON)
        values = {"email": {"old": None, "new": f"person.{i}@example.org"},
                  "firstName": {"old": None, "new": NAME}}  # fmt: skip
        out.append(replace(event, email="person@example.org", values=values))
    out += [write_event("C-2", minutes=i, key="C-2", action="consent.change") for i in range(3)]
    return out


@contextmanager
def serving(
    engine: sa.Engine, keys: KeyRing, wrap: Callable[[ASGIApp], ASGIApp] | None = None
) -> Iterator[str]:
    """The base URL of the page (its app passed through ``wrap``), served until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = make_app(engine, keys, TOKEN)
    config = uvicorn.Config(
        wrap(app) if wrap else app, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("audit page did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

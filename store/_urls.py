"""State-store URLs: parsing, driver normalisation and one-line connection-error messages."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError

from store.errors import StoreConfigError, StoreUnavailable

POSTGRES_DRIVER = "postgresql+psycopg"
_POSTGRES_BACKENDS = frozenset({"postgresql", "postgres"})
_POSTGRES_DRIVERS = frozenset({None, "psycopg", "psycopg2"})
_SQLITE_DRIVERS = frozenset({None, "pysqlite"})
_HINT = "use sqlite:///path/to/state.db or postgresql://user:password@host:5432/dbname"

#: (pattern over the driver's message, one-line cause); the first match wins.
_KNOWN_CAUSES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"timeout expired|timed out", re.I), "connection timed out"),
    (re.compile(r"failed to resolve host|could not translate host name", re.I), "unknown host"),
    (re.compile(r"no route to host", re.I), "no route to host"),
    (re.compile(r"network is unreachable", re.I), "network is unreachable"),
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_SERVER_SAID = re.compile(r"(?:FATAL|ERROR):\s+(.*)")


def parse_url(url: str | sa.URL) -> sa.URL:
    """Parse and normalise a state-store URL (PostgreSQL always through psycopg 3).

    Raises:
        StoreConfigError: malformed, or neither SQLite nor PostgreSQL.
    """
    try:
        parsed = sa.make_url(url)
    except ArgumentError:
        scheme = _SCHEME.match(str(url))
        shown = f" (scheme {scheme.group(1)!r})" if scheme else ""
        msg = f"malformed state store URL{shown}; {_HINT}"
        raise StoreConfigError(msg) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in _POSTGRES_BACKENDS and (driver or None) in _POSTGRES_DRIVERS:
        return parsed.set(drivername=POSTGRES_DRIVER)
    if backend == "sqlite" and (driver or None) in _SQLITE_DRIVERS:
        if parsed.host or parsed.username or parsed.password or parsed.port:
            msg = f"a SQLite URL takes no host or user; {_HINT}"
            raise StoreConfigError(msg)
        return parsed.set(drivername="sqlite")
    msg = f"unsupported state store URL scheme {parsed.drivername!r}; {_HINT}"
    raise StoreConfigError(msg)


def is_sqlite(url: sa.URL) -> bool:
    """Whether the URL names a SQLite database."""
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: sa.URL) -> str | None:
    """The file a SQLite URL names, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return database


def location(url: sa.URL) -> str:
    """Where the store lives, for messages: ``host:port`` or the SQLite file."""
    if is_sqlite(url):
        return sqlite_path(url) or ":memory:"
    host = url.host or _query_value(url, "host") or "localhost"
    port = url.port or _query_value(url, "port") or 5432
    return f"{host}:{port}"


def unavailable(url: sa.URL, exc: BaseException) -> StoreUnavailable:
    """A one-line :class:`StoreUnavailable` naming the store and the cause (password redacted)."""
    orig = getattr(exc, "orig", None) or exc
    cause = _cause(str(orig)) if not isinstance(orig, OSError) else _os_cause(orig)
    if url.password:
        cause = cause.replace(str(url.password), "***")
    if is_sqlite(url):
        return StoreUnavailable(f"cannot open SQLite database at {location(url)}: {cause}")
    return StoreUnavailable(f"cannot reach PostgreSQL at {location(url)}: {cause}")


def _cause(message: str) -> str:
    for pattern, cause in _KNOWN_CAUSES:
        if pattern.search(message):
            return cause
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    first = lines[0]
    server = _SERVER_SAID.search(first)
    if server:
        first = server.group(1)
    else:
        first = first.rsplit(" failed: ", 1)[-1].removeprefix("connection failed: ")
    return first.rstrip(".")


def _os_cause(exc: OSError) -> str:
    reason = (exc.strerror or str(exc)).lower()
    return f"{reason} ({exc.filename})" if exc.filename else reason


def _query_value(url: sa.URL, name: str) -> str | None:
    value = url.query.get(name)
    if isinstance(value, tuple):
        return value[0] if value else None
    return value

"""SQLite: ``IN`` lists padded to a few sizes, so prepared statements stay few.

SQLAlchemy renders an ``IN`` of a list (``column.in_(keys)``) with one ``?`` per value, so
every list length is a different SQL text. Python's ``sqlite3`` keeps the last 128 prepared
statements of each connection (``cached_statements``), and a statement holds memory for
every ``?`` in it: about 100 KB for a 500-key lookup. A long run meets nearly every length
from 1 to the chunk size, in every keyed lookup (links, audit keys, the ledger), so each
pooled connection's cache fills with large statements that are never used again: the
process grew by about 100 MB over a 30,000-customer backfill, and on with the shop's size.

Padding every list to the next power of two (repeating its last value: ``IN`` and ``NOT IN``
mean the same with a duplicate) leaves about ten lengths per lookup, reused all the time. A
statement with a quote in it (a literal that might hold a ``?``) or whose ``?`` count does
not match its parameters is left as it is; so is ``executemany`` (one statement for all
rows).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["pad_in_lists", "padded_size"]

_IN_LIST = re.compile(r"\bIN \((\?(?:, \?)*)\)")
#: SQLite's default limit of ``?`` per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32)
_MAX_VARIABLES = 32766


def padded_size(n: int) -> int:
    """The next power of two at or above ``n`` (``n`` itself from 1 to 2)."""
    return 1 << max(0, n - 1).bit_length()


def pad_in_lists(
    conn: Any,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    """A ``before_cursor_execute`` hook (``retval=True``): ``statement`` with its ``IN``
    lists padded (see the module doc), and ``parameters`` to match."""
    del conn, cursor, context
    if (
        executemany
        or "IN (?" not in statement
        or "'" in statement
        or not isinstance(parameters, Sequence)
        or isinstance(parameters, str)
        or statement.count("?") != len(parameters)
    ):
        return statement, parameters
    params = list(parameters)
    parts: list[str] = []
    out: list[Any] = []
    done, used = 0, 0  # statement characters and parameters consumed so far
    for match in _IN_LIST.finditer(statement):
        before = statement[done : match.start(1)]
        take = used + before.count("?")
        out.extend(params[used:take])
        parts.append(before)
        size = match.group(1).count("?")
        values = params[take : take + size]
        target = padded_size(size)
        if len(out) + target + len(params) - take - size > _MAX_VARIABLES:
            target = size
        values.extend([values[-1]] * (target - size))
        parts.append(", ".join("?" * target))
        out.extend(values)
        done, used = match.end(1), take + size
    parts.append(statement[done:])
    out.extend(params[used:])
    padded = "".join(parts)
    return padded, type(parameters)(out) if isinstance(parameters, tuple) else out

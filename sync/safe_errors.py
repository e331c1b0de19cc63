"""Error texts fit to store and serve: no SQL, no bound parameters, no personal data.

Run errors are served by the status API and ``b2sync status``; dead-letter messages by
``b2sync deadletters``. Both are cut and redacted here, before they are written.
"""

from __future__ import annotations

import re

from sync.logs import redact_text

__all__ = ["ERROR_MAX", "safe_error"]

#: where a database error's message starts quoting the statement or its bound values
_SQL_TAIL = re.compile(r"\s*(\[SQL:|\[parameters:|\(Background on this error)", re.DOTALL)
ERROR_MAX = 500


def safe_error(error: str | None) -> str | None:
    """A run error fit to store and serve: no SQL, no bound parameters, no emails or phones.

    Database errors quote the statement and its parameters (a person's email, say): both are
    cut; what is left is redacted like a log line and capped at :data:`ERROR_MAX` characters.
    """
    if error is None:
        return None
    head = _SQL_TAIL.split(error, maxsplit=1)[0]
    return redact_text(head.strip())[:ERROR_MAX]

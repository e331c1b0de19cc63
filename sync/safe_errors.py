"""Error texts fit to store and serve: no SQL, no bound parameters, no personal data.

Run errors are served by the status API and ``b2sync status``; dead-letter messages by
``b2sync deadletters``. Both are cut and redacted here, before they are written. A vendor's
refusal often quotes the value it refused (Salesforce ``Email: data value too large:
<value> (max length=80)``, HubSpot ``<value> was not a valid value for email``): a dead
letter keeps the code, the field and the reason, and the value reads ``[value]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from sync.logs import redact_text

__all__ = ["ERROR_MAX", "VALUE", "safe_dead_letter_message", "safe_error"]

#: where a database error's message starts quoting the statement or its bound values
_SQL_TAIL = re.compile(r"\s*(\[SQL:|\[parameters:|\(Background on this error)", re.DOTALL)
ERROR_MAX = 500
#: what a quoted value is replaced with
VALUE: Final = "[value]"
#: Salesforce: ``<label>: <reason>: <value>[ (max length=N)]`` (the value runs to the end)
_SF_QUOTED = re.compile(
    r"(?i)\b(data value too large|value not of required type|invalid email address"
    r"|bad value for restricted picklist field|invalid date(?:time)?|invalid number"
    r"|malformed id|invalid id field):[ \t]*(.+?)(\s*\(max length=\d+\))?\s*$",
    re.MULTILINE,
)
#: HubSpot: ``<value> was not a valid value for <property>`` / ``... one of the allowed options``
_HS_QUOTED = re.compile(
    r"(?i)(^|[\"'(\[{,:]\s*)([^\"\n]+?)(?=\s+was not (?:a valid|one of the allowed))"
)
#: shorter values are not looked for in the text (they would mangle ordinary words)
_MIN_VALUE = 4


def safe_error(error: str | None) -> str | None:
    """A run error fit to store and serve: no SQL, no bound parameters, no emails or phones.

    Database errors quote the statement and its parameters (a person's email, say): both are
    cut; what is left is redacted like a log line and capped at :data:`ERROR_MAX` characters.
    """
    if error is None:
        return None
    head = _SQL_TAIL.split(error, maxsplit=1)[0]
    return redact_text(head.strip())[:ERROR_MAX]


def safe_dead_letter_message(message: str, record: Mapping[str, Any] | None = None) -> str:
    """A vendor's refusal without the values it quotes: the reason stays, each value the
    vendor quoted (by its known message shapes) and each value of ``record`` (the dead
    letter's own fields, any nesting) found in the text reads ``[value]``; then
    :func:`safe_error` (SQL cut, emails and phones masked, capped)."""
    text = _SF_QUOTED.sub(lambda m: f"{m.group(1)}: {VALUE}{m.group(3) or ''}", message)
    text = _HS_QUOTED.sub(lambda m: f"{m.group(1)}{VALUE}", text)
    values = sorted(set(_strings(record)), key=len, reverse=True) if record else []
    for value in values:
        text = re.sub(re.escape(value), VALUE, text, flags=re.IGNORECASE)
    return safe_error(text) or ""


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        stripped = value.strip()
        if len(stripped) >= _MIN_VALUE:
            yield stripped
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)

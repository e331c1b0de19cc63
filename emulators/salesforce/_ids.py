"""Salesforce record ids: 15-character case-sensitive bodies with the 3-character
case-insensitive checksum suffix, and the object key prefix in front."""

from __future__ import annotations

import re
import string

__all__ = ["IdFactory", "looks_like_id", "to18"]

_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$")


def _suffix(body: str) -> str:
    out = []
    for i in range(3):
        chunk = body[i * 5 : i * 5 + 5]
        bits = sum(1 << j for j, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_SUFFIX_CHARS[bits])
    return "".join(out)


def looks_like_id(value: str) -> bool:
    """True for a syntactically valid 15- or 18-character id."""
    return bool(_ID_RE.match(value))


def to18(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id; None when malformed."""
    if not looks_like_id(value):
        return None
    body = value[:15]
    full = body + _suffix(body)
    if len(value) == 18 and value[15:].upper() != full[15:]:
        return None
    return full


def _base62(n: int, width: int) -> str:
    digits = []
    while n:
        n, rem = divmod(n, 62)
        digits.append(_B62[rem])
    return "".join(reversed(digits)).rjust(width, "0")


class IdFactory:
    """Mints ids ``<prefix>Dn0<counter>`` + checksum; the counter never restarts."""

    def __init__(self, pod: str = "Dn") -> None:
        self.pod = pod
        self.counter = 0

    def new(self, prefix: str) -> str:
        self.counter += 1
        body = f"{prefix}{self.pod}0{_base62(self.counter, 9)}"
        return body + _suffix(body)

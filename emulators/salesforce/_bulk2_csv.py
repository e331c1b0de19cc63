"""CSV as Bulk API 2.0 reads and writes it: job delimiters and line endings, every value
quoted in results, ``#N/A`` for an explicit null, base64 offsets as query locators."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from typing import Any

__all__ = [
    "DELIMITERS",
    "LINE_ENDINGS",
    "NULL_MARK",
    "decode_locator",
    "encode_locator",
    "format_value",
    "read_csv",
    "write_csv",
]

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
NULL_MARK = "#N/A"


def read_csv(data: bytes, delimiter: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of an uploaded file (UTF-8, optional BOM); ValueError if unreadable."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[delimiter])
    rows = [row for row in reader if row]
    if not rows:
        raise ValueError("the file has no header row")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"row {number} has {len(row)} columns, the header has {len(header)}")
    return header, body


def write_csv(
    header: list[str], rows: list[list[str]], delimiter: str = "COMMA", line_ending: str = "LF"
) -> str:
    """A results file: every value double-quoted, as Salesforce writes them."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=DELIMITERS[delimiter],
        lineterminator=LINE_ENDINGS[line_ending],
        quoting=csv.QUOTE_ALL,
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def format_value(value: Any) -> str:
    """A record value as a CSV cell (empty for null, lower-case booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    """The offset behind a locator; ValueError when it is not one of ours."""
    padded = locator + "=" * (-len(locator) % 4)
    try:
        offset = int(base64.b64decode(padded, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError) as err:
        raise ValueError(locator) from err
    if offset < 0:
        raise ValueError(locator)
    return offset

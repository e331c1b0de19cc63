"""Marketing spend per month and channel: the CSV file ``insights.marketing_spend.csv`` names.

Read when the config is validated (so ``b2sync check`` reports a bad row with the CSV's
file:line) and again by each insights pass (the file may change while the daemon runs).
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path

__all__ = ["SpendFileError", "normalise_channel", "read_spend_csv"]

SPEND_HEADER = ("month", "channel", "amount")
#: the width of a channel (B2Connect's order ``source``) b2sync keeps
CHANNEL_LENGTH = 100


class SpendFileError(ValueError):
    """The spend CSV cannot be read, or one of its rows is malformed; names file:line."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line = file, line
        super().__init__(
            f"{file}:{line}: {message} (expected a header 'month,channel,amount' and rows "
            "like '2026-11,email,1500.00')"
        )


def normalise_channel(value: object) -> str | None:
    """A channel or order source, trimmed and lower-cased (None: missing, blank, not text)."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split()).lower()[:CHANNEL_LENGTH]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text or None


def _month(text: str) -> str | None:
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        return None
    return f"{parts[0]}-{int(parts[1]):02d}" if 1 <= int(parts[1]) <= 12 else None


def _row(path: str, line: int, row: list[str]) -> tuple[str, str, Decimal]:
    if len(row) != 3:
        raise SpendFileError(path, line, f"{len(row)} columns, expected 3")
    month, channel, raw = (cell.strip() for cell in row)
    key_month = _month(month)
    if key_month is None:
        raise SpendFileError(path, line, f"month '{month}' is not YYYY-MM")
    name = normalise_channel(channel)
    if name is None:
        raise SpendFileError(path, line, "the channel is empty")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise SpendFileError(path, line, f"amount '{raw}' is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise SpendFileError(path, line, f"amount '{raw}' must be a non-negative number")
    return key_month, name, amount


def read_spend_csv(path: str) -> dict[tuple[str, str], Decimal]:
    """Spend per (``YYYY-MM``, channel), rows of the same cell added up.

    Raises:
        SpendFileError: unreadable file, wrong header or a malformed row (file:line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpendFileError(path, 0, f"cannot read the marketing-spend file: {exc}") from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None or tuple(h.strip().lower() for h in header) != SPEND_HEADER:
        raise SpendFileError(path, 1, f"the header is {header!r}, not month,channel,amount")
    out: dict[tuple[str, str], Decimal] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        month, channel, amount = _row(path, line, row)
        out[(month, channel)] = out.get((month, channel), Decimal(0)) + amount
    return out

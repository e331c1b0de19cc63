"""The ten RFM segments and the table that maps all 125 codes to exactly one of them.

The rule is a grid over **R** (recency score) and **S = F + M** (frequency plus monetary,
2..10); read it row by row:

- R5: S ≤ 3 New Customers · 4–5 Promising · 6–7 Potential Loyalists · 8 Loyal · 9–10 Champions
- R4: S ≤ 5 Promising · 6–7 Potential Loyalists · ≥ 8 Loyal
- R3: S ≤ 4 About to Sleep · 5–7 Need Attention · ≥ 8 Loyal
- R2: S ≤ 4 Hibernating · 5–6 About to Sleep · ≥ 7 At Risk
- R1: S ≤ 3 Lost · 4–6 Hibernating · ≥ 7 At Risk

Every example code of the retention playbook lands where it puts it (a test checks them all).
"""

from __future__ import annotations

from types import MappingProxyType

from mapping.config import Segment

__all__ = [
    "PLAYBOOK_EXAMPLES",
    "SEGMENT_TABLE",
    "Segment",
    "render_segment_table",
    "segment_for",
]


_C, _L, _P = Segment.CHAMPIONS, Segment.LOYAL, Segment.POTENTIAL_LOYALISTS
_N, _PR, _NA = Segment.NEW_CUSTOMERS, Segment.PROMISING, Segment.NEED_ATTENTION
_AS, _AR = Segment.ABOUT_TO_SLEEP, Segment.AT_RISK
_H, _LO = Segment.HIBERNATING, Segment.LOST

# _GRID[R][S - 2] for S = F + M in 2..10.
_GRID: dict[int, tuple[Segment, ...]] = {
    5: (_N, _N, _PR, _PR, _P, _P, _L, _C, _C),
    4: (_PR, _PR, _PR, _PR, _P, _P, _L, _L, _L),
    3: (_AS, _AS, _AS, _NA, _NA, _NA, _L, _L, _L),
    2: (_H, _H, _H, _AS, _AS, _AR, _AR, _AR, _AR),
    1: (_LO, _LO, _H, _H, _H, _AR, _AR, _AR, _AR),
}

PLAYBOOK_EXAMPLES: MappingProxyType[Segment, tuple[str, ...]] = MappingProxyType(
    {
        Segment.CHAMPIONS: ("555", "554", "545"),
        Segment.LOYAL: ("445", "454", "544"),
        Segment.POTENTIAL_LOYALISTS: ("534", "443", "434"),
        Segment.NEW_CUSTOMERS: ("511", "512", "521"),
        Segment.PROMISING: ("413", "414", "431"),
        Segment.NEED_ATTENTION: ("333", "332", "323"),
        Segment.ABOUT_TO_SLEEP: ("233", "232", "223"),
        Segment.AT_RISK: ("244", "234", "143"),
        Segment.HIBERNATING: ("122", "123", "132"),
        Segment.LOST: ("111", "112", "121"),
    }
)
"""The example codes the retention playbook lists for each segment."""


def _build() -> MappingProxyType[str, Segment]:
    scores = range(1, 6)
    table = {f"{r}{f}{m}": _GRID[r][f + m - 2] for r in scores for f in scores for m in scores}
    return MappingProxyType(table)


SEGMENT_TABLE: MappingProxyType[str, Segment] = _build()
"""All 125 RFM codes (``"RFM"``, e.g. ``"545"``) → their one segment."""


def segment_for(code: str) -> Segment:
    """The segment of an RFM code such as ``"545"``; raises ``KeyError`` for a bad code."""
    try:
        return SEGMENT_TABLE[code]
    except KeyError:
        raise KeyError(f"'{code}' is not an RFM code (three digits, each 1-5)") from None


def render_segment_table() -> str:
    """The full 125-row table as Markdown (the block between the markers in docs/insights.md)."""
    lines = ["| RFM | R | F | M | F+M | Segment |", "|-----|---|---|---|-----|---------|"]
    for code in sorted(SEGMENT_TABLE, reverse=True):
        r, f, m = (int(c) for c in code)
        lines.append(f"| {code} | {r} | {f} | {m} | {f + m} | {SEGMENT_TABLE[code]} |")
    return "\n".join(lines) + "\n"

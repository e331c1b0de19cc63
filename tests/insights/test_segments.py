"""The 125-code segment table and its generated documentation."""

from __future__ import annotations

import re

import pytest

from insights import SEGMENT_TABLE, Segment, render_segment_table, segment_for
from insights.doc import DOC_PATH, segment_table_block, with_segment_table
from insights.segments import PLAYBOOK_EXAMPLES


def test_table_has_all_125_codes() -> None:
    """Every R, F, M in 1..5 has a row."""
    expected = {f"{r}{f}{m}" for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert set(SEGMENT_TABLE) == expected


def test_every_segment_is_used() -> None:
    """All ten playbook segments appear in the table."""
    assert set(SEGMENT_TABLE.values()) == set(Segment)


@pytest.mark.parametrize(
    ("code", "segment"),
    [(c, s) for s, codes in PLAYBOOK_EXAMPLES.items() for c in codes],
)
def test_playbook_examples(code: str, segment: Segment) -> None:
    """Each example code of issue 9 maps to the segment the playbook names."""
    assert segment_for(code) is segment


def test_examples_cover_ten_segments_with_three_codes() -> None:
    """The example list is the issue's: ten segments, three codes each."""
    assert len(PLAYBOOK_EXAMPLES) == 10
    assert all(len(codes) == 3 for codes in PLAYBOOK_EXAMPLES.values())


@pytest.mark.parametrize("code", ["", "55", "556", "055", "abc", "5555"])
def test_bad_code_raises(code: str) -> None:
    """Anything but three digits 1..5 is a KeyError."""
    with pytest.raises(KeyError):
        segment_for(code)


def test_doc_table_matches_code() -> None:
    """docs/insights.md carries exactly the generated 125-row table."""
    text = DOC_PATH.read_text(encoding="utf-8")
    assert segment_table_block(text) == render_segment_table()


def test_doc_summary_grid_matches_code() -> None:
    """The hand-written R x (F+M) grid in docs/insights.md agrees with the table."""
    text = DOC_PATH.read_text(encoding="utf-8")
    columns = [(2, 3), (4,), (5,), (6,), (7,), (8,), (9, 10)]
    rows = re.findall(r"^\| ([1-5]) \| (.+) \|$", text, flags=re.MULTILINE)
    grid = {int(r): [c.strip() for c in cells.split("|")] for r, cells in rows if "|" in cells}
    assert sorted(grid) == [1, 2, 3, 4, 5]
    for code, segment in SEGMENT_TABLE.items():
        r, s = int(code[0]), int(code[1]) + int(code[2])
        column = next(i for i, sums in enumerate(columns) if s in sums)
        assert grid[r][column] == segment.value, code


def test_regenerating_the_doc_is_idempotent() -> None:
    """Rewriting the block of the current doc changes nothing."""
    text = DOC_PATH.read_text(encoding="utf-8")
    assert with_segment_table(text) == text


def test_missing_markers_are_an_error() -> None:
    """A document without the markers is refused rather than silently appended to."""
    with pytest.raises(ValueError, match="markers"):
        with_segment_table("# no table here\n")

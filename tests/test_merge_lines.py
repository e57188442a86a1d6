"""The diff3 core of the merge driver, on plain lines (independent expectations, written by hand)."""

from __future__ import annotations

from sopsy.merge import merge_lines


def L(s: str) -> list[str]:
    return [x + "\n" for x in s.split()]


def test_one_side_changes_take_that_side() -> None:
    assert merge_lines(L("a b c"), L("a B c"), L("a b c")) == (L("a B c"), [])
    assert merge_lines(L("a b c"), L("a b c"), L("a b C")) == (L("a b C"), [])


def test_changes_in_different_places_merge() -> None:
    assert merge_lines(L("a b c d e"), L("A b c d e"), L("a b c d E")) == (L("A b c d E"), [])


def test_adjacent_one_for_one_replacements_merge() -> None:
    assert merge_lines(L("a b c"), L("a B c"), L("a b C")) == (L("a B C"), [])


def test_same_change_both_sides_is_taken_once() -> None:
    assert merge_lines(L("a b c"), L("a X c"), L("a X c")) == (L("a X c"), [])


def test_insertions_and_deletions() -> None:
    assert merge_lines(L("a b c"), L("a b c d"), L("a c")) == (L("a c d"), [])


def test_conflict_is_reported_and_ours_kept() -> None:
    merged, conflicts = merge_lines(L("a b c"), L("a X c"), L("a Y c"))
    assert merged == L("a X c") and conflicts == [(2, 2)]

"""The tree merge and its edit plan on the document model (no store edits, no git), the metadata
merge, conflict markers and the path_regex → git pattern translation. Expectations are written
by hand; the model-level edit applier in tests/support reads the edit contract independently."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import AGE_KEYS_BOTH, RECIPIENT, RECIPIENT2
from support.model_edits import apply

from sopsy.edits import Delete, Insert, Replace
from sopsy.gitsetup import regex_to_globs
from sopsy.merge import markers
from sopsy.merge.meta import Side, merge_metadata
from sopsy.merge.plan import THEIRS, fresh, plan
from sopsy.merge.tree import merge_documents, render_path
from sopsy.metadata import KeyEntry, Metadata
from sopsy.model import Comment, Mapping, Sequence, to_data
from sopsy.rules import CryptRule
from sopsy.stores import get_store


def merge(base: str | None, ours: str, theirs: str, side: str = "ours") -> tuple[list[Any], list[Any], list[str]]:
    """(merged data, edits, clash paths) for three YAML texts; the edits are checked to turn
    ours into exactly the merged tree (data and comments)."""
    st = get_store("yaml")
    b = st.parse(base).documents if base is not None else None
    o, t = st.parse(ours).documents, st.parse(theirs).documents
    tm, merged = merge_documents(b, o, t)
    edits = plan(o, merged, side)
    applied = apply(o, edits)
    assert [tm.sig(d) for d in applied] == [tm.sig(fresh(m, side)) for m in merged]
    return [to_data(d) for d in applied], edits, [render_path(c.path) for c in tm.clashes]


def comments(node: Any) -> list[str]:
    out: list[str] = []
    items = node.items if isinstance(node, (Mapping, Sequence)) else []
    for item in items:
        child = item[1] if isinstance(item, tuple) else item
        out += [child.text] if isinstance(child, Comment) else comments(child)
    return out


def test_one_side_change_is_taken_with_one_edit() -> None:
    data, edits, clashes = merge("a: 1\nb: 2\n", "a: 1\nb: 2\n", "a: 1\nb: 3\n")
    assert data == [{"a": 1, "b": 3}] and clashes == []
    assert [(type(e), e.path) for e in edits] == [(Replace, ("b",))]


def test_changes_on_both_sides_to_different_keys_merge() -> None:
    data, edits, _ = merge("a: 1\nb: 2\nc: 3\n", "a: 9\nb: 2\nc: 3\n", "a: 1\nb: 2\nc: 8\n")
    assert data == [{"a": 9, "b": 2, "c": 8}] and len(edits) == 1


def test_same_change_on_both_sides_is_taken_once() -> None:
    data, edits, clashes = merge("a: 1\n", "a: 1\nb: 2\n", "a: 1\nb: 2\n")
    assert data == [{"a": 1, "b": 2}] and edits == [] and clashes == []


def test_both_add_keys_at_the_end_keeps_both_ours_first() -> None:
    data, edits, _ = merge("db:\n  u: a\n", "db:\n  u: a\n  x: 1\n", "db:\n  u: a\n  y: 2\n")
    assert data == [{"db": {"u": "a", "x": 1, "y": 2}}]
    assert [(type(e), e.parent, e.after, e.key) for e in edits] == [(Insert, ("db",), "x", "y")]  # type: ignore[union-attr]


def test_both_add_keys_at_the_start() -> None:
    data, _, _ = merge("a: 1\n", "x: 1\na: 1\n", "y: 2\na: 1\n")
    assert list(data[0]) == ["x", "y", "a"]


def test_theirs_consecutive_additions_keep_their_order() -> None:
    data, _, _ = merge("a: 1\nb: 2\n", "a: 1\nb: 2\nz: 0\n", "a: 1\nx: 1\ny: 1\nb: 2\n")
    assert list(data[0]) == ["a", "x", "y", "b", "z"]


def test_both_append_to_a_list() -> None:
    data, edits, _ = merge("l: [a, b]\n", "l: [a, b, c]\n", "l: [a, b, d]\n")
    assert data == [{"l": ["a", "b", "c", "d"]}]
    assert [(type(e), e.parent, e.after) for e in edits] == [(Insert, ("l",), 2)]  # type: ignore[union-attr]


def test_both_append_the_same_item_once() -> None:
    data, _, _ = merge("l: [a]\n", "l: [a, c, d]\n", "l: [a, c]\n")
    assert data == [{"l": ["a", "c", "d"]}]


def test_list_item_changes_on_both_sides_merge_in_place() -> None:
    base = "l:\n- n: 1\n  v: a\n- n: 2\n  v: b\n"
    data, edits, _ = merge(base, base.replace("v: a", "v: A"), base.replace("v: b", "v: B"))
    assert data == [{"l": [{"n": 1, "v": "A"}, {"n": 2, "v": "B"}]}]
    assert [(type(e), e.path) for e in edits] == [(Replace, ("l", 1, "v"))]  # type: ignore[union-attr]


def test_theirs_deletes_a_list_item_ours_appends() -> None:
    data, edits, _ = merge("l: [a, b, c]\n", "l: [a, b, c, d]\n", "l: [a, c]\n")
    assert data == [{"l": ["a", "c", "d"]}]
    assert [(type(e), e.path) for e in edits] == [(Delete, ("l", 1))]  # type: ignore[union-attr]


def test_deleted_key_stays_deleted_when_the_other_side_reorders() -> None:
    data, edits, clashes = merge("a: 1\nb: 2\nc: 3\n", "c: 3\nb: 2\na: 1\n", "a: 1\nc: 3\n")
    assert data == [{"c": 3, "a": 1}] and list(data[0]) == ["c", "a"] and clashes == []
    assert [(type(e), e.path) for e in edits] == [(Delete, ("b",))]  # type: ignore[union-attr]


def test_deleted_key_changed_on_the_other_side_clashes() -> None:
    data, _, clashes = merge("a: 1\nb: 2\n", "a: 1\nb: 3\n", "a: 1\n")
    assert clashes == ['["b"]'] and data == [{"a": 1, "b": 3}]
    data, _, clashes = merge("a: 1\nb: 2\n", "a: 1\n", "a: 1\nb: 3\n")
    assert clashes == ['["b"]'] and data == [{"a": 1}]
    theirs_side, _, _ = merge("a: 1\nb: 2\n", "a: 1\n", "a: 1\nb: 3\n", THEIRS)
    assert theirs_side == [{"a": 1, "b": 3}]


def test_add_next_to_delete() -> None:
    data, _, clashes = merge("a: 1\nb: 2\nc: 3\n", "a: 1\nb: 2\nx: 9\nc: 3\n", "a: 1\nc: 3\n")
    assert data == [{"a": 1, "x": 9, "c": 3}] and list(data[0]) == ["a", "x", "c"] and clashes == []


def test_theirs_move_is_applied_with_ours_edit_inside() -> None:
    base = "db:\n  pw: x\napi:\n  token: t\n  url: u\n"
    data, _, clashes = merge(base, base.replace("token: t", "token: T"), "api:\n  token: t\n  url: u\ndb:\n  pw: x\n")
    assert data == [{"api": {"token": "T", "url": "u"}, "db": {"pw": "x"}}] and list(data[0]) == ["api", "db"]
    assert clashes == []


def test_ours_move_stays_with_theirs_edit_inside() -> None:
    base = "db:\n  pw: x\napi:\n  token: t\n"
    data, edits, _ = merge(base, "api:\n  token: t\ndb:\n  pw: x\n", base.replace("token: t", "token: T"))
    assert list(data[0]) == ["api", "db"] and data[0]["api"] == {"token": "T"}
    assert [(type(e), e.path) for e in edits] == [(Replace, ("api", "token"))]  # type: ignore[union-attr]


def test_comment_change_and_value_change_on_one_item_merge() -> None:
    st = get_store("yaml")
    base = "a: 1\n# about b\nb: 2\n"
    for ours, theirs in (("a: 1\n# about b (edited)\nb: 2\n", "a: 1\n# about b\nb: 3\n"),
                         ("a: 1\n# about b\nb: 3\n", "a: 1\n# about b (edited)\nb: 2\n")):
        tm, merged = merge_documents(st.parse(base).documents, st.parse(ours).documents, st.parse(theirs).documents)
        out = fresh(merged[0])
        assert to_data(out) == {"a": 1, "b": 3} and comments(out) == [" about b (edited)"] and tm.clashes == []


def test_comments_travel_with_their_item() -> None:
    st = get_store("yaml")
    base = "a: 1\n# about b\nb: 2\nc: 3\n"
    tm, merged = merge_documents(st.parse(base).documents, st.parse(base).documents,
                                 st.parse("c: 3\na: 1\n# about b\nb: 2\n").documents)
    out = fresh(merged[0])
    assert out.items[2][0] is None and out.items[2][1].text == " about b" and out.items[3][0] == "b"  # type: ignore[union-attr]


def test_scalar_changed_differently_clashes_with_both_sides_kept() -> None:
    data, _, clashes = merge("db:\n  pw: x\n", "db:\n  pw: ours\n", "db:\n  pw: theirs\n")
    assert clashes == ['["db"]["pw"]'] and data == [{"db": {"pw": "ours"}}]
    theirs_side, _, _ = merge("db:\n  pw: x\n", "db:\n  pw: ours\n", "db:\n  pw: theirs\n", THEIRS)
    assert theirs_side == [{"db": {"pw": "theirs"}}]


def test_layout_only_changes_are_not_changes() -> None:
    data, edits, clashes = merge("a: 'x'\nb:\n  - 1\n", "a: \"x\"\nb:\n    - 1\n", "a: x\nb: [1]\nc: 2\n")
    assert data == [{"a": "x", "b": [1], "c": 2}] and clashes == []
    assert [type(e) for e in edits] == [Insert]


def test_add_add_without_base_merges_disjoint_keys() -> None:
    data, _, clashes = merge(None, "a: 1\nb: 2\n", "a: 1\nc: 3\n")
    assert data == [{"a": 1, "b": 2, "c": 3}] and clashes == []
    _, _, clashes = merge(None, "a: 1\n", "a: 2\n")
    assert clashes == ['["a"]']


def test_type_change_against_value_change_clashes() -> None:
    _, _, clashes = merge("a: 1\n", "a: [1]\n", "a: 2\n")
    assert clashes == ['["a"]']


# -- metadata -------------------------------------------------------------------------------------

def age(r: str, enc: str = "x") -> KeyEntry:
    return KeyEntry("age", {"recipient": r, "enc": enc})


def meta(groups: list[list[KeyEntry]], rule: CryptRule | None = None, threshold: int = 0) -> Metadata:
    return Metadata(key_groups=groups, crypt_rule=rule, shamir_threshold=threshold)


K1, K2 = b"1" * 32, b"2" * 32


@pytest.fixture()
def age_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEYS_BOTH))


def test_recipient_added_on_theirs_reuses_their_wrapped_entry() -> None:
    b = Side(meta([[age(RECIPIENT, "b1")]]), K1)
    t = Side(meta([[age(RECIPIENT, "b1"), age(RECIPIENT2, "t2")]]), K1)
    o = Side(meta([[age(RECIPIENT, "b1")]]), K1)
    m = merge_metadata(b, o, t)
    assert not m.fresh and m.data_key == K1
    assert [e.fields["enc"] for e in m.metadata.key_groups[0]] == ["b1", "t2"]  # no private key needed
    assert m.changes == [f"+ age {RECIPIENT2}"]


def test_recipient_added_with_another_data_key_is_wrapped_for_ours(age_keys: None) -> None:
    o = Side(meta([[age(RECIPIENT, "o1")]]), K1)
    t = Side(meta([[age(RECIPIENT, "t1"), age(RECIPIENT2, "t2")]]), K2)
    m = merge_metadata(None, o, t)  # both added the file: theirs' key is not ours
    assert m.data_key == K1 and not m.fresh
    entry = m.metadata.key_groups[0][1]
    assert entry.fields["recipient"] == RECIPIENT2 and entry.fields["enc"] != "t2"
    from sopsy.keys import provider

    assert provider("age").unwrap(entry) == K1


def test_removal_on_either_side_removes_and_takes_a_fresh_key(age_keys: None) -> None:
    both = [[age(RECIPIENT, "b1"), age(RECIPIENT2, "b2")]]
    for o_groups, t_groups in (([[age(RECIPIENT, "b1")]], both), (both, [[age(RECIPIENT, "b1")]])):
        m = merge_metadata(Side(meta(both), K1), Side(meta(o_groups), K1), Side(meta(t_groups), K1))
        assert m.fresh and m.data_key not in (K1, K2)
        assert [e.fields["recipient"] for e in m.metadata.key_groups[0]] == [RECIPIENT]


def test_rotation_on_either_side_takes_a_fresh_key(age_keys: None) -> None:
    g = [[age(RECIPIENT)]]
    m = merge_metadata(Side(meta(g), K1), Side(meta(g), K1), Side(meta(g), K2))
    assert m.fresh and m.data_key not in (K1, K2)


def test_rule_threshold_changes_merge_three_way() -> None:
    g = [[age(RECIPIENT)]]
    r1, r2, r3 = (CryptRule("encrypted_regex", v) for v in ("^a", "^(a|b)", "^c"))
    m = merge_metadata(Side(meta(g, r1), K1), Side(meta(g, r1), K1), Side(meta(g, r2), K1))
    assert m.metadata.crypt_rule == r2 and not m.clashes
    m = merge_metadata(Side(meta(g, r1), K1), Side(meta(g, r3), K1), Side(meta(g, r2), K1))
    assert m.metadata.crypt_rule == r3 and m.clashes == {"crypt rule": (r3, r2)}


# -- markers, patterns ----------------------------------------------------------------------------

def test_markers_round_trip_both_sides() -> None:
    a, b = "x: 1\ny: 2\nz: 3\n", "x: 1\ny: 9\nz: 3\nw: 4"
    marked = markers.interleave(a, b, "ours", "theirs")
    assert marked == "x: 1\n<<<<<<< ours\ny: 2\n=======\ny: 9\n>>>>>>> theirs\nz: 3\n" \
                     "<<<<<<< ours\n=======\nw: 4\n>>>>>>> theirs\n"
    assert markers.split(marked) == (a, "x: 1\ny: 9\nz: 3\nw: 4\n")
    assert markers.has_conflict(marked.encode()) and not markers.has_conflict(a.encode())
    assert markers.marker_lines(marked) == [2, 4, 6, 8, 9, 11]
    with pytest.raises(ValueError):
        markers.split("<<<<<<< ours\nx\n")


@pytest.mark.parametrize(("regex", "globs"), [
    (r"\.enc\.yaml$", ["*.enc.yaml"]),
    (r"^secrets/", ["secrets/**"]),
    (r"^secrets/.*", ["secrets/**"]),
    (r".*\.enc\.ya?ml$", ["*.enc.yaml", "*.enc.yml"]),
    (r"\.(yaml|json|env)$", ["*.yaml", "*.json", "*.env"]),
    (r"^k8s/[^/]+/secret\.yaml$", ["k8s/*/secret.yaml"]),
    (r"secrets/.*\.yaml$", ["**/*secrets/**/*.yaml"]),
    (r"^config/secrets", ["config/secrets*", "config/secrets*/**"]),
    (r".*", None), (r"a\d", None), (r"^a|b$", None), (r"(?:^|/)secrets/", None),
])
def test_path_regex_to_git_patterns(regex: str, globs: list[str] | None) -> None:
    assert regex_to_globs(regex) == globs


def test_named_list_items_merge_by_name() -> None:
    base = "env:\n- name: A\n  value: '1'\n- name: B\n  value: '2'\n"
    ours = base.replace("'2'", "'22'")
    theirs = "env:\n- name: A\n  value: '1'\n- name: X\n  value: '9'\n- name: B\n  value: '2'\n"
    data, edits, clashes = merge(base, ours, theirs)
    assert data == [{"env": [{"name": "A", "value": "1"}, {"name": "X", "value": "9"},
                             {"name": "B", "value": "22"}]}] and clashes == []
    assert [type(e) for e in edits] == [Insert]
    data, _, clashes = merge(base, ours, base.replace("'2'", "'23'"))
    assert clashes == ['["env"][1]["value"]']


def test_list_items_changed_on_both_sides_and_an_insertion_pair_by_likeness() -> None:
    base = "l:\n- {n: a, v: 1}\n- {n: b, v: 2}\n"
    ours = "l:\n- {n: a, v: 1}\n- {n: b, v: 3}\n"
    theirs = "l:\n- {n: a, v: 5}\n- {n: b, v: 2}\n- {n: c, v: 0}\n"
    data, _, clashes = merge(base, ours, theirs)
    assert data == [{"l": [{"n": "a", "v": 5}, {"n": "b", "v": 3}, {"n": "c", "v": 0}]}] and clashes == []


def test_shamir_groups_changed_on_both_sides_are_split_again_for_the_same_data_key(age_keys: None) -> None:
    from sopsy import datakey
    from sopsy.keys import KeySpec

    key = b"k" * 32
    a1, a2 = KeySpec("age", RECIPIENT), KeySpec("age", RECIPIENT2)

    def split(groups: list[list[KeySpec]]) -> Metadata:  # as updatekeys does: new shares on each side
        return meta(datakey.wrap(key, groups, 2)[0], threshold=2)

    base, ours, theirs = split([[a1], [a2]]), split([[a1, a2], [a2]]), split([[a1], [a2, a1]])
    m = merge_metadata(Side(base, key), Side(ours, key), Side(theirs, key))
    assert not m.fresh and m.data_key == key and m.metadata.shamir_threshold == 2
    assert [[e.fields["recipient"] for e in g] for g in m.metadata.key_groups] == [[RECIPIENT, RECIPIENT2],
                                                                                  [RECIPIENT2, RECIPIENT]]
    assert datakey.recover(m.metadata) == key
    from sopsy import shamir
    from sopsy.keys import provider

    # every entry holds a share of the one split: any entry of group 1 with any of group 2 gives the key
    for x in m.metadata.key_groups[0]:
        for y in m.metadata.key_groups[1]:
            assert shamir.combine([provider("age").unwrap(x), provider("age").unwrap(y)]) == key


def test_opaque_data_merges_by_lines() -> None:
    from sopsy.merge.lines import merge_lines

    def lines(s: str) -> list[str]:
        return [x + "\n" for x in s.split()]

    assert merge_lines(lines("a b c"), lines("a B c"), lines("a b c d")) == lines("a B c d")
    assert merge_lines(lines("a b c"), lines("a X c"), lines("a X c")) == lines("a X c")
    assert merge_lines(lines("a b c"), lines("a B c"), lines("a C c")) is None
    assert merge_lines([], lines("x"), lines("y")) is None

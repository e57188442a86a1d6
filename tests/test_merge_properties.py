"""Property: changes to different keys on the two sides always merge, through each store's own
editing operations, into exactly both sides' changes (computed here on plain dicts), with ours'
key order kept. No encryption is involved: this exercises the tree merge, the edit plan and the
stores' ``apply_edits`` on many random documents."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy.merge.driver import _apply
from sopsy.merge.plan import OURS, plan
from sopsy.merge.tree import merge_documents
from sopsy.model import from_data, to_data
from sopsy.stores import get_store

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
SCALAR = st.one_of(st.integers(-999, 999), WORDS, st.booleans())


def values(flat: bool) -> st.SearchStrategy[Any]:
    if flat:
        return WORDS
    leaf = SCALAR
    return st.one_of(leaf, st.lists(leaf, max_size=3),
                     st.dictionaries(st.sampled_from(["x", "y", "z"]), leaf, min_size=1, max_size=3))


@st.composite
def scenario(draw: st.DrawFn, flat: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(base, ours, theirs, expected): each base key is changed by at most one side."""
    keys = draw(st.lists(st.sampled_from([f"k{i}" for i in range(8)]), min_size=1, max_size=8, unique=True))
    base = {k: draw(values(flat)) for k in keys}
    sides: list[dict[str, Any]] = [copy.deepcopy(base), copy.deepcopy(base)]
    expected = copy.deepcopy(base)
    for k in keys:
        owner = draw(st.sampled_from([None, 0, 1]))
        if owner is None:
            continue
        side = sides[owner]
        op = draw(st.sampled_from(["set", "delete", "inner"]))
        if op == "delete":
            del side[k], expected[k]
        elif op == "inner" and isinstance(base[k], dict):
            inner = draw(st.sampled_from(["x", "y", "z", "w"]))
            side[k][inner] = expected[k][inner] = draw(SCALAR)
        elif op == "inner" and isinstance(base[k], list):
            item = draw(SCALAR)
            side[k].append(item)
            expected[k].append(item)
        else:
            side[k] = expected[k] = draw(values(flat))
    for n, prefix in enumerate(("ours", "theirs")):
        for i in range(draw(st.integers(0, 2))):
            name = f"{prefix}{i}"
            items = list(sides[n].items())
            at = draw(st.integers(0, len(items)))
            value = draw(values(flat))
            sides[n] = dict(items[:at] + [(name, value)] + items[at:])
            expected[name] = value
    return base, sides[0], sides[1], expected


def check(store_name: str, base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any],
          expected: dict[str, Any]) -> None:
    store = get_store(store_name)
    texts = [store.emit([from_data(d)]) for d in (base, ours, theirs)]  # type: ignore[list-item]
    b, o, t = (store.parse(x).documents for x in texts)
    tm, merged = merge_documents(b, o, t)
    assert tm.clashes == []
    parsed_o = store.parse(texts[1])
    text, _ = _apply(store, texts[1], parsed_o, plan(o, merged, OURS), merged, OURS, tm, "f")
    got = to_data(store.parse(text).documents[0])
    assert got == expected
    order = [k for k in got if k in ours]
    assert order == [k for k in ours if k in got]  # ours' order kept


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario(flat=False))
def test_yaml_changes_to_different_keys_merge(s: tuple[Any, ...]) -> None:
    check("yaml", *s)


@SETTINGS
@given(scenario(flat=False))
def test_json_changes_to_different_keys_merge(s: tuple[Any, ...]) -> None:
    check("json", *s)


@SETTINGS
@given(scenario(flat=True))
def test_dotenv_changes_to_different_keys_merge(s: tuple[Any, ...]) -> None:
    check("dotenv", *s)

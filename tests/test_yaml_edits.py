"""Document editing for YAML: hand-written vectors (testdata/edits/yaml/<behaviour>.before.yaml,
.edits.json, .after.yaml; tests/test_edit_vectors.py also runs them, with the real sops reading
what sopsy re-encrypts) checked here in every document against PyYAML's reading, and property
tests on generated documents and on the corpus.

The vectors' .after files were written by hand, not produced by the code; a vector's data is
also checked against an oracle of this file (plain dicts and lists edited in Python).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TESTDATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.errors import UsageError
from sopsy.model import from_data
from sopsy.stores import get_store

STORE = get_store("yaml")
VECTORS = sorted((TESTDATA / "edits" / "yaml").glob("*.edits.json"))


def edits_from_json(items: list[dict[str, Any]]) -> list[Edit]:
    """The shared vector format (tests/support/edit_data.py; an insert's ``path`` names its parent)."""
    out: list[Edit] = []
    for it in items:
        doc = it.get("doc", 0)
        if it["op"] == "replace":
            out.append(Replace(tuple(it["path"]), from_data(it["value"]), doc))
        elif it["op"] == "delete":
            out.append(Delete(tuple(it["path"]), doc))
        else:
            out.append(Insert(tuple(it["path"]), it.get("after"), it.get("key"), from_data(it["value"]),
                              it.get("comments", ()), doc))
    return out


class _Box:
    """A node of the oracle's tree: identity for every value, tombstones for deletions."""

    def __init__(self, data: Any) -> None:
        self.deleted = False
        if isinstance(data, dict):
            self.items: list[list[Any]] | None = [[k, _Box(v)] for k, v in data.items()]
            self.is_map = True
        elif isinstance(data, list):
            self.items = [[None, _Box(v)] for v in data]
            self.is_map = False
        else:
            self.items, self.value = None, data
        self.inserted: dict[int, Any] = {}  # anchor id -> the last box inserted there

    def child(self, part: Any) -> _Box:
        assert self.items is not None
        live = [b for _, b in self.items if not b.deleted]
        if self.is_map:
            return next(b for k, b in self.items if k == part and not b.deleted)
        return live[part]

    def data(self) -> Any:
        if self.items is None:
            return self.value
        live = [(k, b.data()) for k, b in self.items if not b.deleted]
        return dict(live) if self.is_map else [v for _, v in live]


def oracle(docs: list[Any], items: list[dict[str, Any]]) -> list[Any]:
    """The expected data: the edits applied to plain data by an implementation of this test's
    own (every path looked up as parsed, then changed by identity)."""
    roots = [_Box(d) for d in docs]
    plans = []
    for it in items:
        node = roots[it.get("doc", 0)]
        path = it["path"] if it["op"] == "insert" else it["path"][:-1]
        for p in path:
            node = node.child(p)
        target = it.get("after") if it["op"] == "insert" else it["path"][-1]
        plans.append((it, node, node.child(target) if target is not None else None))
    for it, parent, old in plans:
        assert parent.items is not None
        ids = [id(b) for _, b in parent.items]
        if it["op"] == "replace":  # in place: an insert after it still finds it
            old.__dict__.update(_Box(it["value"]).__dict__)
        elif it["op"] == "delete":
            old.deleted = True
        else:
            prev = parent.inserted.get(id(old), old)
            at = 0 if prev is None else ids.index(id(prev)) + 1
            box = _Box(it["value"])
            parent.items.insert(at, [it.get("key"), box])
            parent.inserted[id(old)] = box
    return [r.data() for r in roots]


def _load(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.BaseLoader))  # strings only: no YAML 1.1 surprises


@pytest.mark.parametrize("vector", VECTORS, ids=[p.name.removesuffix(".edits.json") for p in VECTORS])
def test_vector(vector: Path) -> None:
    name = vector.name.removesuffix(".edits.json")
    before = (vector.parent / f"{name}.before.yaml").read_bytes().decode()
    after = (vector.parent / f"{name}.after.yaml").read_bytes().decode()
    items = json.loads(vector.read_text())
    got = STORE.apply_edits(STORE.parse(before), edits_from_json(items))
    assert got == after
    # the hand-written result holds the data the edits describe
    expected = oracle(list(yaml.safe_load_all(before)), items)
    assert list(yaml.safe_load_all(after)) == expected


def test_bad_paths_are_usage_errors_naming_the_path() -> None:
    parsed = STORE.parse("a:\n  b: 1\nl: [x]\n")
    for edit, words in [(Replace(("a", "c"), from_data(1)), '["a"]["c"]'),
                        (Delete(("l", 3)), '["l"][3]'),
                        (Insert(("a",), "zz", "n", from_data(1)), '["zz"]'),
                        (Insert(("a",), None, "b", from_data(1)), '["a"]["b"] is already'),
                        (Replace((), from_data(1)), "path"),
                        (Replace(("a",), from_data(1), doc=3), "document 3")]:
        with pytest.raises(UsageError) as err:
            STORE.apply_edits(parsed, [edit])
        assert words in str(err.value)


# -- property: random edits on random documents ----------------------------------------------

_keys = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="_-. "),
                min_size=1, max_size=8).filter(lambda k: k.strip() == k)
_strings = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff\x85\u2028\u2029\r"),
                   max_size=16)
_scalars = st.one_of(_strings, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none(),
                     st.floats(allow_nan=False, allow_infinity=True))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)), max_leaves=8)


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


@st.composite
def _edit_batches(draw: Any, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Edits on distinct places, none inside another's target (the batch may still insert
    after an item another edit deletes or replaces)."""
    paths = _paths(data)
    items: list[dict[str, Any]] = []
    touched: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "delete", "insert"]))
        if op == "insert":
            parent = draw(st.sampled_from([p for p in paths if isinstance(_at(data, p), (dict, list))]))
            node = _at(data, parent)
            after = draw(st.sampled_from([None, *(list(node) if isinstance(node, dict) else range(len(node)))]))
            key = None
            if isinstance(node, dict):
                taken = set(node) | {i.get("key") for i in items if i["op"] == "insert" and i["path"] == list(parent)}
                key = draw(_keys.filter(lambda k, t=taken: k not in t))
            place = parent
            item = {"op": "insert", "path": list(parent), "after": after, "key": key, "value": draw(_values)}
        else:
            candidates = [p for p in paths if p]
            if not candidates:
                continue
            place = draw(st.sampled_from(candidates))
            item = {"op": op, "path": list(place)}
            if op == "replace":
                item["value"] = draw(_values)
        if any(place[:len(t)] == t or t[:len(place)] == place for t in touched):
            continue
        touched.append(place if op != "insert" else (*place, "\0insert"))
        items.append(item)
    return items


def _typed(text: str) -> list[Any]:
    from sopsy.model import to_data

    return [to_data(d) for d in STORE.parse(text).documents]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), doc=st.dictionaries(_keys, _values, min_size=1, max_size=5),
       flow=st.sampled_from([False, None, True]), indent=st.sampled_from([2, 4]))
def test_random_edits_give_exactly_the_expected_data(data: Any, doc: dict[str, Any], flow: bool | None,
                                                     indent: int) -> None:
    try:
        src = yaml.safe_dump(doc, default_flow_style=flow, indent=indent, allow_unicode=True, sort_keys=False)
        before = _typed(src)
    except Exception:  # noqa: BLE001 - a document PyYAML or the sops format cannot hold
        return
    items = data.draw(_edit_batches(before[0]))
    out = STORE.apply_edits(STORE.parse(src), edits_from_json(items))
    assert all(_same(a, b) for a, b in zip(_typed(out), oracle(before, items), strict=True)), out


CORPUS_YAML = [p for p in sorted((TESTDATA / "corpus" / "yaml").glob("*"))
               if "construct-merge" not in p.name and "construct-null" not in p.name]
SAMPLES = [p.read_bytes().decode("utf-8", "surrogateescape") for p in CORPUS_YAML] + [
    (TESTDATA / "sops-vectors" / "plain.yaml").read_text(),
    "# settings\nbase: &base\n  user: admin  # who\n  pass: hunter2\n\ncopy: *base\nmerged:\n  <<: *base\n"
    "  extra: x\nscalar: &s tok\nagain: *s\nlist:\n  - &i {a: 1}\n  - *i\n  # trailing\nblock: |+\n  kept\n\n"
    "folded: >-\n  a\n  b\nflow: {x: [1, 2], y: {z: *s}}\n",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), which=st.integers(0, len(SAMPLES) - 1))
def test_random_edits_on_real_files_give_exactly_the_expected_data(data: Any, which: int) -> None:
    """Comments, anchors and aliases, merge keys, block scalars, odd indentation: real files."""
    src = SAMPLES[which]
    parsed = STORE.parse(src)
    before = _typed(src)
    items = data.draw(_edit_batches(before[0]))
    out = STORE.apply_edits(parsed, edits_from_json(items))
    assert all(_same(a, b) for a, b in zip(_typed(out), oracle(before, items), strict=True))

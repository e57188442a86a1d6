"""Document editing for YAML: hand-written vectors (testdata/edits/yaml/<behaviour>.before.yaml,
.edits.json, .after.yaml), a property test on generated documents and edits, and the real sops
reading what sopsy re-encrypts after an edit.

The vectors' .after files were written by hand, not produced by the code; a vector's data is
also checked against an oracle of this file (plain dicts and lists edited in Python).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RECIPIENT, TESTDATA, run_sops
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.errors import UsageError
from sopsy.keys import KeySpec
from sopsy.model import from_data
from sopsy.stores import get_store

STORE = get_store("yaml")
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
VECTORS = sorted((TESTDATA / "edits" / "yaml").glob("*.edits.json"))


def edits_from_json(items: list[dict[str, Any]]) -> list[Edit]:
    out: list[Edit] = []
    for it in items:
        doc = it.get("doc", 0)
        if it["op"] == "replace":
            out.append(Replace(tuple(it["path"]), from_data(it["value"]), doc))
        elif it["op"] == "delete":
            out.append(Delete(tuple(it["path"]), doc))
        else:
            out.append(Insert(tuple(it["parent"]), it.get("after"), it.get("key"), from_data(it["value"]),
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
        path = it["parent"] if it["op"] == "insert" else it["path"][:-1]
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


@pytest.mark.parametrize("vector", VECTORS[:8] + VECTORS[-4:], ids=lambda p: p.name.removesuffix(".edits.json"))
def test_sops_reads_the_reencrypted_result(vector: Path, tmp_path: Path) -> None:
    name = vector.name.removesuffix(".edits.json")
    before = (vector.parent / f"{name}.before.yaml").read_bytes().decode()
    after = (vector.parent / f"{name}.after.yaml").read_bytes().decode()
    opened = core.decrypt_text(STORE, core.encrypt_text(STORE, before, OPTS))
    plain = opened.plaintext()
    new_text = STORE.apply_edits(STORE.parse(plain), edits_from_json(json.loads(vector.read_text())))
    f = tmp_path / "edited.yaml"
    f.write_bytes(core.reencrypt(opened, new_text).encode())
    out = run_sops("decrypt", str(f))
    assert out.returncode == 0, out.stderr
    assert list(yaml.safe_load_all(out.stdout.decode())) == list(yaml.safe_load_all(after))


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

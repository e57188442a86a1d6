"""Editing JSON files (sopsy/stores/json/edit.py): the hand-written vectors in testdata/edits/json,
the real sops reading every edited and re-encrypted file, and a property: random edits of random
documents give text that parses back to exactly the expected data.

A vector is three files named by the behaviour it shows: ``<name>.before.json``, ``<name>.edits.json``
and ``<name>.after.json``, the expected text, written by hand. The edits file is
``{"about": "what it shows", "edits": [...]}`` (or the bare list), each edit
``{"op": "replace"|"insert"|"delete", ...}``: ``path`` for replace and delete, ``parent`` (or
``path``), ``after`` (a key, an index, or null for first), ``key`` and ``comments`` for insert, and
``value`` (JSON) for replace and insert — the form the other stores' vectors use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import json5  # type: ignore[import-untyped]
import pytest
from conftest import RECIPIENT, TESTDATA, run_sops
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.errors import UsageError
from sopsy.keys import KeySpec
from sopsy.model import Mapping, Scalar, Sequence, from_data
from sopsy.stores.json import STORE

VECTORS = TESTDATA / "edits" / "json"
NAMES = sorted(p.name[:-len(".before.json")] for p in VECTORS.glob("*.before.json"))
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])


def records(desc: list[dict[str, Any]] | dict[str, Any]) -> list[Edit]:
    out: list[Edit] = []
    for d in desc["edits"] if isinstance(desc, dict) else desc:
        path = tuple(d["parent"] if "parent" in d else d["path"])
        if d["op"] == "replace":
            out.append(Replace(path, from_data(d["value"])))
        elif d["op"] == "insert":
            out.append(Insert(path, d["after"], d.get("key"), from_data(d["value"]), d.get("comments", ())))
        elif d["op"] == "delete":
            out.append(Delete(path))
        else:
            raise AssertionError(f"unknown op {d['op']!r}")
    return out


def read(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def vector(name: str) -> tuple[str, list[Edit], str]:
    return (read(VECTORS / f"{name}.before.json"),
            records(json.loads(read(VECTORS / f"{name}.edits.json"))),
            read(VECTORS / f"{name}.after.json"))


def test_the_vectors_are_there() -> None:
    assert len(NAMES) >= 20
    for name in NAMES:
        for part in ("edits", "after"):
            assert (VECTORS / f"{name}.{part}.json").is_file(), name
        assert json.loads(read(VECTORS / f"{name}.edits.json"))["about"]


@pytest.mark.parametrize("name", NAMES)
def test_vector(name: str) -> None:
    before, edits, after = vector(name)
    assert STORE.apply_edits(STORE.parse(before), edits) == after


def sops_data(text: str) -> Any:
    return json.loads(text, parse_int=float, object_pairs_hook=list)


def _enc_leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """(path, ENC text) of every encrypted leaf of a parsed encrypted file."""
    if isinstance(node, Scalar):
        return [(path, node.value)] if isinstance(node.value, str) and node.value.startswith("ENC[") else []
    if isinstance(node, Mapping):
        return [x for k, v in node.items for x in _enc_leaves(v, (*path, k))]
    if isinstance(node, Sequence):
        return [x for i, v in enumerate(node.items) for x in _enc_leaves(v, (*path, i))]
    return []


def _touched(path: tuple[Any, ...], edits: list[Edit]) -> bool:
    for e in edits:
        where = e.parent if isinstance(e, Insert) else e.path
        n = min(len(where), len(path))
        if where[:n] == path[:n]:
            return True
    return False


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("jsonc_")])
def test_vector_through_encryption_and_the_real_sops(name: str, tmp_path: Path) -> None:
    """encrypt (sopsy) → decrypt → apply_edits → reencrypt; sopsy gives back the expected text,
    sops reads the same data, and untouched values keep their exact ciphertext."""
    before, edits, after = vector(name)
    enc = core.encrypt_text(STORE, before, OPTS)
    opened = core.decrypt_text(STORE, enc)
    text = STORE.apply_edits(opened.parsed, edits, opened.hints)
    assert text == after
    new = core.reencrypt(opened, text)
    assert core.decrypt_text(STORE, new).plaintext() == after
    f = tmp_path / "f.json"
    f.write_text(new, newline="")
    done = run_sops("decrypt", str(f))
    assert done.returncode == 0, done.stderr.decode()
    assert sops_data(done.stdout.decode()) == sops_data(after)
    for path, ciphertext in _enc_leaves(STORE.parse(enc).documents[0]):
        if not _touched(path, edits):
            assert ciphertext in new, path


def test_sops_made_file_edited_and_read_back_by_sops(tmp_path: Path) -> None:
    plain = tmp_path / "p.json"
    plain.write_text('{\n\t"a": "x",\n\t"b": [\n\t\t1\n\t]\n}\n')
    done = run_sops("encrypt", "--age", RECIPIENT, str(plain))
    assert done.returncode == 0, done.stderr.decode()
    opened = core.decrypt_text(STORE, done.stdout.decode())
    edits: list[Edit] = [Delete(("a",)), Insert(("b",), 0, None, from_data("two")),
                         Insert((), "b", "c", from_data({"d": True}))]
    text = STORE.apply_edits(opened.parsed, edits, opened.hints)
    assert text == '{\n\t"b": [\n\t\t1,\n\t\t"two"\n\t],\n\t"c": {\n\t\t"d": true\n\t}\n}\n'
    f = tmp_path / "f.json"
    f.write_text(core.reencrypt(opened, text))
    back = run_sops("decrypt", str(f))
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout.decode() == text  # sops's own layout, so sops writes it back the same


@pytest.mark.parametrize("edits,message", [
    ([Delete(("nope",))], 'no such path in the file: ["nope"]'),
    ([Delete(("a", 5))], "no such path in the file: [\"a\"][5]"),
    ([Insert(("k",), None, "x", from_data(1))], 'cannot insert into ["k"]'),
    ([Insert(("a",), None, "x", from_data(1))], "needs no key"),
    ([Insert((), None, None, from_data(1))], "needs a key"),
    ([Insert((), None, "sops", from_data(1))], "reserved"),
    ([Delete(("a",)), Replace(("a",), from_data(1))], "two edits of the same item"),
    ([Delete(("a",)), Insert(("a",), None, None, from_data(1))], "inside an item that another edit"),
    ([Replace(("o",), from_data(1)), Replace(("o", "p"), from_data(2))], "inside an item"),
    ([Insert((), None, "x", from_data(1), comments=["c"])], "JSON without comments"),
    ([Delete(())], "not the whole document"),
])
def test_edits_the_file_cannot_take_are_refused_naming_the_path(edits: list[Edit], message: str) -> None:
    parsed = STORE.parse('{"a": [1], "k": "v", "o": {"p": 1}}')
    with pytest.raises(UsageError, match=re.escape(message)):
        STORE.apply_edits(parsed, edits)


# -- property: random edits of random documents ----------------------------------------------------

_keys = st.text("abcdefgh", min_size=1, max_size=3)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=False, allow_infinity=False, width=64),
                     st.text(st.characters(codec="utf-8"), max_size=8))
_data = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(_keys, kids, max_size=4)),
                     max_leaves=14)
_docs = st.dictionaries(_keys, _data, max_size=5)
_styles = st.sampled_from([{"indent": None}, {"indent": None, "separators": (",", ":")}, {"indent": 2},
                           {"indent": 4}, {"indent": "\t"}, {"indent": 0}, {"indent": 2, "separators": (",", ": ")}])


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


def _related(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


@st.composite
def _edited(draw: st.DrawFn) -> tuple[dict[str, Any], list[Edit], list[tuple[str, Any]]]:
    doc = draw(_docs)
    places = _paths(doc)
    containers = [(p, v) for p, v in places if isinstance(v, (dict, list))]
    claimed: list[tuple[Any, ...]] = []  # deleted or replaced
    reached: list[tuple[Any, ...]] = []  # parents of inserts, and the claimed paths
    edits: list[Edit] = []
    plan: list[tuple[str, Any]] = []
    for _ in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            path, parent = draw(st.sampled_from(containers))
            if any(_related(c, path) and len(c) <= len(path) for c in claimed):
                continue
            anchors = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
            after = draw(st.sampled_from([None, *anchors]))
            key = None
            if isinstance(parent, dict):
                taken = set(parent) | {e.key for e in edits if isinstance(e, Insert) and e.parent == path}
                key = draw(_keys.filter(lambda k, taken=taken: k not in taken))  # type: ignore[misc]
            value = draw(_data)
            edits.append(Insert(path, after, key, from_data(value)))
            plan.append(("insert", (path, after, key, value)))
            reached.append(path)
            continue
        items = [(p, v) for p, v in places if p]
        if not items:
            continue
        path, _ = draw(st.sampled_from(items))
        if any(_related(r, path) for r in claimed + reached):
            continue
        claimed.append(path)
        if draw(st.booleans()):
            edits.append(Delete(path))
            plan.append(("delete", path))
        else:
            value = draw(_data)
            edits.append(Replace(path, from_data(value)))
            plan.append(("replace", (path, value)))
    return doc, edits, plan


def _expected(data: Any, plan: list[tuple[str, Any]], path: tuple[Any, ...] = ()) -> Any:
    if not isinstance(data, (dict, list)):
        return data
    gone = {p for op, p in plan if op == "delete"}
    new = {a[0]: a[1] for op, a in plan if op == "replace"}
    inserts = [a for op, a in plan if op == "insert" and a[0] == path]
    pairs = list(data.items()) if isinstance(data, dict) else list(enumerate(data))
    out: list[tuple[Any, Any]] = [(k, v) for p, after, k, v in inserts if after is None]
    for k, v in pairs:
        here = (*path, k)
        if here not in gone:
            out.append((k, new[here] if here in new else _expected(v, plan, here)))
        out += [(nk, nv) for p, after, nk, nv in inserts if after == k]
    return dict(out) if isinstance(data, dict) else [v for _, v in out]


def _canonical(data: Any) -> str:
    def norm(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list):
            return [norm(v) for v in x]
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return float(x)
        return x

    return json.dumps(norm(data), ensure_ascii=False)


@st.composite
def _jsonc(draw: st.DrawFn, text: str) -> str:
    """``text`` (laid out one item per line) with comment lines, end-of-line comments and
    trailing commas. Nothing is added inside a string: json.dumps escapes every line break."""
    out = []
    for line in text.split("\n"):
        indent = line[:len(line) - len(line.lstrip())]
        if line.strip() and draw(st.integers(0, 3)) == 0:
            out.append(indent + draw(st.sampled_from(["// above", "/* above */", "// a // b"])))
        if line.strip() and draw(st.integers(0, 3)) == 0:
            line += draw(st.sampled_from([" // after", " /* after */"]))
        out.append(line)
    text = "\n".join(out)
    if draw(st.booleans()):  # a trailing comma after every last item (JSONC: with a comment)
        text = "// header\n" + re.sub(r'([^\[{,\s])((?:[ \t]*//[^\n]*|[ \t]*/\*[^\n]*?\*/)?\n[ \t]*[}\]])', r"\1,\2", text)
    return text


def _check(text: str, edits: list[Edit], expected: Any) -> None:
    out = STORE.apply_edits(STORE.parse(text), edits)
    assert _canonical(json5.loads(out, parse_int=float)) == _canonical(expected)
    assert STORE.apply_edits(STORE.parse(text), []) == text  # no edit: byte-identical


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_edited(), _styles)
def test_property_random_edits_parse_back_to_the_expected_data(case: Any, style: dict[str, Any]) -> None:
    doc, edits, plan = case
    _check(json.dumps(doc, ensure_ascii=False, **style) + "\n", edits, _expected(doc, plan))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_edited(), st.sampled_from([2, 4, "\t"]), st.data())
def test_property_random_edits_of_jsonc(case: Any, indent: Any, data: st.DataObject) -> None:
    doc, edits, plan = case
    text = data.draw(_jsonc(json.dumps(doc, ensure_ascii=False, indent=indent) + "\n"))
    if STORE.parse(text).jsonc and data.draw(st.booleans()):  # comments above new items too
        edits = [Insert(e.parent, e.after, e.key, e.node, [" new"]) if isinstance(e, Insert) else e for e in edits]
    _check(text, edits, _expected(doc, plan))

"""Document edits on random documents (dotenv, INI, tfvars): random batches of Replace / Insert /
Delete give text that parses back to exactly the data the same edits give on plain data
(tests/support/edit_data.py), an empty batch changes nothing, and the edits a format cannot hold
are UsageErrors naming the path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.edit_data import apply_data, ordered

from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.errors import UsageError
from sopsy.model import Mapping, Scalar, Sequence, from_data, to_data
from sopsy.stores import get_store

PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_property(fmt: str, text: str, edits: list[Edit]) -> str:
    store = get_store(fmt)
    parsed = store.parse(text)
    assert store.apply_edits(parsed, []) == text  # type: ignore[attr-defined]
    out: str = store.apply_edits(store.parse(text), edits)  # type: ignore[attr-defined]
    expected = apply_data(to_data(parsed.documents[0]), edits)
    if fmt == "ini":
        expected = {"DEFAULT": expected["DEFAULT"], **{k: v for k, v in expected.items() if k != "DEFAULT"}}
    if fmt == "tfvars" and not out.strip():  # every attribute deleted: the store refuses an empty file
        assert expected == {}
        return out
    assert ordered(to_data(store.parse(out).documents[0])) == ordered(expected), out
    return out


@st.composite
def edit_batch(draw: st.DrawFn, keys: list[str], new_key: st.SearchStrategy[str],
               value: st.SearchStrategy[Any], parent: tuple[Any, ...] = (), taken: frozenset[str] = frozenset()) -> list[Edit]:
    """Edits of one mapping: each existing key replaced, deleted or left; some new keys inserted
    after existing keys or first."""
    edits: list[Edit] = []
    for k in keys:
        what = draw(st.sampled_from(["keep", "keep", "replace", "delete"]))
        if what == "replace":
            edits.append(Replace((*parent, k), from_data(draw(value))))
        elif what == "delete":
            edits.append(Delete((*parent, k)))
    used = set(keys) | taken
    for _ in range(draw(st.integers(0, 3))):
        k = draw(new_key.filter(lambda x: x not in used))
        used.add(k)
        after = draw(st.sampled_from([None, *keys]))
        comments = draw(st.sampled_from([[], [" new"]]))
        edits.append(Insert(parent, after, k, from_data(draw(value)), comments))
    return edits


# -- dotenv ---------------------------------------------------------------------------------------

_dkey = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=5)
_plain = st.text(st.characters(codec="utf-8", exclude_characters="\n\\\"'`", exclude_categories=("Cs",)),
                 max_size=12).filter(lambda v: not v.startswith((" ", "\t")))
_dvalue = st.one_of(
    _plain,
    st.builds(lambda a, b: a + "\n" + b, _plain, _plain),  # written with a \n escape
    st.builds(lambda a, b: f'"{a}\n{b}"', _plain, _plain),  # a quoted multi-line value
)


@st.composite
def _dotenv_case(draw: st.DrawFn) -> tuple[str, list[Edit]]:
    keys = draw(st.lists(_dkey, unique=True, max_size=6))
    export = draw(st.booleans())
    lines = []
    for k in keys:
        lines += draw(st.sampled_from([[], ["# about " + k], [""]]))
        v = draw(_dvalue)
        raw = v if v.startswith('"') else v.replace("\n", "\\n")  # sops's \n escape outside quotes
        lines.append(("export " if export else "") + k + "=" + raw)
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    names = [("export " if export else "") + k for k in keys]
    return text, draw(edit_batch(names, _dkey, _dvalue, taken=frozenset(keys)))


@PROPS
@given(_dotenv_case())
def test_property_dotenv_edits(case: tuple[str, list[Edit]]) -> None:
    text, edits = case
    check_property("dotenv", text, edits)


@pytest.mark.parametrize("edit,message", [
    (Replace(("A",), Mapping([("x", Scalar("1"))])), 'at ["A"]: dotenv values are flat'),
    (Insert((), "A", "N", Sequence([Scalar("1")])), 'at ["N"]: dotenv values are flat'),
    (Insert(("A",), None, "N", Scalar("1")), 'cannot insert at ["A"]["N"]'),
    (Replace(("MISSING",), Scalar("1")), 'the path ["MISSING"] does not exist'),
    (Delete(("A", "x")), 'the path ["A"]["x"] does not exist'),
    (Replace(("A",), Scalar("a\\nb")), "backslash followed by n"),
    (Replace(("A",), Scalar('"open')), "opens a quote it does not close"),
    (Insert((), None, "A", Scalar("1")), 'the key ["A"] is already in the file'),
    (Insert((), None, "B=C", Scalar("1")), 'the key ["B=C"] cannot be written'),
])
def test_dotenv_edits_it_cannot_hold(edit: Edit, message: str) -> None:
    store = get_store("dotenv")
    with pytest.raises(UsageError) as e:
        store.apply_edits(store.parse("A=1\nZ=\"x\"\n"), [edit])  # type: ignore[attr-defined]
    assert message in str(e.value)


def test_dotenv_edits_refuse_an_encrypted_file() -> None:
    store = get_store("dotenv")
    with pytest.raises(UsageError):
        store.apply_edits(store.parse("A=ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops_version=3\n"),  # type: ignore[attr-defined]
                          [Delete(("A",))])


# -- INI ------------------------------------------------------------------------------------------

_iname = st.text("abcdefghij", min_size=1, max_size=4)
_ivalue = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=10).filter(lambda v: '"""' not in v)


@st.composite
def _ini_case(draw: st.DrawFn) -> tuple[str, list[Edit]]:
    names = draw(st.lists(_iname, unique=True, max_size=4))
    delim = draw(st.sampled_from([" = ", "=", ": "]))
    blocks: list[str] = []
    layout: dict[str, list[str]] = {}
    for name in ["DEFAULT", *names]:
        keys = draw(st.lists(_iname, unique=True, max_size=4)) if name != "DEFAULT" or draw(st.booleans()) else []
        layout[name] = keys
        width = max((len(k) for k in keys), default=0) if draw(st.booleans()) else 0
        lines = [] if name == "DEFAULT" else draw(st.sampled_from([[], ["; about " + name]])) + [f"[{name}]"]
        for k in keys:
            lines += draw(st.sampled_from([[], ["# note"]]))
            lines.append(k.ljust(width) + delim + draw(st.text("abc xyz0", max_size=6)).strip())
        if lines:
            blocks.append("\n".join(lines) + "\n")
    text = draw(st.sampled_from(["\n", ""])).join(blocks)
    edits: list[Edit] = []
    for name, keys in layout.items():
        if name != "DEFAULT" and draw(st.integers(0, 4)) == 0:
            edits.append(Delete((name,)))
        else:
            edits += draw(edit_batch(keys, _iname, _ivalue, parent=(name,)))
    for _ in range(draw(st.integers(0, 2))):
        new = draw(_iname.filter(lambda n: n not in layout and n != "sops"))
        layout[new] = []
        after = draw(st.sampled_from([None, *names]))
        value = draw(st.dictionaries(_iname, _ivalue, max_size=3))
        edits.append(Insert((), after, new, from_data(value), draw(st.sampled_from([[], ["a new section"]]))))
    return text, edits


@PROPS
@given(_ini_case())
def test_property_ini_edits(case: tuple[str, list[Edit]]) -> None:
    text, edits = case
    check_property("ini", text, edits)


@pytest.mark.parametrize("edit,message", [
    (Replace(("s", "k"), Mapping([("x", Scalar("1"))])), 'at ["s"]["k"]: INI values are flat'),
    (Insert(("s",), "k", "n", Sequence([Scalar("1")])), 'at ["s"]["n"]: INI values are flat'),
    (Insert(("s", "k"), None, "n", Scalar("1")), 'cannot insert at ["s"]["k"]["n"]'),
    (Insert((), None, "t", Scalar("1")), "the top level of an INI file holds sections"),
    (Insert((), None, "s", Mapping()), 'the section ["s"] is already in the file'),
    (Insert((), None, "sops", Mapping()), 'the section ["sops"] is already in the file or reserved'),
    (Insert(("s",), None, "k", Scalar("1")), 'the key ["s"]["k"] is already in the file'),
    (Replace(("s", "missing"), Scalar("1")), 'the path ["s"]["missing"] does not exist'),
    (Delete(("nosuch",)), 'the path ["nosuch"] does not exist'),
    (Replace(("s", "k"), Scalar('a\nb"""c\nd`e\nf')), 'the value at ["s"]["k"] cannot be written'),
])
def test_ini_edits_it_cannot_hold(edit: Edit, message: str) -> None:
    store = get_store("ini")
    with pytest.raises(UsageError) as e:
        store.apply_edits(store.parse("[s]\nk = v\n"), [edit])  # type: ignore[attr-defined]
    assert message in str(e.value)


# -- tfvars ---------------------------------------------------------------------------------------

_tkey = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda k: k not in ("sops", "true", "false", "null", "for", "in", "if"))
_tscalar = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8).filter(
    lambda s: "${" not in s and "%{" not in s), st.integers(-10**6, 10**6), st.booleans(), st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32))
_tvalue = st.recursive(_tscalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_tkey, inner, max_size=3)), max_leaves=6)


def _hcl_string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


@st.composite
def _hcl(draw: st.DrawFn, v: Any, indent: str) -> str:
    """HCL source for ``v``, in one of the layouts people write (built apart from the store)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return _hcl_string(v)
    inner = indent + "  "
    scalars = all(not isinstance(x, dict | list) for x in (v.values() if isinstance(v, dict) else v))
    if isinstance(v, list):
        items = [draw(_hcl(x, inner)) for x in v]
        if scalars and draw(st.booleans()):
            return "[" + ", ".join(items) + "]"
        trail = draw(st.sampled_from(["", ","])) if items else ""
        return "[\n" + ",\n".join(inner + x for x in items) + trail + "\n" + indent + "]"
    items = [(k, draw(_hcl(x, inner))) for k, x in v.items()]
    if scalars and items and draw(st.booleans()):
        return "{ " + ", ".join(f"{k} = {x}" for k, x in items) + " }"
    width = max((len(k) for k, _ in items), default=0) if draw(st.booleans()) else 0
    lines = [f"{inner}{k.ljust(width) if chr(10) not in x else k} = {x}" for k, x in items]
    return "{\n" + "".join(line + "\n" for line in lines) + indent + "}"


def _containers(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(path, data)] if isinstance(data, dict | list) else []
    for k, v in (data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()):
        out += _containers(v, (*path, k))
    return out


@st.composite
def _tfvars_case(draw: st.DrawFn) -> tuple[str, list[Edit]]:
    data = draw(st.dictionaries(_tkey, _tvalue, min_size=1, max_size=5))
    width = max(len(k) for k in data) if draw(st.booleans()) else 0
    lines = []
    for k, v in data.items():
        src = draw(_hcl(v, ""))
        lines += draw(st.sampled_from([[], ["# about " + k], [""]]))
        lines.append(f"{k.ljust(width) if chr(10) not in src else k} = {src}" + draw(st.sampled_from(["", " # tail"])))
    text = "\n".join(lines) + "\n"
    path, target = draw(st.sampled_from(_containers(data)))
    if isinstance(target, dict):
        return text, draw(edit_batch(list(target), _tkey, _tvalue, parent=path))
    edits: list[Edit] = []
    for i in range(len(target)):
        what = draw(st.sampled_from(["keep", "keep", "replace", "delete"]))
        if what == "replace":
            edits.append(Replace((*path, i), from_data(draw(_tvalue))))
        elif what == "delete":
            edits.append(Delete((*path, i)))
    for _ in range(draw(st.integers(0, 3))):
        after = draw(st.sampled_from([None, *range(len(target))]))
        edits.append(Insert(path, after, None, from_data(draw(_tvalue)), draw(st.sampled_from([[], [" new"]]))))
    return text, edits


@PROPS
@given(_tfvars_case())
def test_property_tfvars_edits(case: tuple[str, list[Edit]]) -> None:
    text, edits = case
    check_property("tfvars", text, edits)


@pytest.mark.parametrize("edit,message", [
    (Insert((), None, "sops", Scalar(1)), 'the key ["sops"] cannot be a tfvars attribute name'),
    (Insert((), None, "a b", Scalar(1)), 'the key ["a b"] cannot be a tfvars attribute name'),
    (Insert((), None, "a", Scalar(1)), 'the key ["a"] is already in the file'),
    (Insert(("a",), None, "k", Scalar(1)), "cannot insert into"),
    (Insert(("l",), None, "k", Scalar(1)), 'cannot insert the key ["l"]["k"] into a list'),
    (Replace(("a",), Scalar(float("nan"))), 'cannot write the value at ["a"]'),
    (Replace(("l", 5), Scalar(1)), 'the path ["l"][5] does not exist'),
    (Delete(()), "not the whole file"),
    (Insert(("o",), None, "${x}", Scalar(1)), "cannot be written as an HCL object key"),
])
def test_tfvars_edits_it_cannot_hold(edit: Edit, message: str) -> None:
    store = get_store("tfvars")
    with pytest.raises(UsageError) as e:
        store.apply_edits(store.parse('a = 1\nl = [1]\no = {}\n'), [edit])  # type: ignore[attr-defined]
    assert message in str(e.value)

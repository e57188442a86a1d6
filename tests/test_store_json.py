"""The JSON store (sopsy/stores/json.py): byte-exact round trips, agreement with the real sops
binary in both directions, JSONC, layout of the metadata, errors, and property-based tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS as SHARED_CORPUS
from conftest import VECTORS, sops_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.errors import InputError, NoDocument, SopsyError
from sopsy.keys import KeySpec
from sopsy.model import Mapping, from_data
from sopsy.stores.json import STORE, go_number, go_quote

REPO = Path(__file__).resolve().parent.parent
SOPS = Path(sops_binary())  # the real sops from sops-binary, found next to this Python
CORPUS = SHARED_CORPUS / "json"
# Both throwaway test identities (copied from the sops vectors; they protect nothing).
KEYS = REPO / "testdata" / "throwaway_age_keys_both.txt"
A1 = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", A1)]])
JSONC = {"microsoft__TypeScript-Node-Starter__.vscode_launch.json"}  # has // comments
NOT_AN_OBJECT = {"miloyip__nativejson-benchmark__data_jsonchecker_pass01.json"}  # top-level array




def read(path: Path) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def roundtrip(text: str) -> tuple[str, str]:
    enc = core.encrypt_text(STORE, text, OPTS)
    return enc, core.decrypt_text(STORE, enc).plaintext()


def sops(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(KEYS), SOPS_DISABLE_VERSION_CHECK="1")
    return subprocess.run([str(SOPS), *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)


def sops_data(text: str) -> Any:
    """JSON data typed as sops types it: every number a double; duplicates and order kept."""
    return json.loads(text, parse_int=float, object_pairs_hook=list)


def sops_decrypt(enc: str, tmp_path: Path) -> str:
    path = tmp_path / "in.enc.json"
    path.write_text(enc)
    proc = sops("decrypt", "--input-type", "json", "--output-type", "json", str(path))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.is_dir() else []
HOLDABLE = [n for n in CORPUS_FILES if n not in NOT_AN_OBJECT]


# -- corpus -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOLDABLE)
def test_corpus_roundtrip_byte_exact_and_sops_reads_it(name: str, tmp_path: Path) -> None:
    text = read(CORPUS / name)
    enc, dec = roundtrip(text)
    assert dec == text
    assert '"sops"' in enc and "ENC[AES256_GCM," in enc
    if name in JSONC:
        # comments stay in the encrypted file, so the real sops (strict JSON) refuses it
        assert "// Use IntelliSense" in enc
        proc = sops("decrypt", "--input-type", "json", "--output-type", "json", str(_write(tmp_path, enc)))
        assert proc.returncode != 0
        return
    assert sops_data(sops_decrypt(enc, tmp_path)) == sops_data(text)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "f.json"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", sorted(NOT_AN_OBJECT & set(CORPUS_FILES)))
def test_corpus_file_that_is_not_an_object_is_refused_in_one_line(name: str) -> None:
    with pytest.raises(InputError) as err:
        STORE.parse(read(CORPUS / name))
    msg = str(err.value)
    assert "\n" not in msg and "top level" in msg and "array" in msg


def _variants(text: str) -> dict[str, str]:
    """Whitespace-only rewrites of a file (leading blanks of a line are never inside a string)."""
    lines = text.split("\n")
    widths = {len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.startswith(" ")}
    unit = min(widths) if widths else 2

    def reindent(ln: str, new: str) -> str:
        n = len(ln) - len(ln.lstrip(" "))
        return new * (n // unit) + " " * (n % unit) + ln[n:]

    tabs = "\n".join(reindent(ln, "\t") for ln in lines)
    return {
        "crlf": text.replace("\n", "\r\n"),
        "no-final-newline": text.rstrip("\n"),
        "tabs": tabs,
        "two-spaces": "\n".join(reindent(ln, "  ") for ln in lines),
        "mixed": "\n".join(reindent(ln, "\t" if i % 2 else "    ") for i, ln in enumerate(lines)),
        "blank-lines": text.replace(",\n", ",\n\n", 3),
        "crlf-tabs-no-newline": tabs.rstrip("\n").replace("\n", "\r\n"),
    }


@pytest.mark.parametrize("name", [n for n in HOLDABLE if n not in JSONC])
def test_corpus_layout_variants_roundtrip(name: str, tmp_path: Path) -> None:
    text = read(CORPUS / name)
    for label, variant in _variants(text).items():
        enc, dec = roundtrip(variant)
        assert dec == variant, label
        if label == "crlf":
            assert "\r\n" in enc and re.search(r"[^\r]\n", enc) is None  # metadata uses CRLF too
    # and sops reads one of them (CRLF + tabs + no final newline)
    variant = _variants(text)["crlf-tabs-no-newline"]
    enc, _ = roundtrip(variant)
    assert sops_data(sops_decrypt(enc, tmp_path)) == sops_data(text)


@pytest.mark.parametrize("name", [n for n in HOLDABLE if n not in JSONC])
def test_sops_made_corpus_files_decrypt_like_sops(name: str, tmp_path: Path) -> None:
    """Files the real sops encrypted decrypt with sopsy to exactly the text sops writes."""
    proc = sops("encrypt", "--age", A1, "--input-type", "json", "--output-type", "json",
                str(CORPUS / name))
    assert proc.returncode == 0, proc.stderr
    ours = core.decrypt_text(STORE, proc.stdout).plaintext()
    theirs = sops_decrypt(proc.stdout, tmp_path)
    if ours != theirs:  # only number spelling may differ (ours: the decrypted plaintext)
        assert sops_data(ours) == sops_data(theirs)
        assert re.sub(r"[0-9.eE+-]+", "N", ours) == re.sub(r"[0-9.eE+-]+", "N", theirs)


# -- sops vectors -------------------------------------------------------------------------------


def test_vector_enc_json_decrypts_to_sops_output_byte_exact() -> None:
    opened = core.decrypt_text(STORE, read(VECTORS / "enc.json"))
    assert opened.plaintext() == read(VECTORS / "dec.json")


def test_vector_shamir_json_decrypts() -> None:
    opened = core.decrypt_text(STORE, read(VECTORS / "shamir" / "shamir.enc.json"))
    assert sops_data(opened.plaintext()) == sops_data(read(VECTORS / "shamir" / "shamir.plain.json"))
    # re-encrypting keeps two groups; an empty hc_vault in a group is JSON null, as sops writes it
    again = core.reencrypt(opened, opened.plaintext())
    meta = json.loads(again)["sops"]
    assert meta["shamir_threshold"] == 2 and len(meta["key_groups"]) == 2
    assert meta["key_groups"][0]["hc_vault"] is None
    assert core.decrypt_text(STORE, again).plaintext() == opened.plaintext()


def test_vector_plain_json_encrypts_like_sops(tmp_path: Path) -> None:
    text = read(VECTORS / "plain.json")
    enc, dec = roundtrip(text)
    assert dec == text
    ours = json.loads(enc)
    theirs = json.loads(read(VECTORS / "enc.json"))
    types = re.compile(r"type:(\w+)\]")

    def shape(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: shape(x) for k, x in v.items() if k != "sops"}
        if isinstance(v, list):
            return [shape(x) for x in v]
        if isinstance(v, str) and v.startswith("ENC["):
            return types.search(v).group(1)  # type: ignore[union-attr]
        return v

    assert shape(ours) == shape(theirs)  # same leaves encrypted, same type tags
    assert list(ours)[-1] == "sops"
    # same metadata field order (for the fields both have: the crypt rule is the core's business)
    assert [k for k in ours["sops"] if k in theirs["sops"]] == [k for k in theirs["sops"] if k in ours["sops"]]
    assert {"age", "lastmodified", "mac", "version"} <= set(ours["sops"])
    assert sops_data(sops_decrypt(enc, tmp_path)) == sops_data(read(VECTORS / "dec.json"))


# -- numbers, strings, keys ---------------------------------------------------------------------


def test_numbers_keep_their_spelling_and_sops_still_reads_them(tmp_path: Path) -> None:
    text = '{"big": 12345678901234567890, "neg": -0, "e": 1E+2, "f": 1.0, "tiny": 0.1e-9, "n": [9007199254740993]}\n'
    enc, dec = roundtrip(text)
    assert dec == text
    assert "type:float" in enc and "type:int" not in enc
    theirs = json.loads(sops_decrypt(enc, tmp_path))
    assert float(theirs["big"]) == 12345678901234567890.0 and theirs["n"] == [9007199254740992]


def test_escapes_and_html_characters_come_back_as_written() -> None:
    text = '{"a": "caf\\u00e9 \\/ <b>&amp;</b>", "b": "\\ud83d\\ude00 \\t", "c": "<", "\\u006b": "v"}'
    enc, dec = roundtrip(text)
    assert dec == text
    assert '"\\u006b": "ENC[' in enc  # keys are never rewritten


def test_sops_written_strings_come_back_in_go_escaping(tmp_path: Path) -> None:
    path = _write(tmp_path, '{"s": "<&> caf\\u00e9 \\u2028 \\u0001"}')
    proc = sops("encrypt", "--age", A1, str(path))
    assert proc.returncode == 0, proc.stderr
    ours = core.decrypt_text(STORE, proc.stdout).plaintext()
    assert ours == sops_decrypt(proc.stdout, tmp_path)


def test_duplicate_keys_are_kept(tmp_path: Path) -> None:
    text = '{"a": "x", "a": "y", "b": {"c": 1, "c": 2}}'
    enc, dec = roundtrip(text)
    assert dec == text
    assert len(STORE.parse(text).documents[0].items) == 3


def test_unencrypted_suffix_and_empty_and_null_stay_plain() -> None:
    text = '{"k_unencrypted": "open", "e": "", "n": null, "x": "secret"}'
    enc, _ = roundtrip(text)
    assert '"k_unencrypted": "open"' in enc and '"e": ""' in enc and '"n": null' in enc
    assert "secret" not in enc


def test_go_number_and_quote_follow_go() -> None:
    assert [go_number(v) for v in (1e21, 1e20, 1e-7, 1e-6, -0.0, 1.5, 3.0)] == [
        "1e+21", "100000000000000000000", "1e-7", "0.000001", "-0", "1.5", "3"]
    assert go_quote("<&>\u2028\x01\b\n\"\\/é") == '"\\u003c\\u0026\\u003e\\u2028\\u0001\\b\\n\\"\\\\/é"'


def test_emit_matches_what_sops_writes(tmp_path: Path) -> None:
    text = '{"a": 1e21, "b": 1e-7, "c": [1, "<x>", {"d": true, "e": null}], "f": {}, "g": [], "h": 2.50}'
    proc = sops("encrypt", "--age", A1, str(_write(tmp_path, text)))
    assert proc.returncode == 0, proc.stderr
    theirs = sops_decrypt(proc.stdout, tmp_path)
    # a tree from another format carries no spellings: numbers are written the Go way
    doc = from_data(json.loads(text, parse_int=float))
    assert isinstance(doc, Mapping)
    assert STORE.emit([doc]) == theirs
    assert STORE.emit([Mapping()]) == "{}\n"
    assert STORE.emit_value(from_data([1.5, "x"])) == '[\n\t1.5,\n\t"x"\n]'


# -- metadata placement and removal -------------------------------------------------------------

EDGE_CASES = [
    "{}", "{}\n", "{ }", "{\n}\n", "{\r\n}\r\n", '{"a":1}', '{"a": 1, "b": [1,2]}\n',
    '{\r\n  "a": "x",\r\n  "b": {\r\n    "c": true\r\n  }\r\n}\r\n',
    '{\n"a": 1,\n"b": {\n"c": 2\n}\n}\n', '\ufeff{"a":"b"}\n', '  \n{"a": {"b": []}}  \n\n',
    '{\n\t"a": 1,\n\n\t"b": [\n\n\t]\n}',
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_layouts_roundtrip(text: str) -> None:
    enc, dec = roundtrip(text)
    assert dec == text
    assert list(json.loads(enc.lstrip("\ufeff")))[-1] == "sops"


def test_metadata_follows_the_file_indentation() -> None:
    enc, _ = roundtrip('{\n    "a": "x",\n    "b": 1\n}\n')
    assert '\n    "sops": {\n        "age": [\n            {\n' in enc
    assert re.search(r'\n        "version": "3.11.0",\n        "sopsy_datakey_created": "[0-9TZ:-]+"\n    }\n}\n$', enc)
    enc, _ = roundtrip('{"a":"x","b":1}')
    assert ',"sops":{"age":[{"recipient":' in enc and "\n" not in enc.replace("\\n", "")
    enc, _ = roundtrip('{"a": "x", "b": 1}')
    assert ', "sops": {"age": [{"recipient": ' in enc


def test_empty_object_gets_sops_layout(tmp_path: Path) -> None:
    enc, dec = roundtrip("{}")
    assert dec == "{}"
    assert enc.startswith('{\n\t"sops": {\n\t\t"age": [')
    assert sops_decrypt(enc, tmp_path) == "{}\n"


# -- JSONC --------------------------------------------------------------------------------------

JSONC_TEXT = """{
  // a comment with "quotes", commas, and a fake "sops": {}
  "a": "one", // trailing
  /* block, with a comma */ "b": [1, 2, /* inner */ 3,],
  "c": {"d": "e",},
  "last": true, /* after the last */
}
"""


def test_jsonc_comments_and_trailing_commas_survive() -> None:
    enc, dec = roundtrip(JSONC_TEXT)
    assert dec == JSONC_TEXT
    assert "// a comment with" in enc and "/* inner */" in enc and '"one"' not in enc
    for text in ['{"a": 1 // c\n}', '{"a": 1 /* c */}', '{"a": 1, // c\n}', '{"a": 1\n,\n}', '{// only\n}']:
        assert roundtrip(text)[1] == text


def test_jsonc_comments_are_not_data() -> None:
    parsed = STORE.parse(JSONC_TEXT)
    assert parsed.documents[0].keys() == ["a", "b", "c", "last"]
    assert parsed.metadata is None


# -- comments that sops stored in arrays --------------------------------------------------------


def test_sops_type_comment_elements_are_dropped_like_sops_does(tmp_path: Path) -> None:
    yml = tmp_path / "c.yaml"
    yml.write_text("a:\n  - x\n  # hello\n  - y\n  # end\nb:\n  # only\n  - z\nc:\n  # alone\n  []\n"
                   "d:\n  # one\n  # two\n  - 1\n")
    proc = sops("encrypt", "--age", A1, "--input-type", "yaml", "--output-type", "json", str(yml))
    assert proc.returncode == 0, proc.stderr
    assert "type:comment" in proc.stdout
    ours = core.decrypt_text(STORE, proc.stdout).plaintext()
    assert ours == sops_decrypt(proc.stdout, tmp_path)


# -- errors -------------------------------------------------------------------------------------

BAD = ['{', '{"a":1}x', '{"a":01}', '{"a":1e999}', '{"a":"\x01"}', '{"a":[,]}', '{"a" 1}', "{'a':1}",
       '{"a":1,,}', '{"a":"x\\q"}', '[1]', '"x"', "null", '{"sops": 1}', '{"a": tru}', '{/* open']


@pytest.mark.parametrize("text", BAD)
def test_bad_input_is_a_one_line_input_error(text: str) -> None:
    with pytest.raises(InputError) as err:
        STORE.parse(text)
    assert "\n" not in str(err.value)


def test_errors_never_show_values() -> None:
    with pytest.raises(InputError) as err:
        STORE.parse('{"password": "hunter2" "x": 1}')
    assert "hunter2" not in str(err.value) and "line 1" in str(err.value)


@pytest.mark.parametrize("text", ["", "  \n", "// nothing\n"])
def test_empty_input_is_no_document(text: str) -> None:
    with pytest.raises(NoDocument):
        STORE.parse(text)


def test_already_encrypted_file_is_refused() -> None:
    enc, _ = roundtrip('{"a": "b"}')
    with pytest.raises(SopsyError):
        core.encrypt_text(STORE, enc, OPTS)


# -- speed --------------------------------------------------------------------------------------


def test_ten_thousand_values_round_trip() -> None:
    doc = {f"k{i}": {"s": f"value {i}", "n": i * 1.5, "b": i % 2 == 0, "l": [i, f"x{i}"]} for i in range(2000)}
    text = json.dumps(doc, indent=2)  # 10,000 leaves
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        enc = core.encrypt_text(STORE, text, OPTS)
        best = min(best, time.perf_counter() - t)
    print(f"parse+encrypt+render of 10,000 values: {best * 1000:.0f} ms")
    assert core.decrypt_text(STORE, enc).plaintext() == text


# -- properties ---------------------------------------------------------------------------------

_keys = st.text(st.characters(codec="utf-8"), max_size=8)
_scalars = st.one_of(
    st.none(), st.booleans(), st.text(st.characters(codec="utf-8"), max_size=12),
    st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
)
_values = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=4),
                                                     st.dictionaries(_keys, c, max_size=4)), max_leaves=12)
_docs = st.dictionaries(_keys.filter(lambda k: k != "sops"), _values, max_size=6)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    doc = draw(_docs)
    indent = draw(st.sampled_from([None, 0, 2, 4, "\t", " \t"]))
    ascii_only = draw(st.booleans())
    seps = draw(st.sampled_from([(",", ":"), (", ", ": "), (",", " : ")]))
    text = json.dumps(doc, indent=indent, ensure_ascii=ascii_only, separators=seps)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text + draw(st.sampled_from(["", "\n", "\r\n", "  \n\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_texts())
def test_property_roundtrip_byte_exact(text: str) -> None:
    enc, dec = roundtrip(text)
    assert dec == text


_SAMPLE_ENC: dict[str, str] = {}


SAMPLE = '{\n  "user": "alice",\n  "n": [1, 2.5, true],\n  "m": {"k": "v"},\n  "z_unencrypted": "p"\n}\n'


def _sample_encrypted() -> str:
    if "enc" not in _SAMPLE_ENC:
        _SAMPLE_ENC["enc"] = core.encrypt_text(STORE, SAMPLE, OPTS)
    return _SAMPLE_ENC["enc"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_damaged_files_are_refused_with_sopsy_errors(data: st.DataObject) -> None:
    enc = _sample_encrypted()
    how = data.draw(st.sampled_from(["truncate", "replace", "delete"]))
    pos = data.draw(st.integers(0, len(enc) - 1))
    if how == "truncate":
        damaged = enc[:pos]
    elif how == "delete":
        damaged = enc[:pos] + enc[pos + 1:]
    else:
        damaged = enc[:pos] + data.draw(st.sampled_from(list('"{}[],:0aZ/+= \n\\'))) + enc[pos + 1:]
    try:
        plain = core.decrypt_text(STORE, damaged).plaintext()
    except SopsyError:
        return
    # A change that did not break the file cannot change any value. (Keys are not under the MAC in
    # the sops format: renaming the key of an *unencrypted* value is undetectable by design, while
    # an encrypted value's key is bound to it through the AAD.)
    def values(d: object) -> list[object]:
        # sops_data gives objects as lists of (key, value) pairs
        if isinstance(d, tuple):
            return values(d[1])
        if isinstance(d, list):
            return [v for x in d for v in values(x)]
        return [d]

    assert values(sops_data(plain)) == values(sops_data(SAMPLE))

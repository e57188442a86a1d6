"""The INI store: go-ini value rules, byte-exact round trips, the [sops] section in any order,
agreement with the real sops binary in both directions, robustness."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import subprocess
from pathlib import Path

import pytest
from conftest import VECTORS, sops_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.errors import SopsyError
from sopsy.keys import KeySpec
from sopsy.model import to_data
from sopsy.stores.ini import STORE

REPO = Path(__file__).resolve().parent.parent
SOPS = Path(sops_binary())  # the real sops from sops-binary, found next to this Python
KEY = REPO / "testdata" / "throwaway_age_key.txt"  # throwaway test key
A1 = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", A1)]])

SAMPLE = """; top comment
top = 1
[section1]
key1 = value1
; a comment
key2 = 42 ; inline
quoted = "  spaced  "
sq = 'single'
bt = `has;semi`
colon: value
multi = \"\"\"line1
line2\"\"\"
cont = abc\\
  def
empty =
  indented = yes
key_unencrypted = visible

[section2]
# hash comment
foo = bar
"""




def sops(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(KEY), SOPS_DISABLE_VERSION_CHECK="1")
    return subprocess.run([str(SOPS), *args], capture_output=True, env=env, timeout=60)


def sops_json(text: str, tmp_path: Path, name: str = "x.ini") -> object:
    f = tmp_path / name
    f.write_text(text)
    r = sops("decrypt", "--output-type", "json", str(f))
    assert r.returncode == 0, r.stderr.decode()[-400:]
    return json.loads(r.stdout)


def roundtrip(text: str) -> tuple[str, str]:
    enc = core.encrypt_text(STORE, text, OPTS)
    return enc, core.decrypt_text(STORE, enc).plaintext()


@pytest.mark.parametrize("text", [SAMPLE, (VECTORS / "plain.ini").read_text(), "[a]\nx = 1", "", "\n\n",
                                  "k = v\r\n[s]\r\nk2 = v2\r\n", "[a]\nx=1\n\n\n"])
def test_round_trip_byte_exact(text: str) -> None:
    assert roundtrip(text)[1] == text


def test_sops_reads_sopsy_files_like_its_own(tmp_path: Path) -> None:
    enc = core.encrypt_text(STORE, SAMPLE, OPTS)
    ours = sops_json(enc, tmp_path)  # MAC checked by sops
    plain = tmp_path / "orig.ini"
    plain.write_text(SAMPLE)
    r = sops("encrypt", "--age", A1, str(plain))
    assert r.returncode == 0, r.stderr.decode()[-300:]
    assert ours == sops_json(r.stdout.decode(), tmp_path, "theirs.ini")
    assert "visible" in enc and "value1" not in enc


def test_values_follow_go_ini(tmp_path: Path) -> None:
    # expected by hand from go-ini's rules (reference §7.4)
    data = to_data(STORE.parse(SAMPLE).documents[0])
    assert data == {
        "DEFAULT": {"top": "1"},
        "section1": {"key1": "value1", "key2": "42", "quoted": "  spaced  ", "sq": "single", "bt": "has;semi",
                     "colon": "value", "multi": "line1\nline2", "cont": "abcdef", "empty": "", "indented": "yes",
                     "key_unencrypted": "visible"},
        "section2": {"foo": "bar"},
    }


def test_vector_decrypts_to_sops_output(tmp_path: Path) -> None:
    enc = (VECTORS / "enc.ini").read_text()
    opened = core.decrypt_text(STORE, enc)
    assert opened.plaintext() == (VECTORS / "dec.ini").read_text()  # its '; ENC[...]' comment included
    assert to_data(opened.parsed.documents[0]) == sops_json(enc, tmp_path)


def test_sops_section_in_any_order() -> None:
    enc = (VECTORS / "enc.ini").read_text()
    head, meta = enc.split("[sops]\n")
    lines = meta.rstrip("\n").split("\n")
    for seed in range(3):
        random.Random(seed).shuffle(lines)
        shuffled = head + "[sops]\n" + "\n".join(lines) + "\n"
        assert core.decrypt_text(STORE, shuffled).plaintext() == (VECTORS / "dec.ini").read_text()


def test_sops_made_file_with_quoting(tmp_path: Path) -> None:
    plain = tmp_path / "q.ini"
    plain.write_text("[s]\na = `x;y`\nb = \"  sp  \"\n")
    r = sops("encrypt", "--age", A1, str(plain))
    assert r.returncode == 0
    out = core.decrypt_text(STORE, r.stdout.decode()).plaintext()
    assert to_data(STORE.parse(out).documents[0]) == {"DEFAULT": {}, "s": {"a": "x;y", "b": "  sp  "}}


_name = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6)
_val = st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="\\`\"'"), max_size=15)
_line = st.one_of(
    # a ';' or '#' glued to a value is refused (test_store_no_plaintext): a blank before it here
    st.builds(lambda k, v: f"{k} = {v}", _name, _val.map(lambda v: re.sub(r"(?<=\S)([#;])", r" \1", v))),
    st.builds(lambda k, v: f'{k}="{v}"', _name, _val.filter(lambda v: ";" not in v and "#" not in v)),
    st.builds(lambda t: "; " + t, _val),
    st.builds(lambda n: f"[{n}]", _name.filter(lambda n: n != "sops")),
    st.just(""),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line, max_size=10), st.sampled_from(["", "\n"]))
def test_property_round_trip(lines: list[str], eol: str) -> None:
    # a key repeated within one section is refused (see below): keep the first of each
    seen: set[tuple[int, str]] = set()
    section = 0
    kept = []
    for line in lines:
        if line.startswith("["):
            section += 1
        elif "=" in line:
            key = (section, line.split("=", 1)[0].strip())
            if key in seen:
                continue
            seen.add(key)
        kept.append(line)
    text = "\n".join(kept) + eol
    assert roundtrip(text)[1] == text


_ENC = core.encrypt_text(STORE, SAMPLE, OPTS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_ENC) - 1), st.sampled_from(["", "x", "=", "\n", "[", "]", ";", "`", '"""']), st.booleans())
def test_property_damaged_input_only_sopsy_errors(pos: int, repl: str, truncate: bool) -> None:
    damaged = _ENC[:pos] if truncate else _ENC[:pos] + repl + _ENC[pos + 1:]
    with contextlib.suppress(SopsyError):
        core.decrypt_text(STORE, damaged).plaintext()


def test_repeated_key_in_a_section_is_refused() -> None:
    """go-ini keeps only the last of a repeated key, so sops would read other data (and reject
    the MAC): such a file gets a one-line error instead of an encryption sops misreads."""
    from sopsy.errors import InputError

    with pytest.raises(InputError) as err:
        STORE.parse("--module=a\n--module=b\n[s]\nk=1\n")
    msg = str(err.value)
    assert "'--module'" in msg and "lines 1 and 2" in msg and "\n" not in msg
    STORE.parse("[a]\nk=1\n[b]\nk=2\n")  # the same key in two sections is fine


@pytest.mark.parametrize("text", ['[x]\nb="""m\nn"""%', '[x]\nb=`m`  junk\r\n', '[x]\nb="""mn"""%\n'])
def test_text_after_a_closing_quote_survives(text: str) -> None:
    """go-ini ignores what follows a closing backtick or triple quote; sopsy keeps its bytes
    (found by fuzzing: it used to be dropped on decrypt)."""
    assert roundtrip(text)[1] == text


def test_a_yaml_file_read_as_ini_gets_an_error_that_is_not_about_encryption(tmp_path: Path) -> None:
    """Decrypting is not encrypting: a YAML file given --input-type ini is refused for what it is
    (here a repeated key), without a word about encryption."""
    from conftest import run_sopsy

    f = tmp_path / "values.yaml"
    f.write_text("a:\n  enabled: true\nb:\n  enabled: false\n")
    r = run_sopsy("decrypt", "--input-type", "ini", str(f))
    err = r.stderr.decode()
    assert r.returncode == 2 and "encrypt" not in err and "'enabled'" in err and "lines 2 and 4" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("yaml_text,where", [("a: 1\n", "top-level key 'a' is not a section"),
                                             ("s:\n  k: [1, 2]\n", "s.k is a nested list"),
                                             ("s:\n  k: {x: 1}\n", "s.k is a nested mapping")])
def test_conversion_to_ini_names_the_value_it_cannot_hold(yaml_text: str, where: str, tmp_path: Path) -> None:
    from conftest import RECIPIENT, run_sopsy

    f = tmp_path / "v.yaml"
    f.write_text(yaml_text)
    r = run_sopsy("encrypt", "--age", RECIPIENT, "--output-type", "ini", str(f))
    err = r.stderr.decode()
    assert r.returncode == 4 and where in err and "Tree" not in err, err

"""YAML hardening (issue 8): metadata-only changes keep every other byte, sops's output for
values sopsy did not lay out, hostile input (alias bombs, deep nesting, huge integers), clear
messages, and no value's text in the encrypted output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEYS_BOTH, CORPUS, RECIPIENT, RECIPIENT2, VECTORS, need_shared, run_sops, run_sopsy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import commands, core
from sopsy.errors import SopsyError
from sopsy.keys import KeySpec
from sopsy.stores import get_store

STORE = get_store("yaml")
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
UNHOLDABLE = {"nodeca__js-yaml__test_samples-common_construct-merge.yml",
              "nodeca__js-yaml__test_samples-common_construct-null.yml"}
SOPS_MADE_KEYS = {"Mic92__sops-nix": "Mic92__sops-nix__pkgs_sops-install-secrets_test-assets_age-keys.txt",
                  "denis256__terragrunt-tests": "denis256__terragrunt-tests__issue-2103_keys.txt",
                  "jkroepke__helm-secrets": "jkroepke__helm-secrets__tests_assets_age_key.txt",
                  # sops 3.9.0 with stores.yaml.indent 2: sops prints it at 4, so must sopsy
                  "fluxcd__kustomize-controller": "fluxcd__kustomize-controller__internal_controller_testdata_sops_keys_age.txt"}


def _outside_metadata(text: str) -> str:
    """The text with each top-level ``sops:`` block cut out (found by its indentation alone:
    the block runs from ``sops:`` at column 0 to the next line at column 0)."""
    return re.sub(r"(?m)^sops:[^\n]*\n(?:[ \t][^\n]*\n|\n)*", "<metadata>\n", text)


def _corpus_cases() -> list[tuple[str, Path, str | None]]:
    """(id, file, key file): sopsy-encrypted corpus files (no key file: made in the test),
    sops-made corpus files with their projects' throwaway keys, and the sops vectors."""
    cases: list[tuple[str, Path, str | None]] = []
    for p in sorted((CORPUS / "yaml").glob("*")):
        if p.name not in UNHOLDABLE:
            cases.append((p.name[:40], p, None))
    base = CORPUS / "sops-encrypted"
    for p in sorted(base.glob("*.yaml")):
        key = next((v for k, v in SOPS_MADE_KEYS.items() if p.name.startswith(k)), None)
        if key is not None:  # (the PGP-keyed getsops files are tests/test_keys_pgp.py's)
            cases.append(("sops-made " + p.name[:30], p, str(base / "keys" / key)))
    for name in ("enc.yaml", "enc_multi.yaml", "enc_regex.yaml", "enc_regex_maconly.yaml", "shamir/shamir.enc.yaml"):
        cases.append(("vector " + name, VECTORS / name, str(AGE_KEYS_BOTH)))
    return cases


CASES = _corpus_cases()


@pytest.mark.parametrize("source,key_file", [(p, k) for _, p, k in CASES], ids=[i for i, _, _ in CASES])
def test_metadata_only_change_keeps_every_byte_outside_metadata(source: Path, key_file: str | None,
                                                               tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    need_shared()
    target = tmp_path / "secrets.yaml"
    if key_file is None:
        src = source.read_bytes().decode("utf-8", "surrogateescape")
        target.write_bytes(core.encrypt_text(STORE, src, OPTS).encode("utf-8", "surrogateescape"))
    else:
        shutil.copy(source, target)
        monkeypatch.setenv("SOPS_AGE_KEY_FILE", key_file)
        from sopsy.keys import age

        age.PROVIDER._identities = None
    before = target.read_bytes().decode("utf-8", "surrogateescape")
    # a creation rule naming a recipient the file does not have: updatekeys re-wraps the data key
    (tmp_path / ".sopsy.yaml").write_text(f"creation_rules:\n  - age: {RECIPIENT},{RECIPIENT2}\n")
    assert commands.updatekeys(str(target), yes=True)  # the config beside the file applies
    after = target.read_bytes().decode("utf-8", "surrogateescape")
    assert after != before
    assert _outside_metadata(after) == _outside_metadata(before)


# -- a file sops wrote decrypts to what sops prints ------------------------------------------

# values whose printed form go-yaml chooses: floats in %g form, bytes that are not UTF-8 as
# !!binary (one line, or a block past 70 base64 characters), quoting, block scalars at every
# nesting go-yaml indents differently
SOPS_STYLE_SOURCE = """\
f1: 1e-07
f2: -0.0
f3: 5.0
f4: 1e21
f5: 1234567.5
f6: 0.00001
f7: !!float 3
b1: !!binary /w==
b2: !!binary aGVsbG8=
b3: !!binary {long}
s1: "a: b"
s2: " lead"
s3: "tab\\there"
s4: "it's"
s5: "\\U0001F600 \\x01 \\u00a0"
s6: "yes"
s7: "x\\ny\\n\\n"
s8: "\\nlead"
s9: "  x\\ny"
l:
  - !!binary {long}
  - k: !!binary {long}
    j: "p\\nq"
    m:
      n: "x\\ny"
  - "s\\nt"
  - - - "x\\ny"
""".replace("{long}", "AAMGCQwPEhUYGx4hJCcqLTAzNjk8P0JFSEtOUVRXWl1gY2ZpbG9ydXh7foGEh4qNkJOWmZyfoqWoq66xtLe6vcDDxsnM")


def _sops_made_cases() -> list[tuple[str, Path | None, str]]:
    cases: list[tuple[str, Path | None, str]] = [("made in the test", None, str(AGE_KEYS_BOTH))]
    for name in ("enc.yaml", "enc_multi.yaml", "enc_regex.yaml", "enc_regex_maconly.yaml", "shamir/shamir.enc.yaml"):
        cases.append(("vector " + name, VECTORS / name, str(AGE_KEYS_BOTH)))
    base = CORPUS / "sops-encrypted"
    for p in sorted(base.glob("*.yaml")):
        key = next((v for k, v in SOPS_MADE_KEYS.items() if p.name.startswith(k)), None)
        if key is not None:
            cases.append(("corpus " + p.name[:30], p, str(base / "keys" / key)))
    return cases


SOPS_MADE = _sops_made_cases()


@pytest.mark.parametrize("source,key_file", [(p, k) for _, p, k in SOPS_MADE], ids=[i for i, _, _ in SOPS_MADE])
def test_sops_made_file_decrypts_to_what_sops_prints(source: Path | None, key_file: str, tmp_path: Path) -> None:
    need_shared()
    env = {"SOPS_AGE_KEY_FILE": key_file}
    if source is None:
        plain = tmp_path / "plain.yaml"
        plain.write_text(SOPS_STYLE_SOURCE)
        made = run_sops("encrypt", "--age", RECIPIENT, str(plain))
        assert made.returncode == 0, made.stderr
        source = tmp_path / "enc.yaml"
        source.write_bytes(made.stdout)
    theirs = run_sops("decrypt", str(source), env=env)
    assert theirs.returncode == 0, theirs.stderr
    ours = run_sopsy("decrypt", str(source), env=env)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout


def test_file_sops_wrote_with_indent_2_prints_at_4_and_sopsy_files_keep_theirs(tmp_path: Path) -> None:
    """A file sops 3.9 wrote with ``stores.yaml.indent: 2`` (fluxcd's test fixture): sops prints
    it at go-yaml's step 4, before and after a sopsy ``set``; a file sopsy encrypted from the
    same 2-space plaintext prints that plaintext byte for byte."""
    base = CORPUS / "sops-encrypted"
    name = "fluxcd__kustomize-controller__internal_controller_testdata_sops_patches_merge1.yaml"
    env = {"SOPS_AGE_KEY_FILE": str(base / "keys" / SOPS_MADE_KEYS["fluxcd__kustomize-controller"])}
    expected = (base / "decrypted-by-sops" / name).read_bytes()
    assert b"\n    name: secret\n" in expected  # what sops 3.11 printed (the file has "  name:")
    f = tmp_path / "secret.yaml"
    shutil.copy(base / name, f)
    assert run_sopsy("decrypt", str(f), env=env).stdout == expected
    r = run_sopsy("set", str(f), '["stringData"]["key"]', '"changed"', env=env)
    assert r.returncode == 0, r.stderr
    assert "\n  name: secret\n" in f.read_text()  # the edit keeps the file's own layout
    changed = expected.replace(b"key: merge1", b"key: changed")
    assert run_sops("decrypt", str(f), env=env).stdout == changed
    assert run_sopsy("decrypt", str(f), env=env).stdout == changed
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(expected.replace(b"    ", b"  "))
    ours = tmp_path / "ours.yaml"
    made = run_sopsy("encrypt", "--age", RECIPIENT, "--output", str(ours), str(plain))
    assert made.returncode == 0, made.stderr
    assert run_sopsy("decrypt", str(ours), env={"SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}).stdout \
        == plain.read_bytes()


_json_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_json_values = st.recursive(
    st.one_of(_json_text, st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53),
              st.booleans()),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=3),
                            st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), inner, min_size=1, max_size=3)),
    max_leaves=10)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), _json_values, min_size=1, max_size=8))
def test_generated_values_sops_wrote_decrypt_to_what_sops_prints(data: dict[str, object], tmp_path: Path) -> None:
    """Values of every kind, written by sops (from JSON, so go-yaml picks every style): sopsy's
    decrypt prints what sops's prints, byte for byte."""
    src = tmp_path / "in.json"
    src.write_text(json.dumps(data))
    made = run_sops("encrypt", "--age", RECIPIENT, "--input-type", "json", "--output-type", "yaml", str(src))
    assert made.returncode == 0, made.stderr
    enc = tmp_path / "enc.yaml"
    enc.write_bytes(made.stdout)
    theirs = run_sops("decrypt", str(enc))
    assert theirs.returncode == 0, theirs.stderr
    ours = core.decrypt_text(STORE, made.stdout.decode()).plaintext()
    assert ours == theirs.stdout.decode()


# -- no value's text in the encrypted output -------------------------------------------------

# values carry a letter that neither keys, base64 nor the metadata contain, so finding one of
# them in the output can only mean that a value was written in plaintext
_MARK = "ж"
_secret_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff\x85\u2028\u2029"),
                       min_size=2, max_size=12).map(lambda t: _MARK + t + _MARK)
_plain_keys = st.text("abcdefghij", min_size=1, max_size=6)
_secret_values = st.recursive(
    st.one_of(_secret_text, st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_plain_keys, inner, max_size=4)),
    max_leaves=12)


def _texts(data: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    if isinstance(data, dict):
        return [t for k, v in data.items() for t in _texts(v, (*path, k))]
    if isinstance(data, list):
        return [t for v in data for t in _texts(v, path)]
    return [(path, data)] if isinstance(data, str) else []


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.dictionaries(_plain_keys, _secret_values, min_size=1, max_size=6),
       plain_key=st.sampled_from([None, "note_unencrypted"]), share=st.booleans(),
       flow=st.sampled_from([False, True, None]), style=st.sampled_from([None, '"', "'", "|", ">"]))
def test_no_value_text_reaches_the_encrypted_output(doc: dict[str, object], plain_key: str | None, share: bool,
                                                    flow: bool | None, style: str | None) -> None:
    if plain_key:
        doc[plain_key] = _MARK + "visiblebyrule" + _MARK
    if share:  # the same object twice: the dump writes an anchor and an alias
        shared = next((v for v in doc.values() if isinstance(v, (dict, list)) and v), None)
        if shared is not None:
            doc["again"] = shared
    src = yaml.safe_dump(doc, default_flow_style=flow, default_style=style, allow_unicode=True, sort_keys=False)
    try:
        enc = core.encrypt_text(STORE, src, OPTS)
    except SopsyError as exc:
        assert "\n" not in str(exc)
        return
    # every value starts and ends with the mark, which nothing else in the output contains
    visible = [t for path, t in _texts(doc) if any(k.endswith("_unencrypted") for k in path)]
    rest = enc
    for t in visible:
        rest = rest.replace(t, "")
    assert _MARK not in rest, "a value's text is in the output"


# -- hostile and mistaken input: one line, sops's exit code ----------------------------------

def _laughs(levels: int) -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    prev = "a"
    for name in "bcdefghijklmnop"[:levels]:
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        prev = name
    return text


def _one_line_error(r: subprocess.CompletedProcess[bytes], code: int, *words: str) -> str:
    err = r.stderr.decode()
    assert r.returncode == code, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_alias_bomb_is_refused_on_encrypt_and_decrypt(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_laughs(9))  # 9**9 strings once expanded
    _one_line_error(run_sopsy("encrypt", "--age", RECIPIENT, str(bomb)), 2, "excessive aliasing")
    # the same bomb inside a file with sops metadata: refused before any key is asked for
    small = tmp_path / "small.yaml"
    small.write_text("k: v\n")
    enc = run_sopsy("encrypt", "--age", RECIPIENT, str(small)).stdout.decode()
    bomb.write_text(_laughs(9) + enc[enc.index("sops:"):])
    _one_line_error(run_sopsy("decrypt", str(bomb)), 2, "excessive aliasing")
    # what sops accepts is accepted: a document sharing a block 30 times
    shared = tmp_path / "shared.yaml"
    shared.write_text("base: &b {" + ", ".join(f"k{i}: v{i}" for i in range(30)) + "}\n"
                      + "".join(f"s{i}: *b\n" for i in range(30)))
    assert run_sops("encrypt", "--age", RECIPIENT, str(shared)).returncode == 0
    assert run_sopsy("encrypt", "--age", RECIPIENT, str(shared)).returncode == 0


def _deep_block(levels: int) -> str:
    return "\n".join(" " * i + f"k{i}:" for i in range(levels)) + " v\n"


def test_deep_nesting_works_to_libyamls_limit_and_is_refused_beyond(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    for src in (_deep_block(999), "a: " + "[" * 998 + "x" + "]" * 998 + "\n"):
        deep.write_text(src)
        enc = run_sopsy("encrypt", "--age", RECIPIENT, str(deep))
        assert enc.returncode == 0, enc.stderr
        deep.write_bytes(enc.stdout)
        assert run_sopsy("decrypt", str(deep)).stdout.decode() == src
        assert run_sops("decrypt", str(deep)).returncode == 0
    for src in (_deep_block(3000), "\ufeff" + _deep_block(1500), "a: " + "[" * 5000 + "]" * 5000 + "\n"):
        deep.write_text(src)  # (a byte-order mark sends the file to PyYAML's pure-Python parser)
        _one_line_error(run_sopsy("encrypt", "--age", RECIPIENT, str(deep)), 2, "nest")


def test_duplicate_key_names_the_key_and_both_lines(tmp_path: Path) -> None:
    f = tmp_path / "dup.yaml"
    f.write_text("a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n")
    theirs = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert theirs.returncode == 2 and b'line 5: mapping key "c" already defined at line 3' in theirs.stderr
    _one_line_error(run_sopsy("encrypt", "--age", RECIPIENT, str(f)), 2,
                    'line 5: mapping key "c" already defined at line 3')


def test_integer_past_int64_says_what_sops_cannot_hold(tmp_path: Path) -> None:
    f = tmp_path / "big.yaml"
    f.write_text("db:\n  id: 18446744073709551615\n")  # a uint64: fits 64 bits, not sops's int64
    assert run_sops("encrypt", "--age", RECIPIENT, str(f)).returncode == 23
    err = _one_line_error(run_sopsy("encrypt", "--age", RECIPIENT, str(f)), 23, "db:id", "9223372036854775807")
    assert "does not fit in 64 bits" not in err
    f.write_text("id: 18446744073709551616\n")  # past uint64: a float for go-yaml and for sopsy
    assert run_sopsy("encrypt", "--age", RECIPIENT, str(f)).returncode == 0


def test_multi_line_plain_scalar_in_flow_mapping_comes_back() -> None:
    """Found by test_yaml_properties: a hint for a flow scalar's continuation line was checked at
    its key's column and refused."""
    src = "{'0': [], '000': '', '00': 0\n    0}\n"
    assert core.decrypt_text(STORE, core.encrypt_text(STORE, src, OPTS)).plaintext() == src

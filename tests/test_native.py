"""The native whole-file decrypt path (sopsy/_native.c) against the pure-Python path.

The accelerator may decline any file (then the Python path runs), but whatever it accepts it
must turn into exactly the bytes the Python path writes, with the same MAC verdict. These tests
check that on sops-made and sopsy-made files (shared vectors, the real-world corpus, generated
documents with every value type and every character Go escapes), and that the files it must
decline (tampered, hinted, commented, regex rules) still give the Python path's result.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGE_KEYS_BOTH, CORPUS, RECIPIENT, VECTORS, run_sops
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core, datakey
from sopsy.errors import SopsyError
from sopsy.fileio import decode, encode
from sopsy.keys import KeySpec
from sopsy.model import from_data
from sopsy.rules import CryptRule
from sopsy.stores import get_store, native

OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
# corpus files the real sops refuses to encrypt, and why
SOPS_REFUSES = {
    "microsoft__TypeScript-Node-Starter__.vscode_launch.json": "JSON with comments",
    "miloyip__nativejson-benchmark__data_jsonchecker_pass01.json": "top level is an array",
    "dotenvx__dotenvx__tests_.env.multiline": "multi-line values",
    "joho__godotenv__fixtures_quoted.env": "multi-line values",
}
# corpus files sopsy refuses to encrypt: a top-level array; a dotenv line without '=' (line 48)
CANNOT_HOLD = {"miloyip__nativejson-benchmark__data_jsonchecker_pass01.json", "dotenvx__dotenvx__tests_.env.multiline"}
JSON = get_store("json")
DOTENV = get_store("dotenv")


def test_the_accelerator_is_built() -> None:
    # The test command installs OpenSSL's headers, so CI always builds it; a silent fallback
    # would leave every test below checking the Python path against itself.
    assert native() is not None, "sopsy._native was not built (apt-get install libssl-dev, reinstall)"


def fast_and_slow(store: object, data: bytes) -> tuple[bytes | None, bytes]:
    fast, _ = core.decrypt_fast(store, data)  # type: ignore[arg-type]
    slow = encode(core.decrypt_text(store, decode(data)).plaintext())  # type: ignore[arg-type]
    return fast, slow


def sops_encrypt(tmp_path: Path, text: bytes, ext: str, *extra: str) -> bytes:
    src = tmp_path / f"plain.{ext}"
    src.write_bytes(text)
    done = run_sops("encrypt", "--age", RECIPIENT, *extra, str(src))
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


# -- sops-made files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,store", [("enc.json", JSON), ("enc.env", DOTENV)])
def test_sops_vectors_take_the_fast_path_and_match(name: str, store: object) -> None:
    data = (VECTORS / name).read_bytes()
    fast, slow = fast_and_slow(store, data)
    assert fast is not None
    assert fast == slow


def _corpus(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


@pytest.mark.parametrize("path", _corpus("json") + _corpus("dotenv"), ids=lambda p: p.name)
def test_sops_encrypted_corpus_takes_the_fast_path_and_matches(path: Path) -> None:
    # corpus dotenv names (.env.example...) do not tell sops the format
    store, types = (JSON, ()) if path.parent.name == "json" else (DOTENV, ("--input-type", "dotenv", "--output-type", "dotenv"))
    done = run_sops("encrypt", *types, "--age", RECIPIENT, str(path))
    if path.name in SOPS_REFUSES:
        assert done.returncode != 0, f"sops was expected to refuse {path.name} ({SOPS_REFUSES[path.name]})"
        return
    assert done.returncode == 0, done.stderr.decode()
    fast, slow = fast_and_slow(store, done.stdout)
    assert fast is not None
    assert fast == slow


# -- sopsy-made files --------------------------------------------------------------------------


@pytest.mark.parametrize("path", _corpus("json") + _corpus("dotenv"), ids=lambda p: p.name)
def test_sopsy_encrypted_corpus_matches_and_is_byte_exact(path: Path) -> None:
    store = JSON if path.parent.name == "json" else DOTENV
    text = path.read_bytes()
    if path.name in CANNOT_HOLD:
        with pytest.raises(SopsyError):
            core.encrypt_text(store, decode(text), OPTS)
        return
    enc = core.encrypt_text(store, decode(text), OPTS)
    fast, slow = fast_and_slow(store, encode(enc))
    assert slow == text
    if fast is not None:
        assert fast == text


def test_most_sopsy_encrypted_corpus_files_take_the_fast_path() -> None:
    taken = total = 0
    for path in _corpus("json") + _corpus("dotenv"):
        store = JSON if path.parent.name == "json" else DOTENV
        try:
            enc = core.encrypt_text(store, decode(path.read_bytes()), OPTS)
        except SopsyError:
            continue
        total += 1
        taken += core.decrypt_fast(store, encode(enc))[0] is not None
    assert total >= 12
    assert taken >= total // 2, f"fast path taken for only {taken} of {total} files"


# Every character class Go's encoding/json escapes, plus text it leaves alone.
AWKWARD = ["<b>&amp;</b>", "tab\there", "nl\nand\rcr", 'quote " and \\ back', "\x00\x01\x1f\x7f",
           "line\u2028sep\u2029para", "é ü 漢字 🎉", "", " ", "ENC[not really]", "\ufeffbom", "a/b"]


def test_go_escaping_matches_for_every_awkward_string(tmp_path: Path) -> None:
    data = {f"k{i}": s for i, s in enumerate(AWKWARD)}
    data["nested"] = {"list": AWKWARD, "n": [1, -0.5, 1e-3, 12345678901234, True, False, None]}
    enc = sops_encrypt(tmp_path, json.dumps(data, ensure_ascii=False, indent=2).encode(), "json")
    fast, slow = fast_and_slow(JSON, enc)
    assert fast is not None
    assert fast == slow
    assert json.loads(fast) == data


@pytest.mark.parametrize("number", ["0.0000001", "-2.5e-9", "1e21", "123456789012345678901234"])
def test_floats_go_prints_with_an_exponent_decrypt_as_sops_prints_them(number: str, tmp_path: Path) -> None:
    # sops encrypts a float as Go's 'f' text (0.0000001) and prints it as encoding/json does
    # (1e-7): both paths must print what sops prints
    enc = sops_encrypt(tmp_path, ('{"x": ' + number + ', "y": 0.5}\n').encode(), "json")
    f = tmp_path / "enc.json"
    f.write_bytes(enc)
    want = run_sops("decrypt", str(f)).stdout
    fast, slow = fast_and_slow(JSON, enc)
    assert slow == want
    assert fast is None or fast == want


def test_a_sopsy_float_spelled_as_sops_plaintext_comes_back_as_written() -> None:
    text = '{"x": 0.0000001, "y": 1000000000000000000000, "z": 1e-07}\n'
    enc = core.encrypt_text(JSON, text, core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]]))
    assert core.decrypt_text(JSON, enc).plaintext() == text


def _emit_go(data: dict[str, object]) -> str:
    """JSON as Go writes it: then sopsy needs no layout hints, and the fast path applies."""
    return JSON.emit([from_data(data)])  # type: ignore[list-item]


json_scalars = st.one_of(
    st.text(max_size=12), st.integers(min_value=-(2**53), max_value=2**53), st.booleans(), st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
json_docs = st.dictionaries(
    st.text(min_size=1, max_size=6).filter(lambda k: k != "sops"),
    st.recursive(json_scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(
        st.text(min_size=1, max_size=4), kids, max_size=3), max_leaves=12),
    min_size=1, max_size=6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_docs, st.sampled_from([None, ("unencrypted_suffix", "_u"), ("encrypted_suffix", "s")]),
       st.booleans())
def test_property_fast_equals_slow_json(data: dict[str, object], rule: tuple[str, str] | None,
                                        mac_only: bool) -> None:
    opts = core.EncryptOptions(key_groups=OPTS.key_groups, crypt_rule=CryptRule(*rule) if rule else None,
                               mac_only_encrypted=mac_only)
    enc = encode(core.encrypt_text(JSON, _emit_go(data), opts))
    fast, slow = fast_and_slow(JSON, enc)
    if fast is not None:
        assert fast == slow


dotenv_values = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n"), max_size=20)
dotenv_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(dotenv_names, dotenv_values), min_size=1, max_size=8),
       st.sampled_from([None, ("unencrypted_suffix", "_U"), ("encrypted_suffix", "S")]), st.booleans())
def test_property_fast_equals_slow_dotenv(entries: list[tuple[str, str]], rule: tuple[str, str] | None,
                                          mac_only: bool) -> None:
    text = "".join(f"{k}={v}\n" for k, v in entries)
    opts = core.EncryptOptions(key_groups=OPTS.key_groups, crypt_rule=CryptRule(*rule) if rule else None,
                               mac_only_encrypted=mac_only)
    enc = encode(core.encrypt_text(DOTENV, text, opts))
    fast, slow = fast_and_slow(DOTENV, enc)
    if fast is not None:
        assert fast == slow


def test_generated_files_mostly_take_the_fast_path() -> None:
    rnd = random.Random(7)
    taken = 0
    for i in range(40):
        data = {f"k{j}": rnd.choice(["x" * j, j, j / 4, True, None, [j, "y"], {"in": "z"}]) for j in range(8)}
        enc = encode(core.encrypt_text(JSON, _emit_go(data), OPTS))
        fast, slow = fast_and_slow(JSON, enc)
        assert fast is None or fast == slow
        taken += fast is not None
        env_text = "".join(f"K{j}_{i}=v{rnd.random()}\n" for j in range(5))
        fast, slow = fast_and_slow(DOTENV, encode(core.encrypt_text(DOTENV, env_text, OPTS)))
        assert fast == slow
    assert taken == 40


# -- what the fast path declines ---------------------------------------------------------------


def _tamper_value(enc: bytes) -> bytes:
    i = enc.index(b"data:", enc.index(b'ENC[AES256_GCM,data:', enc.index(b"=ENC[") if b"=ENC[" in enc else 0)) + 5
    return enc[:i] + (b"A" if enc[i:i + 1] != b"A" else b"B") + enc[i + 1:]


@pytest.mark.parametrize("ext", ["json", "env"])
def test_tampered_value_is_declined_and_the_python_path_reports_it(ext: str, tmp_path: Path) -> None:
    src = (VECTORS / f"enc.{ext}").read_bytes()
    bad = _tamper_value(src)
    store = JSON if ext == "json" else DOTENV
    fast, key = core.decrypt_fast(store, bad)
    assert fast is None and key is not None  # the data key is handed on: no second prompt
    path = tmp_path / f"bad.{ext}"
    path.write_bytes(bad)
    with_native = _cli("decrypt", str(path))
    without = _cli("decrypt", str(path), env={"SOPSY_NO_NATIVE": "1"})
    assert with_native.returncode == without.returncode == 25
    assert with_native.stdout == b""
    assert with_native.stderr == without.stderr
    assert len(with_native.stderr.strip().splitlines()) == 1


def test_wrong_mac_is_declined_and_reported(tmp_path: Path) -> None:
    enc = encode(core.encrypt_text(JSON, '{"a": "b", "c": 1}\n', OPTS))
    doctored = enc.replace(b'"b"', b'"b"')  # unchanged, then swap in a MAC made for other data
    other = encode(core.encrypt_text(JSON, '{"a": "x", "c": 1}\n', OPTS))
    mac_of = json.loads(other)["sops"]["mac"]
    doctored = enc.replace(json.loads(enc)["sops"]["mac"].encode(), mac_of.encode())
    assert core.decrypt_fast(JSON, doctored)[0] is None
    path = tmp_path / "m.json"
    path.write_bytes(doctored)
    done = _cli("decrypt", str(path))
    assert done.returncode in (51, 25) and done.stdout == b""


def test_the_data_key_is_recovered_once_when_the_fast_path_declines(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    calls = []
    real = datakey.recover

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(datakey, "recover", counting)
    from sopsy import commands

    path = tmp_path / "t.json"
    path.write_bytes(_tamper_value((VECTORS / "enc.json").read_bytes()))
    with pytest.raises(SopsyError):
        commands.decrypt(str(path))
    assert len(calls) == 1


@pytest.mark.parametrize("text", [
    '{\n  // a comment\n  "a": "b"\n}\n',  # JSONC
    '{"a": "b", // c\n}\n',  # trailing comma (JSONC)
])
def test_json_outside_the_plain_grammar_is_declined_but_decrypts(text: str) -> None:
    enc = encode(core.encrypt_text(JSON, text, OPTS))
    fast, slow = fast_and_slow(JSON, enc)
    assert fast is None
    assert slow == text.encode()


def test_escapes_in_keys_and_plain_values_are_decoded_for_aad_rule_and_mac() -> None:
    text = '{"k\\u00e9y": "v", "p\\ud83c\\udf89_u": "x\\ty", "a\\/b": {"c\\"_u": "\\ud800"}}\n'
    opts = core.EncryptOptions(key_groups=OPTS.key_groups, crypt_rule=CryptRule("unencrypted_suffix", "_u"))
    enc = encode(core.encrypt_text(JSON, text, opts))
    fast, slow = fast_and_slow(JSON, enc)
    assert fast is not None
    assert fast == slow == text.encode()


def test_files_with_layout_hints_are_declined_but_decrypt() -> None:
    text = '{"a": "\\u00e9 <tag>"}\n'  # spelled otherwise than Go writes it: a layout hint
    enc = encode(core.encrypt_text(JSON, text, OPTS))
    assert b"sopsy_layout" in enc
    fast, slow = fast_and_slow(JSON, enc)
    assert fast is None and slow == text.encode()


def test_regex_rules_are_declined_but_decrypt() -> None:
    opts = core.EncryptOptions(key_groups=OPTS.key_groups, crypt_rule=CryptRule("encrypted_regex", "^pass"))
    text = '{"password": "s3cret", "user": "me"}\n'
    enc = encode(core.encrypt_text(JSON, text, opts))
    fast, slow = fast_and_slow(JSON, enc)
    assert fast is None and slow == text.encode()


def test_multiline_dotenv_is_declined_but_decrypts() -> None:
    text = 'PEM="-----BEGIN-----\nabc\n-----END-----"\nB=2\n'
    enc = encode(core.encrypt_text(DOTENV, text, OPTS))
    fast, slow = fast_and_slow(DOTENV, enc)
    assert fast is None and slow == text.encode()


def test_ignore_mac_takes_the_fast_path_even_with_a_bad_mac() -> None:
    enc = (VECTORS / "enc.json").read_bytes()
    md = json.loads(enc)["sops"]
    doctored = enc.replace(md["mac"].encode(), b"ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]")
    fast, _ = core.decrypt_fast(JSON, doctored, ignore_mac=True)
    assert fast is not None
    assert fast == encode(core.decrypt_text(JSON, decode(doctored), ignore_mac=True).plaintext())


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), **(env or {})}
    return subprocess.run([sys.executable, "-m", "sopsy", *args], capture_output=True, env=full, check=False)


def test_cli_output_is_the_same_with_and_without_the_accelerator(tmp_path: Path) -> None:
    for name in ("enc.json", "enc.env"):
        path = VECTORS / name
        a = _cli("decrypt", str(path))
        b = _cli("decrypt", str(path), env={"SOPSY_NO_NATIVE": "1"})
        assert a.returncode == b.returncode == 0
        assert a.stdout == b.stdout
        out = tmp_path / f"out-{name}"
        c = _cli("decrypt", "--output", str(out), str(path))
        assert c.returncode == 0 and out.read_bytes() == a.stdout


@pytest.mark.parametrize("name", ["enc.json", "enc.env"])
def test_a_fast_path_decrypt_loads_no_heavy_module(name: str) -> None:
    # `git diff` runs the textconv driver once per file: what it imports is paid every time
    code = (
        "import sys, os\n"
        "from sopsy import entry\n"
        "sys.argv = ['sopsy', 'decrypt', '--output', os.devnull, sys.argv[1]]\n"
        "os._exit = lambda code: (print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typing', 'cryptography', 'typer', 'click', 'yaml', 'boto3', 'google', 'pkcs11') "
        # the Python JSON/dotenv reader and writer are the accelerator's fallback only
        "or m.startswith(('sopsy.stores.json.', 'sopsy.stores.dotenv.')))),"
        " sys.exit(code))\n"
        "entry.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(VECTORS / name)], capture_output=True, text=True,
                          env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def _mutations() -> list[tuple[str, bytes]]:
    """Files the Python path refuses or reports on its own (found by fuzzing the fast path)."""
    base = encode(core.encrypt_text(JSON, '{"a": "x"}\n', OPTS))
    mac_only = encode(core.encrypt_text(JSON, '{"user": "bob", "pass_secret": "hunter2"}\n', core.EncryptOptions(
        key_groups=OPTS.key_groups, crypt_rule=CryptRule("encrypted_suffix", "_secret"), mac_only_encrypted=True)))
    return [
        ("overflowing number in the metadata", base.replace(b'"mac": "', b'"created_at": 1e400, "mac": "', 1)),
        ("overflowing plain number, mac-only", mac_only.replace(b'"user": "bob"', b'"user": "bob", "n": 1e400', 1)),
        ("lone surrogate in the suffix", base.replace(b'"_unencrypted"', b'"_un\\ud800"', 1)),
        ("lone surrogate in the MAC", base.replace(b'"mac": "ENC[', b'"mac": "\\ud800ENC[', 1)),
        ("overflowing shamir_threshold", base.replace(b'"mac": "', b'"shamir_threshold": 1e400, "mac": "', 1)),
    ]


@pytest.mark.parametrize("what,data", _mutations(), ids=[m[0] for m in _mutations()])
def test_files_the_python_path_treats_specially_are_declined(what: str, data: bytes) -> None:
    assert core.decrypt_fast(JSON, data)[0] is None
    try:  # the ordinary path gives a plaintext or its own one-line error, never another exception
        core.decrypt_text(JSON, decode(data)).plaintext()
    except SopsyError as exc:
        assert "\n" not in str(exc)

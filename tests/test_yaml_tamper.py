"""Tampered, truncated and garbage encrypted YAML: sopsy must refuse it before printing anything.

Every explicit case goes through the real CLI (exit code from the README table, empty stdout,
one stderr line, no traceback) and is checked against the real sops as well, so each mutation
is known to be real tampering and not an artefact of sopsy. A hypothesis test then mutates
encrypted files at random and asserts that sopsy either refuses them with a SopsyError or
returns exactly the data the file was made from.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import RECIPIENT, VECTORS, need_shared, run_sops, run_sopsy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import commands
from sopsy.errors import SopsyError

PLAIN = """\
# settings
db:
  user: admin
  password: "hunter2 # not a comment"
  port: 5432
mode: 0777
ratio: 1.50
enabled: true
when: 2024-01-02
folded: >
  long text
  folded here
tags: [alpha, "beta", 3]
base: &base
  token: s3cr3t-token
copy: *base
items:
  - one
  - two: 2
note_unencrypted: visible text
"""
# plaintext values that must never appear in an error message
SECRETS = ("admin", "hunter2", "s3cr3t-token", "folded here")
ENC = re.compile(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]+,tag:[^,]+,type:[a-z]+\]")


@pytest.fixture(scope="module")
def enc_text(tmp_path_factory: pytest.TempPathFactory) -> str:
    src = tmp_path_factory.mktemp("plain") / "rich.yaml"
    src.write_text(PLAIN)
    r = run_sopsy("encrypt", "--age", RECIPIENT, "--unencrypted-suffix", "_unencrypted", str(src))
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    assert "hunter2" not in text and "note_unencrypted: visible text" in text
    return text


def _flip(text: str, pos: int) -> str:
    """Replace one base64 character with another one (still valid base64, different bytes)."""
    c = text[pos]
    assert c.isalnum() or c in "+/"
    return text[:pos] + ("A" if c != "A" else "B") + text[pos + 1:]


def _field_pos(text: str, key: str, field: str) -> int:
    """Position of a character in the middle of ``field`` of the ENC value after ``key:``
    (the middle: a base64 string's last character may carry only ignored padding bits)."""
    m = re.search(rf"^\s*{re.escape(key)}: \"?ENC\[AES256_GCM,.*?{field}:([A-Za-z0-9+/=]+)", text, re.M)
    assert m, (key, field)
    body = m.group(1).rstrip("=")
    return m.start(1) + len(body) // 2


def _swap_values(text: str, key_a: str, key_b: str) -> str:
    a = re.search(rf"^\s*{key_a}: (ENC\[[^\]]*\])", text, re.M)
    b = re.search(rf"^\s*{key_b}: (ENC\[[^\]]*\])", text, re.M)
    assert a and b
    va, vb = a.group(1), b.group(1)
    return text.replace(va, "\0").replace(vb, va).replace("\0", vb)


def _tampered(text: str, kind: str) -> str:
    if kind == "ciphertext":
        return _flip(text, _field_pos(text, "password", "data"))
    if kind == "iv":
        return _flip(text, _field_pos(text, "password", "iv"))
    if kind == "tag":
        return _flip(text, _field_pos(text, "password", "tag"))
    if kind == "swapped values":  # same type, so only the AAD (the key path) can tell
        return _swap_values(text, "user", "token")
    if kind == "removed value":
        return re.sub(r"^  port: ENC\[.*\n", "", text, count=1, flags=re.M)
    if kind == "removed list item":
        return re.sub(r"^  - ENC\[.*\n", "", text, count=1, flags=re.M)
    if kind == "edited plaintext value":
        assert "note_unencrypted: visible text" in text
        return text.replace("note_unencrypted: visible text", "note_unencrypted: visible texT")
    if kind == "removed MAC":
        return re.sub(r"^    mac: .*\n", "", text, count=1, flags=re.M)
    if kind == "altered MAC":
        m = re.search(r"^    mac: ENC\[AES256_GCM,data:([A-Za-z0-9+/]+)", text, re.M)
        assert m
        return _flip(text, m.start(1) + 10)
    if kind == "changed lastmodified":
        return re.sub(r'(lastmodified: "\d{4}-\d\d-)(\d\d)', lambda m: f"{m.group(1)}{int(m.group(2)) % 28 + 1:02d}",
                      text, count=1)
    raise AssertionError(kind)


# (kind, exit code from the README table)
TAMPERING = [("ciphertext", 25), ("iv", 25), ("tag", 25), ("swapped values", 25), ("removed value", 51),
             ("removed list item", 51), ("edited plaintext value", 51), ("removed MAC", 51),
             ("altered MAC", 51), ("changed lastmodified", 51)]


def _assert_refused(r: Any, code: int | set[int]) -> None:
    err = r.stderr.decode("utf-8", "replace")
    codes = {code} if isinstance(code, int) else code
    assert r.returncode in codes, (r.returncode, err)
    assert r.stdout == b"", "plaintext (or anything) reached stdout"
    assert "Traceback" not in err and "internal error" not in err, err
    assert len(err.splitlines()) == 1, err
    assert not any(s in err for s in SECRETS), err


@pytest.mark.parametrize("kind,code", TAMPERING)
def test_tampering_is_refused_with_nothing_printed(enc_text: str, tmp_path: Path, kind: str, code: int) -> None:
    bad = _tampered(enc_text, kind)
    assert bad != enc_text
    f = tmp_path / "secrets.yaml"
    f.write_text(bad)
    _assert_refused(run_sopsy("decrypt", str(f)), code)
    # the real sops refuses the same file with the same code: the mutation is real tampering
    theirs = run_sops("decrypt", str(f))
    assert theirs.returncode == code and theirs.stdout == b"", theirs.stderr.decode()[-300:]


def test_untampered_file_decrypts_exactly(enc_text: str, tmp_path: Path) -> None:
    """The control for the cases above: the same file, unmodified, decrypts byte for byte."""
    f = tmp_path / "secrets.yaml"
    f.write_text(enc_text)
    r = run_sopsy("decrypt", str(f))
    assert r.returncode == 0 and r.stdout.decode() == PLAIN


def test_mac_and_lastmodified_from_another_encryption_are_refused(enc_text: str, tmp_path: Path) -> None:
    """A valid (MAC, lastmodified) pair made with the same data key for other values: the MAC
    decrypts fine but does not match these values."""
    f = tmp_path / "secrets.yaml"
    f.write_text(enc_text)
    edited = tmp_path / "other.yaml"
    # sops's own `set` re-encrypts with the same data key and writes a new MAC
    r = run_sops("set", str(f), '["db"]["port"]', "5433")
    assert r.returncode == 0, r.stderr
    other = f.read_text()
    mac_other = re.search(r"^    lastmodified: .*\n    mac: .*\n", other, re.M)
    mac_ours = re.search(r"^    lastmodified: .*\n    mac: .*\n", enc_text, re.M)
    assert mac_other and mac_ours and mac_other.group(0) != mac_ours.group(0)
    edited.write_text(enc_text.replace(mac_ours.group(0), mac_other.group(0)))
    _assert_refused(run_sopsy("decrypt", str(edited)), 51)
    assert run_sops("decrypt", str(edited)).returncode == 51


# Cut points: (text the cut follows, characters into it). Every part of the file is covered.
CUTS = [("db:\n  user: ENC[", 10), ("tags: [", 30), ("note_unencrypted: ", 0), ("sops:\n", 0),
        ("-----BEGIN AGE ENCRYPTED FILE-----\n", 30), ("-----END AGE", 4), ("lastmodified: ", 8),
        ("    mac: ENC[", 40), ("    mac: ENC[", 250), ("unencrypted_suffix:", 5), ("version: 3.1", 0)]


@pytest.mark.parametrize("marker,offset", CUTS)
def test_truncated_file_gives_one_line_error(enc_text: str, tmp_path: Path, marker: str, offset: int) -> None:
    f = tmp_path / "secrets.yaml"
    at = enc_text.index(marker) + len(marker) + offset
    assert at < enc_text.index("sopsy_layout:")
    f.write_text(enc_text[:at])
    # 1: no sops metadata (cut before it); 2: metadata or YAML incomplete; 51: the MAC cut short;
    # 128: the age-wrapped data key cut short
    _assert_refused(run_sopsy("decrypt", str(f)), {1, 2, 51, 128})
    assert run_sops("decrypt", str(f)).returncode != 0


def test_damaged_layout_hints_change_no_data(enc_text: str, tmp_path: Path) -> None:
    """``sopsy_layout`` (spelling hints, a sopsy extension sops drops) is authenticated but not
    under the MAC, like any metadata key sops does not know: damaged or cut, it is ignored and
    the spellings are derived. The data is still exactly the MAC-checked data."""
    start = enc_text.index("    sopsy_layout: ENC[")
    for bad in (enc_text[: start + 60], _flip(enc_text, start + 40), enc_text[:start]):
        f = tmp_path / "secrets.yaml"
        f.write_text(bad)
        r = run_sopsy("decrypt", str(f))
        assert r.returncode == 0, r.stderr
        assert _leaves(yaml.safe_load(r.stdout)) == _leaves(yaml.safe_load(PLAIN))


def test_empty_input_gives_one_line_error(tmp_path: Path) -> None:
    f = tmp_path / "empty.yaml"
    f.write_bytes(b"")
    _assert_refused(run_sopsy("decrypt", str(f)), 92)
    _assert_refused(run_sopsy("decrypt", "--input-type", "yaml", "-", input=b""), 92)
    assert run_sops("decrypt", str(f)).returncode != 0


GARBAGE = {
    "binary": bytes(range(256)) * 4,
    "nul bytes": b"\x00" * 64,
    "invalid utf-8": b"k: \xff\xfe\xfd\n",
    "broken yaml": b"a: [1, 2\nb: {c\n  - : :\n",
    "tab indentation": b"a:\n\tb: 1\n",
    "top-level list": b"- a\n- b\n",
    "scalar document": b"just a string\n",
    "sops key only": b"sops: 42\n",
    "sops metadata garbage": b"k: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    version: 3.11.0\n    mac: x\n",
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_gives_one_line_error(tmp_path: Path, name: str) -> None:
    f = tmp_path / "garbage.yaml"
    f.write_bytes(GARBAGE[name])
    r = run_sopsy("decrypt", str(f))
    # 2: not parseable; 1: parseable but no sops metadata; 128: metadata without usable keys
    _assert_refused(r, {1, 2, 128})
    assert run_sops("decrypt", str(f)).returncode != 0


@pytest.mark.parametrize("kind", ["ciphertext", "removed MAC", "changed lastmodified"])
def test_failed_in_place_decrypt_leaves_file_byte_identical(enc_text: str, tmp_path: Path, kind: str) -> None:
    f = tmp_path / "secrets.yaml"
    bad = _tampered(enc_text, kind).encode()
    f.write_bytes(bad)
    os.chmod(f, 0o600)
    before = os.stat(f)
    r = run_sopsy("decrypt", "-i", str(f))
    _assert_refused(r, {25, 51})
    assert f.read_bytes() == bad
    after = os.stat(f)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secrets.yaml"], "a temp file was left behind"


def test_failed_decrypt_to_output_file_writes_nothing(enc_text: str, tmp_path: Path) -> None:
    f = tmp_path / "secrets.yaml"
    f.write_text(_tampered(enc_text, "tag"))
    out = tmp_path / "out.yaml"
    _assert_refused(run_sopsy("decrypt", "--output", str(out), str(f)), 25)
    assert not out.exists()


# -- random mutations ------------------------------------------------------------------------

UNENC_SUFFIX = "_unencrypted"


def _leaves(data: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...] | None, Any]]:
    """(path, value) of every leaf in document order, as far as the sops format protects it.

    The MAC covers every non-null, non-empty value in order; the AAD binds an encrypted value
    to its path of mapping keys (list positions are not part of it). So the path is kept for
    encrypted leaves only, and null and "" leaves (never encrypted, never in the MAC) are left
    out: changing those, or renaming the key of an unencrypted value, is undetectable in the
    sops format by design.
    """
    out: list[tuple[tuple[str, ...] | None, Any]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _leaves(v, (*path, str(k)))
    elif isinstance(data, list):
        for v in data:
            out += _leaves(v, path)
    elif data is not None and data != "":
        unencrypted = any(k.endswith(UNENC_SUFFIX) for k in path)
        if isinstance(data, datetime.date):
            kind = "time"
        elif isinstance(data, (int, float)) and not isinstance(data, bool):
            # sops's own decryption prints the float 3.0 as "3" (the reference for its vector)
            kind, data = "number", float(data)
        else:
            kind = type(data).__name__
        out.append((None if unencrypted else path, (kind, _norm(data))))
    return out


def _norm(v: Any) -> Any:
    """sops has one time type: a date-only spelling is midnight UTC (its spelling is a hint)."""
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, datetime.date):
        return datetime.datetime(v.year, v.month, v.day, tzinfo=datetime.UTC).isoformat()
    return v


def _by_kind(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    """An unknown tag is read as its node kind (sops reads tagged values as plain ones)."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


class _CLoader(yaml.CSafeLoader):
    pass


class _PyLoader(yaml.SafeLoader):
    pass


for _loader in (_CLoader, _PyLoader):
    _loader.add_multi_constructor("", _by_kind)  # type: ignore[no-untyped-call]


def _load(text: str) -> Any:
    """Read YAML as the store does: libyaml, and PyYAML's pure parser where libyaml's scanner
    refuses (each accepts some spellings the other does not, e.g. a BOM before a later document)."""
    try:
        return yaml.load(text, Loader=_CLoader)
    except yaml.scanner.ScannerError:
        return yaml.load(text, Loader=_PyLoader)


def _reference(name: str, enc_text: str) -> tuple[str, list[Any]]:
    if name == "sopsy":
        return enc_text, _leaves(yaml.safe_load(PLAIN))
    need_shared()
    # the real sops's vector, and the plaintext sops itself decrypted it to
    return (VECTORS / "enc.yaml").read_text(), _leaves(yaml.safe_load((VECTORS / "dec.yaml").read_text()))


INSERTABLE = list("A0+/=:#'\"[]{},-&*!|>%@` \t\n\r\x00\x85\ufeffé") + ["\u2028", "ENC[", "\n  x: 1", ": "]


@st.composite
def mutations(draw: st.DrawFn, text: str) -> str:
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "swap", "delete_line", "flip_enc"]))
    n = len(text)
    if kind == "flip":
        i = draw(st.integers(0, n - 1))
        c = draw(st.sampled_from(INSERTABLE[:20]))
        return text[:i] + c + text[i + 1:]
    if kind == "flip_enc":
        # aim at the ciphertexts themselves: one base64 character of one ENC value
        spans = [m.span() for m in ENC.finditer(text)]
        s, e = draw(st.sampled_from(spans))
        i = draw(st.integers(s + len("ENC[AES256_GCM,data:"), e - 2))
        c = draw(st.sampled_from("AZaz09+/"))
        return text[:i] + c + text[i + 1:]
    if kind == "insert":
        i = draw(st.integers(0, n))
        return text[:i] + draw(st.sampled_from(INSERTABLE)) + text[i:]
    if kind == "delete":
        i = draw(st.integers(0, n - 1))
        k = draw(st.integers(1, 8))
        return text[:i] + text[i + k:]
    if kind == "truncate":
        return text[: draw(st.integers(0, n - 1))]
    if kind == "swap":
        values = [m.group(0) for m in ENC.finditer(text)]
        a, b = draw(st.lists(st.sampled_from(values), min_size=2, max_size=2, unique=True))
        return text.replace(a, "\0").replace(b, a).replace("\0", b)
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    return "".join(lines[:i] + lines[i + 1:])


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mutations")


def _check_mutation(source: str, enc_text: str, work_dir: Path, data: st.DataObject) -> None:
    text, expected = _reference(source, enc_text)
    bad = data.draw(mutations(text))
    f = work_dir / "m.yaml"
    out = work_dir / "out.yaml"
    f.write_bytes(bad.encode("utf-8", "surrogateescape"))
    out.unlink(missing_ok=True)
    try:
        commands.decrypt(str(f), output=str(out))
    except SopsyError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg
        assert not any(s in msg for s in SECRETS), msg
        assert not out.exists(), "output written although decryption failed"
        return
    # accepted: it must be the very data the file was made from
    got = _load(out.read_bytes().decode("utf-8", "surrogateescape"))
    assert _leaves(got) == expected, "a mutated file decrypted to different data"


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_mutations_of_sopsy_file(enc_text: str, work_dir: Path, data: st.DataObject) -> None:
    _check_mutation("sopsy", enc_text, work_dir, data)


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_mutations_of_sops_vector(enc_text: str, work_dir: Path, data: st.DataObject) -> None:
    _check_mutation("sops", enc_text, work_dir, data)


def test_reference_data_is_what_unmutated_files_give(enc_text: str, work_dir: Path) -> None:
    """The hypothesis tests' expectation, checked on the unmutated files (no vacuous pass)."""
    for source in ("sopsy", "sops"):
        text, expected = _reference(source, enc_text)
        f = work_dir / "clean.yaml"
        f.write_text(text)
        out = work_dir / "clean.out.yaml"
        commands.decrypt(str(f), output=str(out))
        got = _leaves(yaml.safe_load(out.read_text()))
        assert got == expected and len(expected) >= 10

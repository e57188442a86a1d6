"""``set`` and ``unset`` (sops 3.9+) on encrypted files: one value changes, nothing else but
``lastmodified`` and ``mac``; sops's exit codes; the real sops reads the result and, for YAML,
gets the data its own ``set``/``unset`` gives.

The format-neutral cases run for every store that can edit (``apply_edits``); the table below
says how each format writes the sample and its metadata.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import RECIPIENT, run_sops, run_sopsy

from sopsy import setunset
from sopsy.stores import STORES, get_store

# format -> (file suffix, plaintext with a key `password` (flat path) and a kept key, the
# path of `password`, a path a new value goes to, whether the real sops reads the format)
FORMATS: dict[str, tuple[str, str, str, str, bool]] = {
    "yaml": (".yaml", "# config\ndb:\n  user: admin\n  password: hunter2 # rotate me\nport: 5432\n",
             '["db"]["password"]', '["db"]["host"]', True),
    "dotenv": (".env", "# config\nUSER=admin\nPASSWORD=hunter2\nPORT=5432\n", '["PASSWORD"]', '["HOST"]', True),
    "ini": (".ini", "[db]\nuser = admin\npassword = hunter2\nport = 5432\n", '["db"]["password"]',
            '["db"]["host"]', True),
    "json": (".json", '{\n  "db": {\n    "password": "hunter2",\n    "user": "admin"\n  },\n  "port": 5432\n}\n',
             '["db"]["password"]', '["db"]["host"]', True),
    "tfvars": (".tfvars", 'user     = "admin"\npassword = "hunter2"\nport     = 5432\n', '["password"]',
               '["host"]', False),
}
EDITABLE = [name for name in FORMATS if hasattr(get_store(name), "apply_edits")]
METADATA_LINE = re.compile(r"lastmodified|\bmac\b|sops_mac|sops_lastmodified")


def test_every_editable_store_is_in_the_table() -> None:
    editable = {name for name in STORES if hasattr(get_store(name), "apply_edits")}
    assert editable <= set(FORMATS), f"add {editable - set(FORMATS)} to FORMATS"
    assert "yaml" in EDITABLE


def _encrypted(tmp_path: Path, fmt: str) -> tuple[Path, bytes]:
    suffix, plain, *_ = FORMATS[fmt]
    f = tmp_path / f"secrets{suffix}"
    f.write_text(plain)
    r = run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f))
    assert r.returncode == 0, r.stderr
    return f, f.read_bytes()


def _changed_lines(before: bytes, after: bytes) -> list[str]:
    """The lines that differ, metadata timestamps and MAC aside."""
    diff = difflib.ndiff(before.decode().splitlines(), after.decode().splitlines())
    return [ln for ln in diff if ln[:2] in ("- ", "+ ") and not METADATA_LINE.search(ln)]


def _decrypted(f: Path) -> str:
    r = run_sopsy("decrypt", str(f))
    assert r.returncode == 0, r.stderr
    return r.stdout.decode()


@pytest.mark.parametrize("fmt", EDITABLE)
def test_set_changes_only_that_value_lastmodified_and_mac(fmt: str, tmp_path: Path) -> None:
    f, before = _encrypted(tmp_path, fmt)
    suffix, plain, path, _, sops_reads = FORMATS[fmt]
    r = run_sopsy("set", str(f), path, '"s3cr3t"')
    assert r.returncode == 0, r.stderr
    after = f.read_bytes()
    changed = _changed_lines(before, after)
    assert len(changed) == 2 and all("password" in ln.lower() for ln in changed), changed
    assert _decrypted(f) == plain.replace("hunter2", "s3cr3t")
    if sops_reads:
        out = run_sops("decrypt", str(f))
        assert out.returncode == 0, out.stderr
        assert b"s3cr3t" in out.stdout and b"hunter2" not in out.stdout


@pytest.mark.parametrize("fmt", EDITABLE)
def test_unset_removes_only_that_item(fmt: str, tmp_path: Path) -> None:
    f, before = _encrypted(tmp_path, fmt)
    suffix, plain, path, _, sops_reads = FORMATS[fmt]
    r = run_sopsy("unset", str(f), path)
    assert r.returncode == 0, r.stderr
    changed = _changed_lines(before, f.read_bytes())
    assert len(changed) == 1 and changed[0].startswith("- ") and "password" in changed[0].lower(), changed
    assert "hunter2" not in _decrypted(f) and "admin" in _decrypted(f)
    if sops_reads:
        assert run_sops("decrypt", str(f)).returncode == 0


@pytest.mark.parametrize("fmt", EDITABLE)
def test_set_adds_a_missing_key_and_sops_reads_it(fmt: str, tmp_path: Path) -> None:
    f, _ = _encrypted(tmp_path, fmt)
    *_, new_path, sops_reads = FORMATS[fmt]
    assert run_sopsy("set", str(f), new_path, '"db.example.org"').returncode == 0
    assert "db.example.org" in _decrypted(f)
    if sops_reads:
        out = run_sops("decrypt", str(f))
        assert out.returncode == 0 and b"db.example.org" in out.stdout, out.stderr


@pytest.mark.parametrize("fmt", EDITABLE)
def test_idempotent_leaves_the_file_untouched(fmt: str, tmp_path: Path) -> None:
    f, before = _encrypted(tmp_path, fmt)
    *_, path, new_path, _ = FORMATS[fmt]
    assert run_sopsy("set", "--idempotent", str(f), path, '"hunter2"').returncode == 0
    assert f.read_bytes() == before
    assert run_sopsy("unset", "--idempotent", str(f), new_path).returncode == 0
    assert f.read_bytes() == before
    # without --idempotent: the same value is written again (new lastmodified and mac), as sops does
    assert run_sopsy("set", str(f), path, '"hunter2"').returncode == 0
    assert _changed_lines(before, f.read_bytes()) == []


@pytest.mark.parametrize("fmt", EDITABLE)
def test_mistakes_give_sops_exit_codes_and_leave_the_file(fmt: str, tmp_path: Path) -> None:
    f, before = _encrypted(tmp_path, fmt)
    *_, path, new_path, _ = FORMATS[fmt]
    cases: list[tuple[list[str], int, str]] = [
        (["unset", str(f), new_path], 1, "not found"),
        (["set", str(f), "password", '"x"'], 7, "path"),
        (["set", str(f), path, "not json"], 7, "JSON"),
    ]
    if fmt == "yaml":  # the rest does not depend on the format
        cases += [
            (["unset", str(f), "password"], 7, "path"),
            (["set", str(f), path, "NaN"], 7, "JSON"),
            (["set", str(f), path], 100, "VALUE"),
            (["set", "--value-file", "--value-stdin", str(f), path], 1, "both"),
            (["set", str(tmp_path / "missing.yaml"), path, "1"], 2, "missing.yaml"),
            (["set", "--value-file", str(f), path, str(tmp_path / "nope.json")], 1, "nope.json"),
            (["set", str(f), '["db"]["password"]["x"]', "1"], 0, ""),  # a value where the path goes on
        ]
    for args, code, words in cases:
        r = run_sopsy(*args)
        err = r.stderr.decode()
        if code == 0:
            assert r.returncode == 0, err
            continue
        assert r.returncode == code and words in err and err.count("\n") == 1, (args, r.returncode, err)
        assert "Traceback" not in err and "hunter2" not in err
        assert f.read_bytes() == before


def test_value_from_stdin_or_file_and_ignore_mac(tmp_path: Path) -> None:
    fmt = "yaml"
    f, _ = _encrypted(tmp_path, fmt)
    *_, path, _, _ = FORMATS[fmt]
    assert run_sopsy("set", "--value-stdin", str(f), path, input=b'"from-stdin"').returncode == 0
    assert "from-stdin" in _decrypted(f)
    value = tmp_path / "value.json"
    value.write_text('"from-file"\n')
    assert run_sopsy("set", "--value-file", str(f), path, str(value)).returncode == 0
    assert "from-file" in _decrypted(f)
    text = f.read_text()
    mac = re.search(r"ENC\[AES256_GCM,data:[^,]+,", text[text.rindex("mac"):])
    assert mac is not None
    f.write_text(text.replace(mac.group(0), "ENC[AES256_GCM,data:AAAA,"))
    assert run_sopsy("set", str(f), path, '"x"').returncode == 51
    assert run_sopsy("set", "--ignore-mac", str(f), path, '"after-tamper"').returncode == 0
    assert "after-tamper" in _decrypted(f)


# -- YAML: the data sops's own set and unset give -----------------------------------------------

YAML_PLAIN = "a: 1\nb:\n  c: x\nl:\n  - p\n"
SETS: list[tuple[str, str]] = [
    ('["a"]', "5"), ('["a"]', "5.0"), ('["a"]', "1.5"), ('["a"]', "1e21"), ('["a"]', "1e-7"), ('["a"]', "-0.0"),
    ('["a"]', "12345678901234567890"), ('["a"]', "true"), ('["a"]', "null"), ('["a"]', '"5"'), ('["a"]', '""'),
    ('["a"]', '"multi\\nline\\n"'), ('["n"]["m"][3]', '{"x": [1, 2.5, "s"], "y": null}'), ('["l"][5]', '"q"'),
    ('["l"][0]', '{"k": "v"}'), ('["b"]["c"]["d"]', "true"), ('["a"][0]', "1"), ('["b"]', '{"z": {}}'),
]


def _sops_json(f: Path) -> Any:
    out = run_sops("decrypt", "--output-type", "json", str(f))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def yaml_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """The same plaintext encrypted once by sopsy and once by sops."""
    d = tmp_path_factory.mktemp("pair")
    plain = d / "plain.yaml"
    plain.write_text(YAML_PLAIN)
    ours = run_sopsy("encrypt", "--age", RECIPIENT, str(plain))
    theirs = run_sops("encrypt", "--age", RECIPIENT, str(plain))
    assert ours.returncode == 0 == theirs.returncode
    return ours.stdout, theirs.stdout


@pytest.mark.parametrize("path,value", SETS, ids=[f"{p}={v}" for p, v in SETS])
def test_yaml_set_gives_the_data_sops_set_gives(path: str, value: str, yaml_pair: tuple[bytes, bytes],
                                                tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.yaml", tmp_path / "theirs.yaml"
    ours.write_bytes(yaml_pair[0])
    theirs.write_bytes(yaml_pair[1])
    setunset.set_value(str(ours), path, value)  # in-process: the CLI is tested above
    r = run_sops("set", str(theirs), path, value)
    assert r.returncode == 0, r.stderr
    assert _sops_json(ours) == _sops_json(theirs)


def test_sops_edits_what_sopsy_set_wrote(yaml_pair: tuple[bytes, bytes], tmp_path: Path) -> None:
    ours = tmp_path / "ours.yaml"
    ours.write_bytes(yaml_pair[0])
    setunset.set_value(str(ours), '["n"]["m"][0]', '{"k": "v"}')
    assert run_sops("set", str(ours), '["n"]["m"][0]["j"]', '"from sops"').returncode == 0
    assert _sops_json(ours)["n"] == {"m": [{"k": "v", "j": "from sops"}]}


@pytest.mark.parametrize("path", ['["a"]', '["b"]["c"]', '["l"][0]', '["b"]'])
def test_yaml_unset_gives_the_data_sops_unset_gives(path: str, yaml_pair: tuple[bytes, bytes],
                                                    tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.yaml", tmp_path / "theirs.yaml"
    ours.write_bytes(yaml_pair[0])
    theirs.write_bytes(yaml_pair[1])
    setunset.unset_value(str(ours), path)
    assert run_sops("unset", str(theirs), path).returncode == 0
    assert _sops_json(ours) == _sops_json(theirs)


def test_yaml_new_values_are_written_as_a_person_would(tmp_path: Path) -> None:
    f = tmp_path / "app.yaml"
    f.write_text("app:\n    name: demo\n    ports: [80]\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    assert run_sopsy("set", str(f), '["app"]["db"]["tls"]', '{"cert": "line1\\nline2\\n", "on": true}').returncode == 0
    assert run_sopsy("set", str(f), '["app"]["ports"][1]', "443").returncode == 0
    assert _decrypted(f) == ("app:\n    name: demo\n    ports: [80, 443]\n    db:\n        tls:\n"
                             "            cert: |\n                line1\n                line2\n"
                             '            "on": true\n')


def test_legacy_set_flag_runs_the_set_command(tmp_path: Path) -> None:
    f, _ = _encrypted(tmp_path, "yaml")
    r = run_sopsy("--set", '["db"]["password"] "legacy"', str(f))
    assert r.returncode == 0, r.stderr
    assert "legacy" in _decrypted(f)


@pytest.mark.parametrize("maker", ["sops", "sopsy"])
def test_equal_values_under_one_key_path_keep_their_own_ciphertext(maker: str, tmp_path: Path) -> None:
    # list items share their AAD (sops leaves indices out of it), so equal values have equal
    # (plaintext, AAD) pairs, each under its own IV: a set elsewhere must leave every one as it was
    f = tmp_path / "s.yaml"
    f.write_text("hosts:\n  - name: a\n    port: 80\n  - name: a\n    port: 80\n  - name: a\n    port: 80\nother: x\n")
    made = (run_sops if maker == "sops" else run_sopsy)("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    enc = re.compile(r"ENC\[[^\]]*\]")
    before = enc.findall(strip_meta(made.stdout.decode()))
    assert len(set(before)) == len(before) == 7  # each value has its own IV to begin with
    setunset.set_value(str(f), '["other"]', '"y"')
    after = enc.findall(strip_meta(f.read_text()))
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [6]
    assert run_sops("decrypt", "--output-type", "json", str(f)).stdout.count(b'"a"') == 3


def strip_meta(text: str) -> str:
    return text.split("\nsops:", 1)[0]


def test_dotenv_set_writes_the_key_the_path_names(tmp_path: Path) -> None:
    # sops reads `export A` and `A` as two keys: a key added beside exported ones is the one the
    # path names, so --extract and a second set find it, and sops reads the same data
    f = tmp_path / "s.env"
    f.write_text("export A=1\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    for _ in range(2):
        r = run_sopsy("set", str(f), '["B"]', '"2"')
        assert r.returncode == 0, r.stderr
    r = run_sopsy("set", str(f), '["A"]', '"5"')  # sops adds `A=5` beside `export A=1`
    assert r.returncode == 0, r.stderr
    assert run_sopsy("decrypt", "--extract", '["B"]', str(f)).stdout == b"2"
    assert json.loads(run_sops("decrypt", "--output-type", "json", str(f)).stdout) == {
        "export A": "1", "B": "2", "A": "5"}


@pytest.mark.parametrize("fmt,plain,path", [
    ("yaml", "on: true\noff: false\nf: 1.0e-07\nbig: 1234568000.0\npem: |\n  -----BEGIN X-----\n  abc\n"
             "  -----END X-----\nstrip: |-\n  a\n  b\nother: x\n", '["other"]'),
    ("json", '{"f": 1e-07, "big": 1e21, "t": true, "other": "x"}\n', '["other"]'),
])
def test_set_on_a_sops_file_changes_no_other_ciphertext(fmt: str, plain: str, path: str, tmp_path: Path) -> None:
    # decrypting prints what sops prints (true, 1e-07, a `|` block); written back, each value is
    # encrypted from sops's own plaintext again ("True", "0.0000001", a plain ENC), so every
    # ciphertext but the one set stays as sops wrote it
    f = tmp_path / f"s.{fmt}"
    f.write_text(plain)
    made = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    enc = re.compile(r"ENC\[[^\]]*\]")
    before = enc.findall(re.split(r'\n\s*"?sops"?:', made.stdout.decode())[0])
    assert run_sopsy("set", str(f), path, '"y"').returncode == 0
    after = enc.findall(re.split(r'\n\s*"?sops"?:', f.read_text())[0])
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [len(before) - 1]
    assert run_sopsy("decrypt", str(f)).stdout == run_sops("decrypt", str(f)).stdout


def test_set_on_a_sops_yaml_file_changes_only_that_line(tmp_path: Path) -> None:
    # sops prints strings that look like numbers or bools quoted ("123", "no"), and writes their
    # ciphertexts bare; a set must not quote them (every such line changed in git's diff)
    f = tmp_path / "q.yaml"
    f.write_text("a: '123'\nb: \"no\"\nc:\n  - 'x'\n  - \"true\"\nd: plain\n")
    made = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    assert run_sopsy("set", str(f), '["d"]', '"z"').returncode == 0
    changed = [line for line in difflib.ndiff(made.stdout.decode().splitlines(), f.read_text().splitlines())
               if line.startswith(("-", "+"))]
    touched = {line[1:].split(":")[0].strip() for line in changed}
    assert {"d", "mac"} <= touched <= {"d", "mac", "lastmodified"}, changed  # (lastmodified: same second)
    assert run_sops("decrypt", str(f)).stdout == b'a: "123"\nb: "no"\nc:\n    - x\n    - "true"\nd: z\n'
    assert run_sopsy("decrypt", str(f)).stdout == run_sops("decrypt", str(f)).stdout


@pytest.mark.parametrize("plain", ["{}\n", "---\n# only a comment\n"])
def test_a_sops_file_with_an_empty_mapping(plain: str, tmp_path: Path) -> None:
    # sops encrypts an empty mapping (or a document of comments) to a file of metadata and
    # prints `{}` for it; sopsy printed nothing, and set failed ("no YAML document")
    f = tmp_path / "e.yaml"
    f.write_text(plain)
    made = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    assert run_sopsy("decrypt", str(f)).stdout == run_sops("decrypt", str(f)).stdout
    assert run_sopsy("set", str(f), '["k"]', '"v"').returncode == 0
    assert json.loads(run_sops("decrypt", "--output-type", "json", str(f)).stdout) == {"k": "v"}


def test_set_data_of_a_binary_file_as_sops_does(tmp_path: Path) -> None:
    """A binary file's tree is ``{"data": ...}``: sops's ``set`` of ``["data"]`` replaces the
    contents (sops-encrypted files of that kind are common, e.g. helm-secrets' and fluxcd's);
    any other path or a non-string value is refused, the file untouched."""
    from conftest import AGE_KEYS_BOTH, VECTORS

    env = {"SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}
    ours, theirs = tmp_path / "ours.bin", tmp_path / "theirs.bin"
    for f in (ours, theirs):
        f.write_bytes((VECTORS / "enc.bin").read_bytes())
    value = json.dumps("line one\nline two ü\n")
    r = run_sopsy("set", str(ours), '["data"]', value, env=env)
    assert r.returncode == 0, r.stderr
    assert run_sops("set", str(theirs), '["data"]', value, env=env).returncode == 0
    got = run_sops("decrypt", str(ours), env=env)
    assert got.returncode == 0, got.stderr
    assert got.stdout == "line one\nline two ü\n".encode() == run_sops("decrypt", str(theirs), env=env).stdout
    before_sops = json.loads((VECTORS / "enc.bin").read_text())["sops"]
    after_sops = json.loads(ours.read_text())["sops"]
    assert after_sops["age"] == before_sops["age"]  # the same data key, wrapped as it was
    kept = ours.read_bytes()
    for args in (['["other"]', '"x"'], ['["data"]', "5"]):
        r = run_sopsy("set", str(ours), *args, env=env)
        assert r.returncode == 1 and b'only it can be set' in r.stderr, r.stderr
    r = run_sopsy("unset", str(ours), '["data"]', env=env)
    assert r.returncode == 1 and b'only it can be set' in r.stderr, r.stderr
    assert ours.read_bytes() == kept

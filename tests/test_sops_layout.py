"""sops's layout where sopsy writes fresh YAML (the metadata block, format conversion, and
``--indent``): go-yaml v3's indentation, checked against the real sops on the same input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import RECIPIENT, RECIPIENT2, run_sops, run_sopsy

# what differs between two encryptions of one file: ciphertexts, age blocks, times
_VARYING = re.compile(r"ENC\[[^\]]*\]|-----BEGIN AGE ENCRYPTED FILE-----[^-]*-----END AGE ENCRYPTED FILE-----"
                      r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_SOPSY_FIELDS = re.compile(r'^ *sopsy_\w+: .*\n|,\s*"sopsy_\w+": "[^"]*"', re.M)  # sopsy's own metadata (sops ignores it)
NESTED_JSON = b'{"l": [{"a": {"b": 1, "c": [["x", "y"], {"d": "e"}]}, "f": [1, 2]}], "g": {"h": {"i": "|x"}}}\n'


def _masked(text: bytes) -> str:
    return _VARYING.sub("*", _SOPSY_FIELDS.sub("", text.decode()))


def test_key_groups_metadata_is_laid_out_as_sops_lays_it_out(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - key_groups: [{{age: [{RECIPIENT}]}}, {{age: [{RECIPIENT2}]}}]\n")
    (tmp_path / "s.yaml").write_text("a:\n    - b: 1\n")
    sops = run_sops("encrypt", "s.yaml", cwd=str(tmp_path))
    sopsy = run_sopsy("encrypt", "s.yaml", cwd=str(tmp_path))
    assert sops.returncode == 0 and sopsy.returncode == 0, (sops.stderr, sopsy.stderr)
    assert b"key_groups:" in sops.stdout
    assert _masked(sopsy.stdout) == _masked(sops.stdout)


def test_json_to_yaml_conversion_indents_nested_collections_as_sops(tmp_path: Path) -> None:
    r = run_sops("encrypt", "--age", RECIPIENT, "--input-type", "json", "--output-type", "json",
                 "/dev/stdin", input=NESTED_JSON)
    assert r.returncode == 0, r.stderr
    (tmp_path / "n.json").write_bytes(r.stdout)
    want = run_sops("decrypt", "--output-type", "yaml", str(tmp_path / "n.json"))
    got = run_sopsy("decrypt", "--output-type", "yaml", str(tmp_path / "n.json"))
    assert want.returncode == 0, want.stderr
    assert b"        b: 1" in want.stdout  # under `- a:` at column 6: the next multiple of 4
    assert got.stdout == want.stdout


# comments with a '#' inside, after a block scalar and left of the items above them; nested
# collections in sequence items: what go-yaml and sops's comment handling decide
INDENT_YAML = b"""# top: see http://example.test/#frag
a:
  b: 1
  l:
    - x: 1
      y:
        z: [1, 2]
    - - p
      - q
    - |
      multi
      line
  text: |
    block

# about c, left of a's items
c: "str"   # trailing
e: {}
"""
INDENT_JSON = b'{"a": {"b": 1.5, "c": ["x", {"y": [true, null]}], "e": {}, "f": []}, "g": "<&>"}\n'


def _sops_made(tmp_path: Path, name: str, plain: bytes) -> Path:
    r = run_sops("encrypt", "--age", RECIPIENT, "--filename-override", name, "/dev/stdin", input=plain)
    assert r.returncode == 0, r.stderr
    path = tmp_path / name
    path.write_bytes(r.stdout)
    return path


@pytest.mark.parametrize("indent", ["0", "1", "2", "3", "4", "7", "12"])
@pytest.mark.parametrize(("name", "plain"), [("s.yaml", INDENT_YAML), ("s.json", INDENT_JSON)])
def test_decrypt_with_indent_prints_what_sops_prints(tmp_path: Path, indent: str, name: str, plain: bytes) -> None:
    path = _sops_made(tmp_path, name, plain)
    # sops 3.11 honours --indent in its legacy form only (3.13 in every form; sopsy does too)
    want = run_sops("--indent", indent, "-d", str(path))
    got = run_sopsy("--indent", indent, "-d", str(path))
    assert want.returncode == 0, want.stderr
    assert got.stdout == want.stdout, got.stderr
    assert run_sopsy("--indent", indent, "decrypt", str(path)).stdout == want.stdout


def test_indent_changes_the_layout_and_output_types_follow(tmp_path: Path) -> None:
    path = _sops_made(tmp_path, "s.yaml", INDENT_YAML)
    plain = run_sopsy("decrypt", str(path)).stdout
    two = run_sops("--indent", "2", "-d", str(path)).stdout
    assert plain != two and two.startswith(b"# top: see http://example.test/#frag\na:\n  b: 1\n")
    for args in (["--output-type", "json"], ["--extract", '["a"]']):
        want = run_sops("--indent", "3", "-d", *args, str(path))
        assert want.returncode == 0, want.stderr
        assert run_sopsy("--indent", "3", "-d", *args, str(path)).stdout == want.stdout


@pytest.mark.parametrize(("name", "indent"), [("s.yaml", "-1"), ("s.json", "-2")])
def test_negative_indent_fails_as_in_sops(tmp_path: Path, name: str, indent: str) -> None:
    path = _sops_made(tmp_path, name, INDENT_YAML if name.endswith("yaml") else INDENT_JSON)
    want = run_sops("--indent", indent, "-d", str(path))
    got = run_sopsy("--indent", indent, "-d", str(path))
    assert want.returncode == got.returncode == 4
    assert got.stdout == b"" and len(got.stderr.splitlines()) == 1 and b"--indent" in got.stderr
    bad = run_sopsy("--indent", "x", "-d", str(path))
    assert bad.returncode == run_sops("--indent", "x", "-d", str(path)).returncode == 1


@pytest.mark.parametrize(("name", "plain"), [("p.yaml", INDENT_YAML.replace(b"# trailing", b"")),
                                             ("p.json", INDENT_JSON)])
def test_encrypt_with_indent_writes_sops_layout(tmp_path: Path, name: str, plain: bytes) -> None:
    (tmp_path / name).write_bytes(plain)
    want = run_sops("--indent", "2", "-e", "--age", RECIPIENT, str(tmp_path / name))
    got = run_sopsy("--indent", "2", "-e", "--age", RECIPIENT, str(tmp_path / name))
    assert want.returncode == 0 and got.returncode == 0, (want.stderr, got.stderr)
    # sops encrypts comments, sopsy keeps them readable: compare all but their text
    comments = re.compile(r"(?m)^( *)#.*$")
    assert comments.sub(r"\1#", _masked(got.stdout)) == comments.sub(r"\1#", _masked(want.stdout))
    (tmp_path / ("e" + name)).write_bytes(got.stdout)
    back = run_sops("--indent", "2", "-d", str(tmp_path / ("e" + name)))
    assert back.returncode == 0, back.stderr
    assert run_sopsy("decrypt", str(tmp_path / ("e" + name))).stdout == back.stdout


def test_edit_and_set_with_indent_write_sops_layout(tmp_path: Path) -> None:
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\nprintf "added: 1\\n" >> "$1"\n')
    editor.chmod(0o700)
    results = []
    for run, who in ((run_sops, "sops"), (run_sopsy, "sopsy")):
        path = _sops_made(tmp_path, f"{who}.yaml", INDENT_YAML.replace(b"# trailing", b""))
        r = run("--indent", "2", str(path), env={"EDITOR": str(editor), "SOPS_EDITOR": str(editor)})
        assert r.returncode == 0, r.stderr
        r = run("--indent", "2", "--set", '["a"]["new"] {"k": [1]}', str(path))
        assert r.returncode == 0, r.stderr
        results.append(_masked(path.read_bytes()))
    comments = re.compile(r"(?m)^( *)#.*$")
    assert comments.sub(r"\1#", results[1]) == comments.sub(r"\1#", results[0])


def test_a_hash_inside_a_comment_starts_no_second_comment() -> None:
    from sopsy.model import Comment
    from sopsy.stores.yaml import STORE

    doc = STORE.parse("# see http://x.test/#frag\nk: |\n  v\n# after the block#2\nj: 1 # on j#3\n").documents[0]
    comments = [(v.text, v.inline) for _, v in doc.items if isinstance(v, Comment)]
    # the one after the block scalar is a line of its own, not a comment on the block's line
    assert comments == [(" see http://x.test/#frag", False), (" after the block#2", False), (" on j#3", True)]

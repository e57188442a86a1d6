"""sops's layout where sopsy writes fresh YAML (the metadata block, format conversion, and
``--indent``): go-yaml v3's indentation, checked against the real sops on the same input."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import RECIPIENT, RECIPIENT2, run_sops, run_sopsy

# what differs between two encryptions of one file: ciphertexts, age blocks, times
_VARYING = re.compile(r"ENC\[[^\]]*\]|-----BEGIN AGE ENCRYPTED FILE-----[^-]*-----END AGE ENCRYPTED FILE-----"
                      r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_SOPSY_FIELDS = re.compile(r"^ *sopsy_\w+: .*\n", re.M)  # sopsy's own metadata (sops ignores it)
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

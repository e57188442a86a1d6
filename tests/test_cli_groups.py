"""`groups add` / `groups delete` (sops's key-group commands): the data key stays, values, MAC and
lastmodified are untouched, and the real sops reads the result."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import AGE_KEY, RECIPIENT, RECIPIENT2, TESTDATA, run_sops, run_sopsy

KEY2 = str(TESTDATA / "throwaway_age_key2.txt")


def _values(text: str) -> list[str]:
    """Everything outside the metadata block (the values, byte for byte)."""
    return [line for line in text.split("sops:")[0].splitlines()]


def test_add_then_delete_group_keeps_values_and_sops_reads_each_step(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("password: hunter2\nport: 5432\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    before = f.read_text()
    r = run_sopsy("groups", "add", "--file", str(f), "--age", RECIPIENT2, "-i")
    assert r.returncode == 0, r.stderr
    two = f.read_text()
    assert _values(two) == _values(before)
    assert re.search(r"^\s+mac: (.*)$", two, re.M).group(1) == re.search(r"^\s+mac: (.*)$", before, re.M).group(1)
    assert "key_groups:" in two and "shamir_threshold: 2" in two
    # both groups are needed now: one key alone does not open the file
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)}).returncode != 0
    assert run_sops("decrypt", str(f)).stdout == b"password: hunter2\nport: 5432\n"
    r = run_sopsy("groups", "delete", "--file", str(f), "-i", "--shamir-secret-sharing-threshold", "1", "0")
    assert r.returncode == 0, r.stderr
    one = f.read_text()
    assert "key_groups" not in one and RECIPIENT not in one and RECIPIENT2 in one
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": KEY2}).stdout == b"password: hunter2\nport: 5432\n"


def test_groups_prints_to_stdout_without_in_place(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text('{"a": "b"}\n')
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    before = f.read_bytes()
    r = run_sopsy("groups", "add", "-f", str(f), "--age", RECIPIENT2)
    assert r.returncode == 0, r.stderr
    assert f.read_bytes() == before and b'"key_groups"' in r.stdout


def test_delete_refuses_an_impossible_threshold_and_a_missing_group(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("a: b\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    assert run_sopsy("groups", "add", "-f", str(f), "--age", RECIPIENT2, "-i").returncode == 0
    before = f.read_bytes()
    r = run_sopsy("groups", "delete", "-f", str(f), "-i", "1")
    assert r.returncode == 1 and b"impossible to satisfy" in r.stderr
    r = run_sopsy("groups", "delete", "-f", str(f), "-i", "7")
    assert r.returncode == 1 and b"no group 7" in r.stderr
    r = run_sopsy("groups", "add", "-f", str(f), "-i")
    assert r.returncode == 1 and b"at least one key" in r.stderr
    assert f.read_bytes() == before
    assert run_sopsy("groups", "add", "-f", str(tmp_path / "none.yaml"), "--age", RECIPIENT).returncode == 100

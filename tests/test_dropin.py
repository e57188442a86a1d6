"""What tools that shell out to sops rely on: the version line, global flags before the
subcommand, config lookup from the working directory with input on /dev/stdin and
--filename-override, and sops's exit codes where they match on them. Each case runs the real
sops too, so the expectation is sops's behaviour, not sopsy's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import RECIPIENT, VECTORS, run_sops, run_sopsy

SOPS_VERSION = re.compile(rb"^sops (\d+)\.(\d+)\.(\d+)")  # what Ansible's community.sops parses


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_version_line_parses_as_sops(run) -> None:  # type: ignore[no-untyped-def]
    r = run("--version", "--disable-version-check")
    assert r.returncode == 0, r.stderr
    m = SOPS_VERSION.match(r.stdout)
    assert m and tuple(int(x) for x in m.groups()) >= (3, 9, 0)


def test_version_names_sopsy() -> None:
    out = run_sopsy("--version").stdout.decode()
    assert out.startswith("sops 3.11.0 ") and "sopsy" in out


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_config_found_from_cwd_for_stdin_with_filename_override(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: \\.json$\n    age: {RECIPIENT}\n")
    r = run("--config", str(tmp_path / ".sops.yaml"), "encrypt", "--filename-override", "x/secret.json",
            "/dev/stdin", input=b'{"a": "b"}', cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert b'"sops"' in r.stdout and RECIPIENT.encode() in r.stdout
    # without --config: found by searching up from the working directory
    (tmp_path / "sub").mkdir()
    r = run("encrypt", "--filename-override", "x/secret.json", "/dev/stdin", input=b'{"a": "b"}',
            cwd=str(tmp_path / "sub"))
    assert r.returncode == 0, r.stderr
    assert b'"sops"' in r.stdout and RECIPIENT.encode() in r.stdout
    enc = r.stdout
    r = run("decrypt", "--filename-override", "x/secret.json", "--output-type", "yaml", "/dev/stdin", input=enc)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"a: b\n"


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_keyservice_flags_before_the_subcommand_are_accepted(run) -> None:  # type: ignore[no-untyped-def]
    r = run("--enable-local-keyservice", "decrypt", "--extract", '["hello"]', str(VECTORS / "enc.yaml"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Welcome to SOPS!"


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_extract_of_a_missing_key_exits_1(run) -> None:  # type: ignore[no-untyped-def]
    r = run("decrypt", "--extract", '["nope"]', str(VECTORS / "enc.yaml"))
    assert r.returncode == 1 and r.stdout == b""
    assert b"component ['nope'] not found" in r.stderr
    r = run("decrypt", "--extract", '["nested"]["list"][9]', str(VECTORS / "enc.yaml"))
    assert r.returncode == 1 and b"out of bounds" in r.stderr
    r = run("decrypt", "--extract", "bad", str(VECTORS / "enc.yaml"))
    assert r.returncode == 91

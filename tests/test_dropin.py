"""What tools that shell out to sops rely on: the version line, global flags before the
subcommand, config lookup from the working directory with input on /dev/stdin and
--filename-override, and sops's exit codes where they match on them. Each case runs the real
sops too, so the expectation is sops's behaviour, not sopsy's."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize("enc", [run_sops, run_sopsy], ids=["sops-made", "sopsy-made"])
@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_json_tree_at_a_binary_path_decrypts_with_output_type(tmp_path: Path, enc, run) -> None:  # type: ignore[no-untyped-def]
    # Ansible's sops_encrypt: JSON content to a path without an extension (binary store),
    # later read back with `decrypt --output-type json PATH` to check for changes
    r = enc("encrypt", "--age", RECIPIENT, "--input-type", "json", "--filename-override", "test_json",
            "/dev/stdin", input=b'{"key1": "value1", "n": [1, 2]}', cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    (tmp_path / "test_json").write_bytes(r.stdout)
    r = run("decrypt", "--output-type", "json", str(tmp_path / "test_json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"key1": "value1", "n": [1, 2]}
    # as binary output it is no single value: sops's exit code for a tree it cannot write
    r = run("decrypt", str(tmp_path / "test_json"))
    assert r.returncode == 4 and r.stdout == b""


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_verbose_logs_the_data_key_recovery_in_the_legacy_form(run) -> None:  # type: ignore[no-untyped-def]
    # helm-secrets (--backend-args --verbose) matches on these sops log lines
    r = run("--verbose", "--decrypt", "--input-type", "yaml", "--output-type", "yaml", str(VECTORS / "enc.yaml"))
    assert r.returncode == 0, r.stderr
    assert re.search(rb'^\[AGE\]\t time="[^"]+" level=info msg="Decryption succeeded"$', r.stderr, re.M)
    assert re.search(rb'^\[SOPS\]\t time="[^"]+" level=info msg="Data key recovered successfully"$', r.stderr, re.M)
    assert b"hello: Welcome to SOPS!" in r.stdout
    r = run("-e", "--verbose", "--age", RECIPIENT, str(VECTORS / "plain.yaml"))
    assert r.returncode == 0, r.stderr
    assert f'level=info msg="Encryption succeeded" recipient={RECIPIENT}\n'.encode() in r.stderr


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_quiet_without_verbose(run) -> None:  # type: ignore[no-untyped-def]
    # wrappers such as npm's sops-wrapper treat any stderr output as a failure
    for args in (("-d", str(VECTORS / "enc.yaml")), ("decrypt", str(VECTORS / "enc.json")),
                 ("encrypt", "--age", RECIPIENT, str(VECTORS / "plain.yaml"))):
        r = run(*args)
        assert r.returncode == 0 and r.stderr == b"", (args, r.stderr)


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_legacy_edit_of_a_new_file_with_input_and_output_type(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    # helm-secrets' `helm secrets edit FILE` runs `sops --input-type yaml --output-type yaml FILE`
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\necho "hello: world" > "$1"\n')
    editor.chmod(0o755)
    env = {"EDITOR": str(editor), "SOPS_EDITOR": ""}
    r = run("--input-type", "yaml", "--output-type", "yaml", "nonexists", env=env, cwd=str(tmp_path))
    assert r.returncode == 1 and not (tmp_path / "nonexists").exists()
    assert b"config file not found, or has no creation rules, and no keys provided through command line options" \
        in r.stderr
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {RECIPIENT}\n")
    r = run("--input-type", "yaml", "--output-type", "yaml", "nonexists", env=env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    r = run_sops("decrypt", "--input-type", "yaml", "--output-type", "yaml", str(tmp_path / "nonexists"))
    assert r.returncode == 0 and r.stdout == b"hello: world\n", r.stderr


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
@pytest.mark.parametrize("name", ["out.json", "test_yaml"])
def test_output_format_follows_the_file_name_not_the_input_type(tmp_path: Path, run, name: str) -> None:  # type: ignore[no-untyped-def]
    # Ansible's sops_encrypt: YAML content, --input-type yaml, --filename-override NAME: sops
    # writes JSON for a .json name and for a name without an extension (its binary store)
    r = run("encrypt", "--age", RECIPIENT, "--input-type", "yaml", "--filename-override", name, "/dev/stdin",
            input=b"a: b\nnum: [1, 2]\n", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    enc = json.loads(r.stdout)
    assert set(enc) == {"a", "num", "sops"} and enc["a"].startswith("ENC[")
    (tmp_path / name).write_bytes(r.stdout)
    for reader in (run_sops, run_sopsy):
        r = reader("decrypt", "--output-type", "yaml", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        assert r.stdout == b"a: b\nnum:\n    - 1\n    - 2\n"
    # decrypting, the output format is the name's too
    r = run("decrypt", "--input-type", "yaml", "--filename-override", "x.json", str(VECTORS / "enc.yaml"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["hello"] == "Welcome to SOPS!"


@pytest.mark.parametrize("enc", [run_sops, run_sopsy], ids=["sops-made", "sopsy-made"])
def test_json_read_as_yaml_gives_yaml_when_yaml_is_asked_for(tmp_path: Path, enc) -> None:  # type: ignore[no-untyped-def]
    # Ansible's decrypt filter always passes --input-type yaml --output-type yaml, on stdin
    r = enc("encrypt", "--age", RECIPIENT, "--input-type", "json", "--filename-override", "test_yaml", "/dev/stdin",
            input=b'{"key1": "value1", "key2": ["value2.1", {"ok": true}]}', cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    outs = [run("decrypt", "--input-type", "yaml", "--output-type", "yaml", "/dev/stdin", input=r.stdout)
            for run in (run_sops, run_sopsy)]
    assert [o.returncode for o in outs] == [0, 0], [o.stderr for o in outs]
    assert outs[0].stdout == outs[1].stdout == b"key1: value1\nkey2:\n    - value2.1\n    - ok: true\n"


def test_every_sops_flag_is_known_to_sopsy() -> None:
    """Each option `sops CMD --help` lists is an option of `sopsy CMD` (or a global flag)."""
    import os

    global_flags = {"--enable-local-keyservice", "--keyservice"}
    env = {"COLUMNS": "250"}
    for cmd in (["encrypt"], ["decrypt"], ["edit"], ["rotate"], ["updatekeys"], ["set"], ["unset"], ["exec-env"],
                ["exec-file"], ["filestatus"], ["keyservice"], ["groups", "add"], ["groups", "delete"]):
        theirs = re.findall(r"^\s+(--[a-z-]+)", run_sops(*cmd, "--help").stdout.decode(), re.M)
        ours = run_sopsy(*cmd, "-h", env={**os.environ, **env}).stdout.decode()
        missing = [f for f in theirs if f not in global_flags and not re.search(re.escape(f) + r"\b", ours)]
        assert not missing, (cmd, missing)


def test_sops_flags_sopsy_cannot_honour_say_so(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\n")
    r = run_sopsy("encrypt", "--hckms", "region:key", str(f))
    assert r.returncode == 1 and r.stderr == b"sopsy: hckms keys are not supported by sopsy\n"


@pytest.mark.parametrize("run", [run_sops, run_sopsy], ids=["sops", "sopsy"])
def test_rotate_output_type_converts(tmp_path: Path, run) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "a.yaml"
    f.write_text("a: 1\nb: two\n")
    assert run("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    r = run("rotate", "--output-type", "json", str(f))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "a.json"
    out.write_bytes(r.stdout)
    assert run_sops("decrypt", str(out)).stdout == b'{\n\t"a": 1,\n\t"b": "two"\n}\n'


def test_completion_script_and_completions() -> None:
    import os
    import subprocess
    import sys

    script = run_sopsy("completion", "bash")
    assert script.returncode == 0 and b"_SOPSY_COMPLETE" in script.stdout
    exe = str(Path(sys.executable).with_name("sopsy"))
    env = {**os.environ, "COMP_WORDS": "sopsy decrypt --ig", "COMP_CWORD": "2", "_SOPSY_COMPLETE": "complete_bash"}
    out = subprocess.run([exe], env=env, capture_output=True, check=False)
    assert out.stdout.split() == [b"--ignore-mac"]
    assert run_sopsy("completion", "tcsh").returncode == 1

"""Issue 4 through the command line: creation rules, Shamir groups, KMS, updatekeys, exec-env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import RECIPIENT, RECIPIENT2, TESTDATA, run_sops, run_sopsy
from support.moto_server import create_key, moto_server, sops_env

KEY1 = str(TESTDATA / "throwaway_age_key.txt")
KEY2 = str(TESTDATA / "throwaway_age_key2.txt")


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_creation_rule_from_the_files_directory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "prod").mkdir(parents=True)
    (repo / ".sopsy.yaml").write_text(textwrap.dedent(f"""\
        creation_rules:
          - path_regex: ^prod/
            age: {RECIPIENT2}
            encrypted_regex: ^password$
          - age: {RECIPIENT}
    """))
    f = repo / "prod" / "db.yaml"
    f.write_text("user: admin\npassword: hunter2\n")
    # run from elsewhere: the rule is found from the file's own directory, as git drivers need
    r = run_sopsy("encrypt", "-i", str(f), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    text = f.read_text()
    assert RECIPIENT2 in text and RECIPIENT not in text
    assert "user: admin" in text and "hunter2" not in text and "encrypted_regex: ^password$" in text
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": KEY2}).stdout == b"user: admin\npassword: hunter2\n"


def test_no_matching_rule_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - path_regex: \\.json$\n    age: {RECIPIENT}\n")
    f = tmp_path / "a.yaml"
    f.write_text("k: v\n")
    r = run_sopsy("encrypt", str(f))
    assert r.returncode == 1 and r.stdout == b""
    assert "no matching creation rule" in r.stderr.decode() and len(r.stderr.splitlines()) == 1


def test_shamir_groups_from_config_decrypt_with_sops(tmp_path: Path) -> None:
    (tmp_path / ".sopsy.yaml").write_text(textwrap.dedent(f"""\
        creation_rules:
          - shamir_threshold: 2
            key_groups:
              - age: [{RECIPIENT}]
              - age: [{RECIPIENT2}]
    """))
    f = tmp_path / "s.yaml"
    f.write_text("secret: value\n")
    assert run_sopsy("encrypt", "-i", str(f)).returncode == 0
    meta = yaml.safe_load(f.read_text())["sops"]
    assert meta["shamir_threshold"] == 2 and len(meta["key_groups"]) == 2
    both = str(TESTDATA / "throwaway_age_keys_both.txt")
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": both}).stdout == b"secret: value\n"
    # one share is not enough: every key tried is listed, exit 128
    r = run_sopsy("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": KEY1})
    assert r.returncode == 128 and r.stdout == b"" and "group 1" in r.stderr.decode()


def test_updatekeys_rewraps_and_keeps_values(tmp_path: Path) -> None:
    cfg = tmp_path / ".sops.yaml"
    cfg.write_text(f"creation_rules:\n  - age: {RECIPIENT}\n")
    f = tmp_path / "u.yaml"
    f.write_text("a: one\nb: 2\n")
    assert run_sopsy("encrypt", "-i", str(f)).returncode == 0
    before = f.read_text()
    cfg.write_text(f"creation_rules:\n  - age: {RECIPIENT},{RECIPIENT2}\n")
    r = run_sopsy("updatekeys", "-y", str(f))
    assert r.returncode == 0, r.stderr
    assert f"+ age {RECIPIENT2}" in r.stderr.decode() and "one" not in r.stderr.decode()
    after = f.read_text()
    keep = [ln for ln in before.splitlines() if ln.startswith(("a:", "b:")) or "lastmodified" in ln or "mac:" in ln]
    assert keep and all(ln in after.splitlines() for ln in keep)
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": KEY2}).stdout == b"a: one\nb: 2\n"
    # the answer comes from standard input, a terminal or not (as in sops); none at all is an error
    cfg.write_text(f"creation_rules:\n  - age: {RECIPIENT2}\n")
    snapshot = f.read_bytes()
    r = run_sopsy("updatekeys", str(f), input=b"")
    assert r.returncode == 1 and "use -y" in r.stderr.decode() and f.read_bytes() == snapshot
    r = run_sopsy("updatekeys", str(f), input=b"n\n")
    assert r.returncode == 0 and "left unchanged" in r.stderr.decode() and f.read_bytes() == snapshot
    assert "apply these changes? (y/n) n\n" in r.stderr.decode()  # a piped answer ends the question's line
    r = run_sopsy("updatekeys", str(f), input=b"maybe\ny\n")
    assert r.returncode == 0, r.stderr
    assert RECIPIENT not in f.read_text() and RECIPIENT2 in f.read_text()
    # a removal keeps the data key: the removed key still opens earlier copies, and that is said
    assert "still opens every earlier copy" in r.stderr.decode() and "--rotate" in r.stderr.decode()


def test_updatekeys_rotate_makes_a_new_data_key(tmp_path: Path) -> None:
    cfg = tmp_path / ".sops.yaml"
    cfg.write_text(f"creation_rules:\n  - age: {RECIPIENT},{RECIPIENT2}\n")
    f = tmp_path / "u.yaml"
    f.write_text("a: one\nb: 2\n")
    assert run_sopsy("encrypt", "-i", str(f)).returncode == 0
    old_copy = f.read_bytes()
    cfg.write_text(f"creation_rules:\n  - age: {RECIPIENT2}\n")
    r = run_sopsy("updatekeys", "-y", "--rotate", str(f))
    assert r.returncode == 0, r.stderr
    new = f.read_text()
    assert RECIPIENT not in new and "still opens" not in r.stderr.decode()
    # every value has new ciphertext: nothing the old data key encrypted is left
    old_values = {ln for ln in old_copy.decode().splitlines() if ln.startswith(("a:", "b:"))}
    assert old_values and not old_values & set(new.splitlines())
    # the removed key opens the old copy but not the new file
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": KEY1}).returncode != 0
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": KEY2}).stdout == b"a: one\nb: 2\n"


def test_exec_env_passes_values_and_exit_code(tmp_path: Path) -> None:
    f = tmp_path / "app.env"
    f.write_text('DB_PASS="s3cret value"\nexport TOKEN=abc # comment\n')
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    r = run_sopsy("exec-env", str(f), 'printf "%s|%s" "$DB_PASS" "$TOKEN"; exit 7')
    assert r.returncode == 7 and r.stdout == b"s3cret value|abc"
    y = tmp_path / "flat.yaml"
    y.write_text("PORT: 5432\nDEBUG: true\nNAME: x\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(y)).returncode == 0
    r = run_sopsy("exec-env", "--pristine", str(y), 'printf "%s %s %s" "$PORT" "$DEBUG" "${HOME:-unset}"')
    assert r.stdout == b"5432 true unset"


def test_kms_through_the_cli_both_ways_with_sops(moto: str, tmp_path: Path) -> None:
    arn = create_key(moto)
    env = {**sops_env(moto), "SOPS_AGE_KEY_FILE": "/nonexistent"}
    f = tmp_path / "k.yaml"
    f.write_text("token: abc\n")
    r = run_sopsy("encrypt", "--kms", arn, "--encryption-context", "app:web", "-i", str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert run_sops("decrypt", str(f), env=env).stdout == b"token: abc\n"
    g = tmp_path / "g.yaml"
    g.write_text("token: xyz\n")
    assert run_sops("encrypt", "--kms", arn, "-i", str(g), env=env).returncode == 0
    assert run_sopsy("decrypt", str(g), env=env).stdout == b"token: xyz\n"


def test_age_file_does_not_import_cloud_sdks(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("k: v\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    code = textwrap.dedent(f"""
        import sys, io
        from sopsy.cli import app
        app(args=["decrypt", "--output", {os.devnull!r}, {str(f)!r}], standalone_mode=False)
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore", "google", "grpc", "pkcs11"))))
    """)
    r = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True,
                       env={**os.environ, "SOPS_AGE_KEY_FILE": KEY1}, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == []


def test_decryption_order_duplicate_is_112(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("k: v\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    assert run_sopsy("decrypt", "--decryption-order", "age,age", str(f)).returncode == 112
    assert run_sopsy("decrypt", "--decryption-order", "kms,age", str(f)).stdout == b"k: v\n"


def test_rotate_adds_and_removes_kms(moto: str, tmp_path: Path) -> None:
    arn = create_key(moto)
    env = sops_env(moto)
    f = tmp_path / "r.yaml"
    f.write_text("a: secret\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    r = run_sopsy("rotate", "-i", "--add-kms", arn, str(f), env={**env, "SOPS_AGE_KEY_FILE": KEY1})
    assert r.returncode == 0, r.stderr
    # the KMS key alone now opens the file, for sopsy and for sops
    kms_only = {**env, "SOPS_AGE_KEY_FILE": os.devnull}
    assert run_sopsy("decrypt", str(f), env=kms_only).stdout == b"a: secret\n"
    assert run_sops("decrypt", str(f), env=kms_only).stdout == b"a: secret\n"
    r = run_sopsy("rotate", "-i", "--rm-kms", arn, str(f), env={**env, "SOPS_AGE_KEY_FILE": KEY1})
    assert r.returncode == 0 and arn not in f.read_text()
    assert run_sopsy("decrypt", str(f), env=kms_only).returncode == 128

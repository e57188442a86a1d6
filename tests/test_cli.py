"""The command line as users and scripts see it: exit codes, files, edit, start-up cost."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import RECIPIENT, RECIPIENT2, TESTDATA, run_sops, run_sopsy

PLAIN = "# config\ndb:\n  user: admin\n  password: hunter2\nport: 5432\n"


@pytest.fixture()
def enc_file(tmp_path: Path) -> Path:
    f = tmp_path / "secrets.yaml"
    f.write_text(PLAIN)
    r = run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f))
    assert r.returncode == 0, r.stderr
    return f


def test_encrypt_decrypt_in_place_and_stdout(enc_file: Path) -> None:
    text = enc_file.read_text()
    assert "hunter2" not in text and "sops:" in text
    out = run_sopsy("decrypt", str(enc_file))
    assert out.returncode == 0 and out.stdout.decode() == PLAIN
    assert run_sops("decrypt", str(enc_file)).returncode == 0


def test_stdin_with_input_type() -> None:
    enc = run_sopsy("encrypt", "--age", RECIPIENT, "--input-type", "yaml", input=PLAIN.encode())
    assert enc.returncode == 0, enc.stderr
    dec = run_sopsy("decrypt", "--input-type", "yaml", "-", input=enc.stdout)
    assert dec.stdout.decode() == PLAIN


def test_sops_age_recipients_env(tmp_path: Path) -> None:
    f = tmp_path / "a.yaml"
    f.write_text("k: v\n")
    r = run_sopsy("encrypt", str(f), env={"SOPS_AGE_RECIPIENTS": f"{RECIPIENT},{RECIPIENT2}"})
    assert r.returncode == 0
    assert r.stdout.decode().count("recipient:") == 2


def test_extract(enc_file: Path) -> None:
    r = run_sopsy("decrypt", "--extract", '["db"]["password"]', str(enc_file))
    assert r.returncode == 0 and r.stdout == b"hunter2"
    assert run_sopsy("decrypt", "--extract", '["port"]', str(enc_file)).stdout == b"5432\n"
    bad = run_sopsy("decrypt", "--extract", "db.password", str(enc_file))
    assert bad.returncode == 91 and bad.stdout == b""


def test_output_type_json(enc_file: Path) -> None:
    r = run_sopsy("decrypt", "--output-type", "json", str(enc_file))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"db": {"user": "admin", "password": "hunter2"}, "port": 5432}


@pytest.mark.parametrize("args,code", [
    (["decrypt", "missing.yaml"], 100),
    (["encrypt", "--age", RECIPIENT, "missing.yaml"], 100),
])
def test_exit_codes_for_missing_files(tmp_path: Path, args: list[str], code: int) -> None:
    r = run_sopsy(*args, cwd=str(tmp_path))
    assert r.returncode == code
    assert len(r.stderr.decode().strip().splitlines()) == 1 and b"Traceback" not in r.stderr


def test_already_encrypted_203(enc_file: Path) -> None:
    before = enc_file.read_bytes()
    r = run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(enc_file))
    assert r.returncode == 203 and enc_file.read_bytes() == before


def test_no_key_128(enc_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    other.write_text((TESTDATA / "throwaway_age_key2.txt").read_text())
    r = run_sopsy("decrypt", str(enc_file), env={"SOPS_AGE_KEY_FILE": str(other)})
    assert r.returncode == 128 and r.stdout == b""
    assert "age" in r.stderr.decode() and len(r.stderr.decode().strip().splitlines()) == 1


def test_mac_mismatch_51_and_ignore_mac(enc_file: Path) -> None:
    enc_file.write_text(enc_file.read_text().replace("port: ENC[", "port: ENC[", 1).replace(
        "# config", "# config").replace("5432", "5433"))
    text = enc_file.read_text()
    # port is encrypted, so tamper with the plaintext comment-free value path instead: swap db values
    lines = text.splitlines(keepends=True)
    u = next(i for i, line in enumerate(lines) if line.lstrip().startswith("user:"))
    p = next(i for i, line in enumerate(lines) if line.lstrip().startswith("password:"))
    uv, pv = lines[u].split(": ", 1)[1], lines[p].split(": ", 1)[1]
    lines[u] = lines[u].split(": ", 1)[0] + ": " + pv
    lines[p] = lines[p].split(": ", 1)[0] + ": " + uv
    enc_file.write_text("".join(lines))
    r = run_sopsy("decrypt", str(enc_file))
    assert r.returncode == 25 and r.stdout == b""  # the AAD binds each value to its key


def test_edited_plaintext_value_is_a_mac_mismatch(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("a: secret\nb_unencrypted: visible\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    f.write_text(f.read_text().replace("visible", "changed"))
    r = run_sopsy("decrypt", str(f))
    assert r.returncode == 51 and r.stdout == b""
    ok = run_sopsy("decrypt", "--ignore-mac", str(f))
    assert ok.returncode == 0 and b"changed" in ok.stdout


def test_garbage_inputs_one_line_errors(tmp_path: Path) -> None:
    for name, content in [("e.yaml", b""), ("g.yaml", b"\x00\xff: [\n"), ("t.yaml", b"a: ENC[AES256_GCM,data:x")]:
        f = tmp_path / name
        f.write_bytes(content)
        r = run_sopsy("decrypt", str(f))
        assert r.returncode != 0 and r.stdout == b""
        assert len(r.stderr.decode().strip().splitlines()) == 1 and b"Traceback" not in r.stderr
    assert run_sopsy("decrypt", str(tmp_path / "e.yaml")).returncode == 92


def test_in_place_failure_leaves_file_untouched(enc_file: Path, tmp_path: Path) -> None:
    before = enc_file.read_bytes()
    other = tmp_path / "k2.txt"
    other.write_text((TESTDATA / "throwaway_age_key2.txt").read_text())
    r = run_sopsy("decrypt", "-i", str(enc_file), env={"SOPS_AGE_KEY_FILE": str(other)})
    assert r.returncode == 128 and enc_file.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sopsy-")] == []


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.py"
    script.write_text(textwrap.dedent(body))
    return f"{sys.executable} {script}"


def test_edit_changes_one_value_and_cleans_up(enc_file: Path, tmp_path: Path) -> None:
    record = tmp_path / "seen.json"
    editor = _editor(tmp_path, f"""
        import json, os, stat, sys
        p = sys.argv[1]
        d = os.path.dirname(p)
        json.dump({{"path": p, "mode": stat.S_IMODE(os.stat(p).st_mode),
                   "dirmode": stat.S_IMODE(os.stat(d).st_mode)}}, open({str(record)!r}, "w"))
        text = open(p).read().replace("hunter2", "correct horse")
        open(p, "w").write(text)
    """)
    before = enc_file.read_text().splitlines()
    r = run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": editor, "EDITOR": ""})
    assert r.returncode == 0, r.stderr
    seen = json.loads(record.read_text())
    assert seen["mode"] == 0o600 and seen["dirmode"] == 0o700
    assert not os.path.exists(seen["path"]) and not os.path.exists(os.path.dirname(seen["path"]))
    after = enc_file.read_text().splitlines()
    changed = {a.strip().split(":")[0] for a, b in zip(before, after, strict=True) if a != b}
    assert changed <= {"password", "lastmodified", "mac"} and "password" in changed
    assert yaml.safe_load(run_sopsy("decrypt", str(enc_file)).stdout)["db"]["password"] == "correct horse"


def test_edit_without_change_is_200_and_editor_failure_keeps_file(enc_file: Path, tmp_path: Path) -> None:
    before = enc_file.read_bytes()
    noop = _editor(tmp_path, "import sys\n")
    assert run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": noop}).returncode == 200
    fail = _editor(tmp_path, "import sys\nopen(sys.argv[1], 'w').write('x: 1')\nsys.exit(3)\n")
    r = run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": fail})
    assert r.returncode != 0 and enc_file.read_bytes() == before


def test_edit_invalid_yaml_without_terminal_fails_cleanly(enc_file: Path, tmp_path: Path) -> None:
    before = enc_file.read_bytes()
    bad = _editor(tmp_path, "import sys\nopen(sys.argv[1], 'w').write('a: [unclosed\\n')\n")
    r = run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": bad})
    assert r.returncode == 2 and enc_file.read_bytes() == before


def test_rotate_add_and_remove_age(enc_file: Path) -> None:
    r = run_sopsy("rotate", "-i", "--add-age", RECIPIENT2, str(enc_file))
    assert r.returncode == 0, r.stderr
    assert RECIPIENT2 in enc_file.read_text()
    only2 = run_sopsy("decrypt", str(enc_file), env={"SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_key2.txt")})
    assert only2.stdout.decode() == PLAIN
    r = run_sopsy("rotate", "-i", "--rm-age", RECIPIENT, str(enc_file))
    assert r.returncode == 0 and RECIPIENT not in enc_file.read_text()
    assert run_sops("decrypt", str(enc_file), env={"SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_key2.txt")}).returncode == 0


@pytest.mark.parametrize("flag", ["--output", "-o"])  # -o as age-keygen spells it
def test_keygen_makes_a_working_identity(tmp_path: Path, flag: str) -> None:
    key = tmp_path / "keys.txt"
    r = run_sopsy("keygen", flag, str(key))
    assert r.returncode == 0 and stat.S_IMODE(key.stat().st_mode) == 0o600
    public = next(line.split(": ")[1] for line in key.read_text().splitlines() if line.startswith("# public key"))
    f = tmp_path / "n.yaml"
    f.write_text("k: v\n")
    assert run_sopsy("encrypt", "--age", public, "-i", str(f)).returncode == 0
    assert run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(key)}).stdout == b"k: v\n"


def test_decrypt_path_imports_no_heavy_sdk(enc_file: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from sopsy import commands
        commands.decrypt({str(enc_file)!r}, output={os.devnull!r})
        heavy = [m for m in ("boto3", "botocore", "google.cloud.kms", "grpc", "pkcs11", "typer", "click",
                             "sopsy.keys.pgp", "sopsy.keys.age_pq", "sopsy.keys.age_plugin",
                             "cryptography.hazmat.primitives.hpke", "cryptography.hazmat.primitives.asymmetric.mlkem")
                 if m in sys.modules]
        print(",".join(heavy))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_key.txt")}, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_filestatus(enc_file: Path, tmp_path: Path) -> None:
    assert run_sopsy("filestatus", str(enc_file)).stdout.strip() == b'{"encrypted":true}'
    p = tmp_path / "p.yaml"
    p.write_text("a: 1\n")
    assert run_sopsy("filestatus", str(p)).stdout.strip() == b'{"encrypted":false}'


def test_edit_invalid_yaml_on_a_terminal_reopens_the_editor(enc_file: Path, tmp_path: Path) -> None:
    """On a terminal, a broken edit is not lost: the error is shown and the same file reopens."""
    import pty
    import select

    count = tmp_path / "count"
    editor = _editor(tmp_path, f"""
        import os, sys
        n = int(open({str(count)!r}).read()) if os.path.exists({str(count)!r}) else 0
        open({str(count)!r}, "w").write(str(n + 1))
        text = open(sys.argv[1]).read()
        if n == 0:
            open(sys.argv[1], "w").write(text + "broken: [unclosed\\n")
        else:
            assert "broken: [unclosed" in text  # the user's previous edit is still there
            open(sys.argv[1], "w").write(text.replace("broken: [unclosed", "fixed: done"))
    """)
    env = {**os.environ, "SOPS_EDITOR": editor, "SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_keys_both.txt")}
    pid, fd = pty.fork()
    if pid == 0:  # child: run sopsy on the pseudo-terminal
        os.execvpe(sys.executable, [sys.executable, "-m", "sopsy", "edit", str(enc_file)], env)
    output = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Press Enter" in output:
            os.write(fd, b"\n")
            answered = True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert answered and b"invalid YAML" in output
    assert count.read_text() == "2"
    data = yaml.safe_load(run_sopsy("decrypt", str(enc_file)).stdout)
    assert data["fixed"] == "done" and data["db"]["password"] == "hunter2"


def test_sops_legacy_global_form(enc_file: Path, tmp_path: Path) -> None:
    """Scripts written for `sops -d FILE` / `sops -e FILE` keep working."""
    assert run_sopsy("-d", str(enc_file)).stdout.decode() == PLAIN
    assert run_sopsy("--decrypt", "--extract", '["port"]', str(enc_file)).stdout == b"5432\n"
    f = tmp_path / "legacy.yaml"
    f.write_text("k: v\n")
    assert run_sopsy("-e", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    assert run_sops("decrypt", str(f)).stdout == b"k: v\n"


def test_output_to_a_device_writes_through_it(enc_file: Path, tmp_path: Path) -> None:
    """--output /dev/null (or a FIFO) must write to the device, never rename a file over it."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading

    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run_sopsy("decrypt", "--output", str(fifo), str(enc_file))
    reader.join(10)
    assert r.returncode == 0 and got == [PLAIN.encode()]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_output_into_a_missing_directory_is_exit_3(enc_file: Path, tmp_path: Path) -> None:
    r = run_sopsy("decrypt", "--output", str(tmp_path / "missing" / "out.yaml"), str(enc_file))
    assert r.returncode == 3 and r.stdout == b""
    assert len(r.stderr.decode().strip().splitlines()) == 1 and b"Traceback" not in r.stderr

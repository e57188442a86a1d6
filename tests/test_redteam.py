"""Checks from the red-team run (docs/redteam.md): each failed before its fix."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import RECIPIENT, run_sops, run_sopsy


def _encrypted(tmp_path: Path, name: str = "s.yaml", text: str = "a: s3cretA\nb:\n  c: s3cretC\n") -> Path:
    plain = tmp_path / ("plain-" + name)
    plain.write_text(text)
    proc = run_sopsy("encrypt", "--age", RECIPIENT, str(plain))
    assert proc.returncode == 0, proc.stderr
    plain.unlink()
    out = tmp_path / name
    out.write_bytes(proc.stdout)
    return out


@pytest.mark.parametrize("rule", ["unencrypted_regex: ^n$", "unencrypted_suffix: _x",
                                  "unencrypted_regex: ^[^abc]"])
def test_crypt_rule_added_to_metadata_is_refused(tmp_path: Path, rule: str) -> None:
    """An attacker adds a crypt rule that matches no existing key (values and MAC stay valid;
    `^[^abc]` matches every key but the file's own): the next `set` of a new key must not write
    it in plaintext."""
    f = _encrypted(tmp_path)
    text = f.read_text()
    assert "    unencrypted_suffix: _unencrypted\n" in text
    f.write_text(text.replace("    unencrypted_suffix: _unencrypted\n", f"    {rule}\n"))
    before = f.read_bytes()
    proc = run_sopsy("set", str(f), '["n"]', '"s3cretNEW"')
    assert proc.returncode == 51, proc.stderr
    assert b"crypt rule" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert f.read_bytes() == before
    assert run_sopsy("decrypt", str(f)).returncode == 51
    assert run_sopsy("decrypt", "--ignore-mac", str(f)).returncode == 0


def test_rule_tag_is_invisible_to_sops(tmp_path: Path) -> None:
    """The tag lives in the MAC's IV: sops still reads and writes the file, and a file sops
    wrote last (random IV) is accepted as before."""
    f = _encrypted(tmp_path)
    assert run_sops("decrypt", str(f)).returncode == 0
    assert run_sops("set", str(f), '["d"]', '"v"').returncode == 0
    proc = run_sopsy("decrypt", str(f))
    assert proc.returncode == 0 and b"d: v" in proc.stdout
    assert run_sopsy("set", str(f), '["e"]', '"w"').returncode == 0
    assert b"e: w" in run_sops("decrypt", str(f)).stdout


@pytest.mark.parametrize("text", ["? [x, y]\n: s3cret\n", "{[x, y]: s3cret}\n", "a: 1\n? {b: c}\n: s3cret\n"])
def test_yaml_collection_as_key_is_a_clear_error(tmp_path: Path, text: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    proc = run_sopsy("encrypt", "--age", RECIPIENT, str(f))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(b"sopsy: " + bytes(f) + b": invalid YAML: line ") and b"mapping key" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert b"s3cret" not in proc.stderr and not proc.stdout


def test_yaml_integer_beyond_python_digit_limit(tmp_path: Path) -> None:
    """A 5,000-digit plain integer: a string for go-yaml (and sops), not an internal error."""
    f = tmp_path / "n.yaml"
    f.write_text("a: " + "9" * 5000 + "\nb: 0x" + "0" * 5000 + "1\n")
    proc = run_sopsy("encrypt", "--age", RECIPIENT, str(f))
    assert proc.returncode == 0, proc.stderr
    ref = run_sops("encrypt", "--age", RECIPIENT, str(f))
    for out in (proc.stdout, ref.stdout):
        lines = out.splitlines()
        assert lines[0].endswith(b"type:str]") and lines[1].endswith(b"type:int]")
    enc = tmp_path / "n.enc.yaml"
    enc.write_bytes(ref.stdout)
    out = run_sopsy("decrypt", str(enc))
    assert out.returncode == 0 and out.stdout.startswith(b"a: 99999"), out.stderr


def _drip_server() -> tuple[socket.socket, threading.Event]:
    """An HTTP server that answers one byte every 0.2 s: a per-read timeout never fires."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 1000:
                    if stop.wait(0.2):
                        break
                    conn.sendall(bytes([b]))

    threading.Thread(target=serve, daemon=True).start()
    return srv, stop


def test_vault_that_drips_its_answer_hits_the_whole_request_timeout(tmp_path: Path) -> None:
    srv, stop = _drip_server()
    try:
        f = _encrypted(tmp_path)
        text = re.sub(r"    age:\n(?:        .*\n)+",
                      f"    hc_vault:\n        - vault_address: http://127.0.0.1:{srv.getsockname()[1]}\n"
                      "          engine_path: transit\n          key_name: k\n"
                      '          created_at: "2024-01-01T00:00:00Z"\n          enc: vault:v1:abc\n', f.read_text())
        f.write_text(text)
        env = {"VAULT_TOKEN": "t", "VAULT_CLIENT_TIMEOUT": "1", "VAULT_MAX_RETRIES": "0"}
        try:
            proc = subprocess.run([sys.executable, "-m", "sopsy", "decrypt", str(f)], capture_output=True,
                                  env={**os.environ, **env}, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail("sopsy still waiting for the dripping Vault after 60 s (VAULT_CLIENT_TIMEOUT=1)")
        assert proc.returncode == 128, proc.stderr
        assert b"did not answer within 1 s" in proc.stderr
    finally:
        stop.set()
        srv.close()


def test_oversized_age_enc_is_refused_before_pyrage(tmp_path: Path) -> None:
    """pyrage parses an age header in time quadratic in its size (a 1 MB stanza: minutes);
    sops (Go age) is linear. An enc field no wrapped data key can reach is refused at once."""
    import base64

    f = _encrypted(tmp_path)
    body = base64.b64encode(b"A" * 48 * 20000).decode().rstrip("=")
    raw = (b"age-encryption.org/v1\n-> foo\n" + "".join(body[i:i + 64] + "\n" for i in range(0, len(body), 64)).encode()
           + b"--- " + b"A" * 43 + b"\n")
    armored = base64.b64encode(raw).decode()
    # the enc block as sops (go-yaml) lays it out: its lines at the next multiple of 4 after `enc:`
    lines = "".join("            " + armored[i:i + 64] + "\n" for i in range(0, len(armored), 64))
    enc = ("          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n" + lines
           + "            -----END AGE ENCRYPTED FILE-----\n")
    before = f.read_text()
    f.write_text(re.sub(r"          enc: \|\n(?:            .*\n)+", lambda _: enc, before))
    assert f.read_text() != before
    try:
        proc = subprocess.run([sys.executable, "-m", "sopsy", "decrypt", str(f)], capture_output=True,
                              env=os.environ, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("sopsy still parsing a 1.3 MB age header after 60 s")
    assert proc.returncode == 128, proc.stderr
    assert b"enc field is" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_crypt_rule_regex_runs_in_linear_time(tmp_path: Path) -> None:
    """sops runs a file's crypt-rule regex on RE2 (Go); a backtracking engine would hang every
    decrypt and `git diff` of a file whose metadata says `encrypted_regex: ^(a|a)*$`."""
    plain = tmp_path / "p.yaml"
    plain.write_text("a" * 60 + "b: s3cret\n")
    made = run_sops("encrypt", "--age", RECIPIENT, str(plain))  # sops's MAC: no sopsy rule tag
    assert made.returncode == 0
    f = tmp_path / "f.yaml"
    f.write_bytes(made.stdout.replace(b"    unencrypted_suffix: _unencrypted\n", b"    encrypted_regex: ^(a|a)*$\n"))
    assert b"encrypted_regex" in f.read_bytes()
    for args in (("decrypt", str(f)), ("git", "textconv", str(f))):
        try:
            proc = subprocess.run([sys.executable, "-m", "sopsy", *args], capture_output=True, env=os.environ,
                                  timeout=60, check=False)
        except subprocess.TimeoutExpired:
            pytest.fail(f"sopsy {args[0]} still matching ^(a|a)*$ after 60 s")
        assert proc.returncode == (51 if args[0] == "decrypt" else 0), proc.stderr
        assert b"s3cret" not in proc.stdout


@pytest.mark.parametrize("regex", ["^(?!a)", "(?<=x)y", "\\1", "a{1001}", "a{99999999999}", "a{2,5000}"])
def test_regex_sops_cannot_compile_is_refused(tmp_path: Path, regex: str) -> None:
    """Lookarounds and backreferences are Python-only syntax that Go's RE2 cannot compile, and Go
    refuses a repeat count over 1000 (RE2's Python binding would read an overflowing one as
    literal text). (sops
    itself writes such a rule into the file and then matches nothing with it, so an
    encrypted_regex encrypts no value: sopsy refuses the option instead.)"""
    plain = tmp_path / "p.yaml"
    plain.write_text("a: 1\n")
    proc = run_sopsy("encrypt", "--age", RECIPIENT, "--encrypted-regex", regex, str(plain))
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(b"sopsy: --encrypted-regex: not a valid regular expression")
    assert proc.stdout == b""


@pytest.mark.parametrize("regex", ["\\C", "[\\C]", "(?i)x|\\C", "\\Qa\\E\\C"])
def test_any_byte_escape_go_refuses_is_refused(tmp_path: Path, regex: str) -> None:
    """RE2 takes `\\C` (any byte); Go's regexp refuses it. Taken, `--unencrypted-regex '\\C'`
    matched every key and left every value in plaintext (sops encrypts them all)."""
    plain = tmp_path / "p.yaml"
    plain.write_text("a: s3cret\n")
    proc = run_sopsy("encrypt", "--age", RECIPIENT, "--unencrypted-regex", regex, str(plain))
    assert proc.returncode == 1 and b"s3cret" not in proc.stdout, proc.stdout
    assert proc.stderr == b"sopsy: --unencrypted-regex: not a valid regular expression: invalid escape sequence: `\\C`\n"
    # a literal \C between \Q and \E is no escape, and matches nothing here
    ok = run_sopsy("encrypt", "--age", RECIPIENT, "--unencrypted-regex", "\\Q\\C\\E", str(plain))
    assert ok.returncode == 0 and b"s3cret" not in ok.stdout, ok.stderr


def test_hostile_file_names_in_a_tree_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """`decrypt -r`, `status` and `check` name files they found in a tree (a cloned repository):
    an escape sequence or a newline in a name is written escaped, as git quotes such names."""
    tree = tmp_path / "t"
    tree.mkdir()
    plain = tmp_path / "p.yaml"
    plain.write_text("a: s3cret\n")
    enc = run_sopsy("encrypt", "--age", RECIPIENT, str(plain)).stdout
    name = "evil\x1b[2J\x1b[31mname\nsopsy: all fine.yaml"
    (tree / name).write_bytes(enc.replace(b"data:", b"data:AA", 1))
    (tree / "plain\x1b]0;title\x07.yaml").write_text("a: 1\n")
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {RECIPIENT}\n")  # covers the plain file
    runs = [run_sopsy("decrypt", "-r", str(tree), "--output-dir", str(tmp_path / "out")),
            run_sopsy("status", str(tree)), run_sopsy("check", str(tree), cwd=str(tmp_path))]
    for r in runs:
        out = r.stdout + r.stderr
        assert b"\x1b" not in out and b"\x07" not in out, out
        assert b"\nsopsy: all fine" not in out
    for r in runs[:2]:
        assert b"evil\\x1b[2J\\x1b[31mname\\x0asopsy: all fine.yaml" in r.stdout + r.stderr
    assert b"plain\\x1b]0;title\\x07.yaml: not encrypted" in runs[2].stderr, runs[2].stderr


def test_compiled_crypt_rules_are_not_all_kept() -> None:
    """`decrypt -r` over a tree whose files each carry another regex in their metadata: a
    compiled program can take megabytes (300 files of `(?:\\pL|\\pN){300}` took 1 GB when every
    one was kept; 180 MB now), so the cache is bounded, the re2 module's own cache included."""
    import re2

    from sopsy import rules

    for i in range(3 * rules._CACHE_SIZE):
        assert rules.go_search(rules.go_regex(f"^k{i}x$"), f"k{i}x")
    assert len(rules._COMPILED) <= rules._CACHE_SIZE
    assert re2._Regexp._make.cache_info().currsize <= rules._CACHE_SIZE

"""decrypt --output-dir / -r: many files in one process, through the real command line."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RECIPIENT, run_sops, run_sopsy
from support.moto_server import REQUESTS, create_key, moto_server, sops_env

import sopsy

FILES = {
    "app.yaml": ("yaml", "db:\n  password: hunter2  # note\nport: 5432\n"),
    "conf/settings.json": ("json", '{\n  "token": "abc",\n  "n": [1, 2]\n}\n'),
    "conf/deep/.env": ("dotenv", 'A="x y"\nexport B=2\n'),
    "conf/deep/app.ini": ("ini", "[db]\npassword = s3cret\n"),
}


def _tree(root: Path) -> Path:
    for rel, (fmt, text) in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sopsy.encrypt(text, format=fmt, age=RECIPIENT))
    bad = root / "conf" / "broken.yaml"
    bad.write_bytes(sopsy.encrypt("key: value\n", format="yaml", age=RECIPIENT).replace(b"ENC[AES256_GCM,data:",
                                                                                         b"ENC[AES256_GCM,data:AA"))
    (root / "README.md").write_text("plaintext notes, not a sops file\n")
    (root / ".git").mkdir()
    shutil.copy(root / "app.yaml", root / ".git" / "app.yaml")
    return root


def test_a_mixed_tree_decrypts_except_the_corrupt_file(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "secrets")
    out = tmp_path / "out"
    r = run_sopsy("decrypt", "-r", str(tree), "--output-dir", str(out))
    assert r.returncode == 25  # a value failed authentication: sops's code for it
    lines = r.stderr.decode().splitlines()
    assert any(line.startswith(f"sopsy: {tree / 'conf' / 'broken.yaml'}: ") for line in lines), lines
    assert "sopsy: 1 of 5 file(s) failed; the others were decrypted" in lines
    assert "sopsy: 1 file(s) under -r without sops metadata left alone" in lines
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(FILES)  # not the broken one, not README.md, nothing from .git
    for rel, (_, text) in FILES.items():
        assert (out / rel).read_text() == text
        assert stat.S_IMODE((out / rel).stat().st_mode) == 0o600
    for d in (out, out / "conf", out / "conf" / "deep"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_named_files_go_under_their_own_names_quietly(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "secrets")
    out = tmp_path / "out"
    r = run_sopsy("decrypt", "--output-dir", str(out), str(tree / "app.yaml"), str(tree / "conf" / "settings.json"))
    assert (r.returncode, r.stderr) == (0, b"")  # no terminal: no progress bar
    assert sorted(os.listdir(out)) == ["app.yaml", "settings.json"]
    assert (out / "settings.json").read_text() == FILES["conf/settings.json"][1]


def test_conflicts_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "secrets")
    out = tmp_path / "out"
    r = run_sopsy("decrypt", "--output-dir", str(out), str(tree / "app.yaml"), str(tree / ".git" / "app.yaml"))
    assert r.returncode == 1 and b"would both be written to" in r.stderr and not out.exists()
    r = run_sopsy("decrypt", "-r", str(tree), "--output-dir", str(tree))
    assert r.returncode == 1 and b"would replace the encrypted file" in r.stderr
    assert run_sopsy("decrypt", "-r", str(tree)).returncode == 8
    assert run_sopsy("decrypt", "-i", "--output-dir", str(out), str(tree / "app.yaml")).returncode == 8
    assert b"several need --output-dir" in run_sopsy("decrypt", str(tree / "app.yaml"), str(tree / "app.yaml")).stderr


def test_files_sops_made(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"s{i}.yaml").write_text(f"n: {i}\nsecret: v{i}\n")
        assert run_sops("encrypt", "-i", "--age", RECIPIENT, str(src / f"s{i}.yaml")).returncode == 0
    r = run_sopsy("decrypt", "-r", str(src), "--output-dir", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    for i in range(3):  # what sops itself prints for its file
        assert (tmp_path / "out" / f"s{i}.yaml").read_bytes() == run_sops("decrypt", str(src / f"s{i}.yaml")).stdout


def test_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    import subprocess
    import sys

    tree = _tree(tmp_path / "secrets")
    master, slave = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "sopsy", "decrypt", "-r", str(tree), "--output-dir",
                               str(tmp_path / "out")], stderr=slave, stdout=subprocess.DEVNULL, timeout=60,
                              check=False, env={**os.environ, "COLUMNS": "80", "TERM": "xterm"})
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert proc.returncode == 25 and b"decrypting" in seen and b"broken.yaml" in seen


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_one_kms_call_per_distinct_wrapped_key(moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**sops_env(moto), "SOPS_AGE_KEY_FILE": "/nonexistent"}
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    arn = create_key(moto)
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.yaml").write_bytes(sopsy.encrypt("a: 1\n", format="yaml", kms=arn))
    for i in range(5):  # the same wrapped data key under five more names
        shutil.copy(src / "one.yaml", src / f"copy{i}.yaml")
    for i in range(3):  # three files with keys of their own
        (src / f"own{i}.yaml").write_bytes(sopsy.encrypt(f"b: {i}\n", format="yaml", kms=arn))
    before = REQUESTS.count
    r = run_sopsy("decrypt", "-r", str(src), "--output-dir", str(tmp_path / "out"), env=env)
    assert r.returncode == 0, r.stderr
    # the server logs a request after answering it: wait for the log to catch up before counting
    deadline = time.monotonic() + 10
    while REQUESTS.count - before < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert REQUESTS.count - before == 4  # 1 for the six copies + 3
    assert (tmp_path / "out" / "copy4.yaml").read_text() == "a: 1\n"
    assert (tmp_path / "out" / "own2.yaml").read_text() == "b: 2\n"


def test_symbolic_links_in_the_output_dir_are_not_followed(tmp_path: Path) -> None:
    """A link planted in DIR (as the file, or as a directory on its way) would put the plaintext
    outside DIR, over any file the user can write: refused, named, the target untouched."""
    tree = _tree(tmp_path / "secrets")
    (tree / "conf" / "broken.yaml").unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("public\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "app.yaml").symlink_to(victim)
    (out / "conf").symlink_to(elsewhere)
    r = run_sopsy("decrypt", "-r", str(tree), "--output-dir", str(out))
    assert r.returncode == 3, r.stderr
    lines = r.stderr.decode().splitlines()
    assert f"sopsy: {out / 'app.yaml'}: " not in r.stderr.decode()
    assert any(line.startswith(f"sopsy: {tree / 'app.yaml'}: {out / 'app.yaml'} is or goes through a symbolic link")
               for line in lines), lines
    assert "sopsy: 4 of 4 file(s) failed; the others were decrypted" in lines, lines
    assert victim.read_text() == "public\n" and list(elsewhere.iterdir()) == []
    # a link that is the output directory itself is fine, and a named file's message names it once
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    r = run_sopsy("decrypt", "--output-dir", str(tmp_path / "linked"), str(tree / "app.yaml"),
                  str(tree / "README.md"))
    assert (tmp_path / "real" / "app.yaml").read_text() == FILES["app.yaml"][1]
    assert f"sopsy: {tree / 'README.md'}: sops metadata not found" in r.stderr.decode(), r.stderr


def test_r_follows_no_link_out_of_its_directory(tmp_path: Path) -> None:
    """A tree (someone's branch) linking to the user's other encrypted files cannot have them
    decrypted into DIR; a link within the tree is an ordinary file."""
    tree = _tree(tmp_path / "secrets")
    (tree / "conf" / "broken.yaml").unlink()
    other = tmp_path / "elsewhere" / "prod.yaml"
    other.parent.mkdir()
    shutil.copy(tree / "app.yaml", other)
    (tree / "stolen.yaml").symlink_to(other)
    (tree / "alias.yaml").symlink_to(tree / "app.yaml")
    out = tmp_path / "out"
    r = run_sopsy("decrypt", "-r", str(tree), "--output-dir", str(out))
    assert r.returncode == 1, r.stderr
    assert f"sopsy: {tree / 'stolen.yaml'}: a symbolic link out of -r {tree} (to {other}); not followed" \
        in r.stderr.decode(), r.stderr
    assert not (out / "stolen.yaml").exists()
    assert (out / "alias.yaml").read_text() == FILES["app.yaml"][1]

"""`sopsy status`: data-key age from sopsy's own field, from git history for files the real sops
made, overdue files failing the run, and which files a departing colleague's key opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import RECIPIENT, RECIPIENT2, run_sops, run_sopsy


def _git(repo: Path, *args: str, date: str | None = None) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "secrets").mkdir(parents=True)
    (repo / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: secrets/.*\n    age: {RECIPIENT},{RECIPIENT2}\n    max_age: 90d\n")
    _git(repo, "init", "-q")
    return repo


def test_status_dates_sops_files_from_git_and_fails_overdue(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    old = repo / "secrets" / "old.yaml"
    old.write_text("db: hunter2\napi: token\n")
    assert run_sops("encrypt", "-i", str(old), cwd=str(repo)).returncode == 0
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "add", date="2025-01-01T00:00:00Z")
    # a later edit keeps the data key (sops set keeps the other value's ciphertext)
    assert run_sops("set", str(old), '["api"]', '"token2"', cwd=str(repo)).returncode == 0
    _git(repo, "commit", "-qam", "edit", date="2025-06-01T00:00:00Z")
    fresh = repo / "secrets" / "fresh.yaml"
    fresh.write_text("x: y\n")
    assert run_sopsy("encrypt", "-i", str(fresh), cwd=str(repo)).returncode == 0
    r = run_sopsy("status", "--json", cwd=str(repo))
    assert r.returncode == 1, r.stderr  # old.yaml is overdue
    report = {Path(item["path"]).name: item for item in json.loads(r.stdout)}
    assert report["old.yaml"]["data_key_created"].startswith("2025-01-01")
    assert report["old.yaml"]["data_key_created_source"] == "git"
    assert report["old.yaml"]["overdue"] is True
    assert report["fresh.yaml"]["data_key_created_source"] == "sopsy"
    assert report["fresh.yaml"]["overdue"] is False
    # a rotation (new data key) restarts the clock at the commit that made it
    assert run_sops("rotate", "-i", str(old), cwd=str(repo)).returncode == 0
    _git(repo, "commit", "-qam", "rotate", date="2026-11-01T00:00:00Z")
    r = run_sopsy("status", "--json", "--max-age", "365d", "secrets/old.yaml", cwd=str(repo))
    assert r.returncode == 0, r.stdout
    assert json.loads(r.stdout)[0]["data_key_created"].startswith("2026-11-01")
    text = run_sopsy("status", cwd=str(repo)).stdout.decode()
    assert "secrets/old.yaml (yaml)" in text and f"age {RECIPIENT2}" in text


def test_status_lists_the_files_a_key_opens(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    for name, keys in (("both.yaml", f"{RECIPIENT},{RECIPIENT2}"), ("one.yaml", RECIPIENT)):
        f = repo / "secrets" / name
        f.write_text("k: v\n")
        assert run_sopsy("encrypt", "--age", keys, "-i", str(f), cwd=str(repo)).returncode == 0
    (repo / "README.md").write_text("plain\n")
    r = run_sopsy("status", "--json", "--recipient", RECIPIENT2, cwd=str(repo))
    assert [Path(i["path"]).name for i in json.loads(r.stdout)] == ["both.yaml"]
    r = run_sopsy("status", "--json", "--recipient", RECIPIENT, cwd=str(repo))
    assert sorted(Path(i["path"]).name for i in json.loads(r.stdout)) == ["both.yaml", "one.yaml"]
    assert run_sopsy("status", "--max-age", "soon", cwd=str(repo)).returncode == 1


def test_status_passes_over_timestamps_it_cannot_read(tmp_path: Path) -> None:
    """Hand-edited metadata (garbage, a naive time, a bare number in sopsy_datakey_created or
    lastmodified): status falls back to the next source or says the age is unknown, one line,
    never an internal error."""
    plain = tmp_path / "s.json"
    plain.write_text('{"a": "x"}\n')
    enc = run_sopsy("encrypt", "--age", RECIPIENT, str(plain))
    assert enc.returncode == 0, enc.stderr
    good = json.loads(enc.stdout)
    for created, lastmod, source in [("x", None, "lastmodified"), ("", None, "lastmodified"),
                                     ("99999999999999999999", None, "lastmodified"),
                                     ("2020-01-01T00:00:00", None, "sopsy"), ("x", "garbage", None)]:
        doc = json.loads(json.dumps(good))
        doc["sops"]["sopsy_datakey_created"] = created
        if lastmod is not None:
            doc["sops"]["lastmodified"] = lastmod
        plain.write_text(json.dumps(doc))
        for args in (["--json"], []):
            r = run_sopsy("status", *args, "--max-age", "90d", str(plain))
            err = r.stderr.decode()
            assert "internal error" not in err and r.returncode in (0, 1), (created, err)
        item = json.loads(run_sopsy("status", "--json", str(plain)).stdout)[0]
        assert item["data_key_created_source"] == source, (created, item)
        if source is None:  # an unreadable lastmodified: the file's line says so, exit 1
            r = run_sopsy("status", str(plain))
            assert r.returncode == 1 and "not an RFC 3339 time" in r.stdout.decode(), r


def test_status_walks_past_fifos_and_devices(tmp_path: Path) -> None:
    """A FIFO in a walked tree (someone's checkout) blocked `status` for ever in its open; a
    link to a device was read. Both are left out of the walk (named, they are read as given)."""
    tree = tmp_path / "t"
    tree.mkdir()
    os.mkfifo(tree / "f.yaml")
    (tree / "z.yaml").symlink_to("/dev/zero")
    plain = tree / "s.yaml"
    plain.write_text("a: x\n")
    assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(plain)).returncode == 0
    try:
        r = subprocess.run([sys.executable, "-m", "sopsy", "status", str(tree)], capture_output=True, timeout=60,
                           check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError("status still blocked on the FIFO after 60 s") from None
    assert r.returncode == 0, r.stderr
    assert [line.split(" ")[0] for line in r.stdout.decode().splitlines() if not line.startswith(" ")] == [str(plain)]

"""sopsy as git's diff (textconv) and merge driver, inside real temporary git repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEYS_BOTH, RECIPIENT, run_sops, run_sopsy

SOPSY = f"{sys.executable} -m sopsy"


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(repo.parent)}
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env, check=check)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.fail("git is needed for the git driver tests")
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "diff.sopsy.textconv", f"{SOPSY} decrypt")
    git(r, "config", "merge.sopsy.driver", f"{SOPSY} merge %O %A %B %P")
    (r / ".gitattributes").write_text("*.yaml diff=sopsy merge=sopsy\n")
    (r / ".sopsy.yaml").write_text(f"creation_rules:\n  - age: {RECIPIENT}\n")
    f = r / "secrets.yaml"
    f.write_text("# app secrets\ndb:\n  user: admin\n  password: hunter2\napi:\n  token: abc\nport: 5432\n")
    assert run_sopsy("encrypt", "-i", str(f)).returncode == 0
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "init")
    return r


def _edit(repo: Path, old: str, new: str) -> None:
    f = repo / "secrets.yaml"
    opened = run_sopsy("decrypt", str(f)).stdout.decode()
    assert old in opened
    from sopsy import core
    from sopsy.stores import get_store

    store = get_store("yaml")
    os.environ["SOPS_AGE_KEY_FILE"] = str(AGE_KEYS_BOTH)
    o = core.decrypt_text(store, f.read_text())
    f.write_text(core.reencrypt(o, opened.replace(old, new)))


def _merge_diverged(repo: Path, theirs: tuple[str, str], ours: tuple[str, str]) -> subprocess.CompletedProcess[str]:
    """Change one value on a branch and another on main, then merge the branch into main."""
    git(repo, "checkout", "-q", "-b", "feature")
    _edit(repo, *theirs)
    git(repo, "commit", "-q", "-am", "theirs")
    git(repo, "checkout", "-q", "main")
    _edit(repo, *ours)
    git(repo, "commit", "-q", "-am", "ours")
    return git(repo, "merge", "-q", "feature", "-m", "merge", check=False)


def test_textconv_diff_shows_the_one_changed_value(repo: Path) -> None:
    _edit(repo, "hunter2", "correct-horse")
    diff = git(repo, "diff").stdout
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == ["-  password: hunter2", "+  password: correct-horse"]
    raw = git(repo, "diff", "--no-textconv").stdout
    raw_changed = [ln for ln in raw.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    # the encrypted file itself changes in the value line and lastmodified/mac only
    assert len(raw_changed) in (4, 6) and all("hunter2" not in ln for ln in raw_changed)


def test_merge_driver_merges_changes_to_different_values(repo: Path) -> None:
    r = _merge_diverged(repo, theirs=("token: abc", "token: xyz"), ours=("port: 5432", "port: 6543"))
    assert r.returncode == 0, r.stdout + r.stderr
    f = repo / "secrets.yaml"
    out = run_sopsy("decrypt", str(f))
    assert out.returncode == 0
    assert yaml.safe_load(out.stdout) == {"db": {"user": "admin", "password": "hunter2"},
                                          "api": {"token": "xyz"}, "port": 6543}
    assert out.stdout.decode().startswith("# app secrets\n")
    assert run_sops("decrypt", str(f)).returncode == 0  # sops accepts the merged file and its MAC


def test_merge_conflict_keeps_ours_and_writes_no_plaintext(repo: Path) -> None:
    r = _merge_diverged(repo, theirs=("hunter2", "theirs-secret"), ours=("hunter2", "ours-secret"))
    assert r.returncode != 0
    text = (repo / "secrets.yaml").read_text()
    assert "ours-secret" not in text and "theirs-secret" not in text and "<<<<<<<" not in text
    assert yaml.safe_load(run_sopsy("decrypt", str(repo / "secrets.yaml")).stdout)["db"]["password"] == "ours-secret"
    assert "theirs-secret" not in r.stdout + r.stderr and "ours-secret" not in r.stdout + r.stderr

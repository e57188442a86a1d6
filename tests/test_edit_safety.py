"""`sopsy edit` never loses an edit and never leaves plaintext behind by accident (editor.py)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEYS_BOTH, RECIPIENT, run_sopsy
from support.privileges import as_user, can_drop_privileges

PLAIN = "db:\n  user: admin\n  password: hunter2\nport: 5432\n"


@pytest.fixture()
def enc_file(tmp_path: Path) -> Path:
    f = tmp_path / "secrets.yaml"
    f.write_text(PLAIN)
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    return f


def editor(tmp_path: Path, body: str, name: str = "editor.py") -> str:
    script = tmp_path / name
    script.write_text(textwrap.dedent(body))
    return f"{sys.executable} {script}"


def replacing(tmp_path: Path, old: str, new: str, name: str, started: Path | None = None,
              wait_for: Path | None = None) -> str:
    """An editor that replaces ``old`` by ``new``; it can say it started, and wait for a go."""
    lines = ["import os, sys, time"]
    if started is not None:
        lines.append(f"open({str(started)!r}, 'w').close()")
    if wait_for is not None:
        lines.append(f"while not os.path.exists({str(wait_for)!r}): time.sleep(0.05)")
    lines += ["text = open(sys.argv[1]).read()", f"open(sys.argv[1], 'w').write(text.replace({old!r}, {new!r}))"]
    return editor(tmp_path, "\n".join(lines) + "\n", name)


def wait_for_file(path: Path) -> None:
    for _ in range(1200):
        if path.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def decrypted(path: Path) -> dict[str, object]:
    r = run_sopsy("decrypt", str(path))
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)  # type: ignore[no-any-return]


def kept_file(stderr: bytes) -> Path:
    """The path the message gives for the kept edit (and removes its directory at the end)."""
    text = stderr.decode()
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text, text
    path = Path(text.split("your edit is kept in ")[1].split(" (plaintext")[0])
    return path


def private_dirs(pid: int) -> list[Path]:
    bases = {Path("/dev/shm"), Path(os.environ.get("TMPDIR", "/tmp"))}
    return [p for b in bases if b.is_dir() for p in b.iterdir() if p.name.startswith("sopsy-edit-")
            and f".{pid}-" in p.name]


def test_invalid_input_without_a_terminal_keeps_the_edit(enc_file: Path, tmp_path: Path) -> None:
    before = enc_file.read_bytes()
    bad = replacing(tmp_path, "port: 5432", "port: [unclosed", "bad.py")
    r = run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": bad}, input=b"")
    assert r.returncode == 2 and enc_file.read_bytes() == before
    kept = kept_file(r.stderr)
    try:
        assert "port: [unclosed" in kept.read_text() and "hunter2" in kept.read_text()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
        assert "hunter2" not in r.stderr.decode()
    finally:
        shutil.rmtree(kept.parent)


def test_two_edits_of_one_file_at_once_lose_neither(enc_file: Path, tmp_path: Path) -> None:
    """Both editors are open at once; the first to save wins, the second is refused and keeps
    its text (before: both exited 0 and the first edit was silently lost)."""
    started, go = tmp_path / "started", tmp_path / "go"
    first = replacing(tmp_path, "admin", "root", "first.py")
    second = replacing(tmp_path, "5432", "6543", "second.py", started=started, wait_for=go)
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}
    slow = subprocess.Popen([sys.executable, "-m", "sopsy", "edit", str(enc_file)], stderr=subprocess.PIPE,
                            env={**env, "SOPS_EDITOR": second})
    wait_for_file(started)
    fast = run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": first})
    assert fast.returncode == 0, fast.stderr
    go.write_text("")
    _, err = slow.communicate(timeout=60)
    assert slow.returncode == 3 and b"changed by someone else" in err
    kept = kept_file(err)
    try:
        assert "6543" in kept.read_text()  # the second edit is not lost
    finally:
        shutil.rmtree(kept.parent)
    assert decrypted(enc_file) == {"db": {"user": "root", "password": "hunter2"}, "port": 5432}


def test_an_unwritable_directory_is_found_before_the_editor_opens(tmp_path: Path) -> None:
    why = can_drop_privileges()
    if why:
        pytest.skip(why)
    d = tmp_path / "ro"
    d.mkdir()
    f = d / "s.yaml"
    f.write_text(PLAIN)
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    marker = tmp_path / "editor-ran"
    ed = editor(tmp_path, f"open({str(marker)!r}, 'w').write('x')\n")
    d.chmod(0o555)
    try:
        proc = subprocess.run([sys.executable, "-m", "sopsy", "edit", str(f)], capture_output=True, check=False,
                              env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), "SOPS_EDITOR": ed},
                              preexec_fn=as_user())  # noqa: PLW1509
    finally:
        d.chmod(0o755)
    assert proc.returncode == 3 and b"cannot write" in proc.stderr
    assert not marker.exists()  # nobody typed into a file that could not be saved


def test_creating_a_file_without_a_rule_says_so(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - path_regex: ^prod/\n    age: " + RECIPIENT + "\n")
    r = run_sopsy("edit", str(tmp_path / "dev.yaml"), env={"SOPS_EDITOR": "true"})
    err = r.stderr.decode()
    assert r.returncode == 1 and err.startswith(f"sopsy: creating {tmp_path / 'dev.yaml'} (it does not exist): ")
    assert "no matching creation rule" in err
    assert not (tmp_path / "dev.yaml").exists()


@pytest.mark.parametrize("sig, group", [(signal.SIGHUP, True), (signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["hangup to the terminal's group", "Ctrl-C to the group", "kill -TERM sopsy"])
def test_a_signal_stops_the_editor_removes_the_plaintext_and_exits_85(enc_file: Path, tmp_path: Path,
                                                                      sig: signal.Signals, group: bool) -> None:
    pidfile = tmp_path / "editor.pid"
    slow = editor(tmp_path, f"""
        import os, signal, time
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # dies of Ctrl-C like an editor in C
        open({str(pidfile)!r} + ".new", "w").write(str(os.getpid()))
        os.replace({str(pidfile)!r} + ".new", {str(pidfile)!r})
        time.sleep(60)
    """)
    before = enc_file.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "sopsy", "edit", str(enc_file)], stderr=subprocess.PIPE,
                            env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), "SOPS_EDITOR": slow},
                            start_new_session=True)  # its own process group, as a terminal's foreground job
    wait_for_file(pidfile)
    assert private_dirs(proc.pid)  # the plaintext is there while the editor runs
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 85 and b"interrupted" in err and len(err.strip().splitlines()) == 1, err
    assert private_dirs(proc.pid) == [] and enc_file.read_bytes() == before
    editor_pid = int(pidfile.read_text())
    for _ in range(100):  # the editor is not left behind
        if not _alive(editor_pid):
            break
        time.sleep(0.05)
    assert not _alive(editor_pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours would still answer: ours are reaped by sopsy; check /proc where there is one
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def test_kill9_leftovers_are_swept_by_the_next_edit(enc_file: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "editor.pid"
    slow = editor(tmp_path, f"""
        import os, time
        open({str(pidfile)!r} + ".new", "w").write(str(os.getpid()))
        os.replace({str(pidfile)!r} + ".new", {str(pidfile)!r})
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-m", "sopsy", "edit", str(enc_file)], stderr=subprocess.PIPE,
                            env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), "SOPS_EDITOR": slow})
    wait_for_file(pidfile)
    left = private_dirs(proc.pid)
    assert left
    proc.kill()
    proc.wait()
    assert private_dirs(proc.pid) == left  # nothing can clean up after kill -9 ...
    if sys.platform.startswith("linux"):  # ... but the editor is not orphaned (PR_SET_PDEATHSIG)
        editor_pid = int(pidfile.read_text())
        for _ in range(100):
            if not _alive(editor_pid):
                break
            time.sleep(0.05)
        assert not _alive(editor_pid)
    r = run_sopsy("edit", str(enc_file), env={"SOPS_EDITOR": "true"})
    assert r.returncode == 200
    assert private_dirs(proc.pid) == []  # ... and the next edit sweeps it

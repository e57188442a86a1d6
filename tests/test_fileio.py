"""Writes (sopsy/fileio.py): through symlinks, hard links refused, owner/group/mode kept, one
writer at a time, no overwrite of a file changed meanwhile, no temp file left behind."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AGE_KEYS_BOTH, RECIPIENT, run_sops, run_sopsy
from support.privileges import as_user, can_drop_privileges

from sopsy import errors, fileio

PLAIN = "a: 1\nsecret: hunter2\n"


def temps(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".sopsy-"))


def popen(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[bytes]:
    full = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "sopsy", *args], env=full, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text, text
    return text


def test_in_place_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(PLAIN)
    link = tmp_path / "link.yaml"
    link.symlink_to("real.yaml")
    r = run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == "real.yaml"
    assert "hunter2" not in real.read_text()  # the target is encrypted, not left in plaintext
    assert run_sops("decrypt", str(real)).stdout == PLAIN.encode()
    assert run_sopsy("decrypt", "-i", str(link)).returncode == 0
    assert link.is_symlink() and real.read_text() == PLAIN


def test_a_dangling_symlink_is_not_written_through(tmp_path: Path) -> None:
    enc = tmp_path / "e.yaml"
    enc.write_text(PLAIN)
    assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(enc)).returncode == 0
    link = tmp_path / "out.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")
    r = run_sopsy("decrypt", "--output", str(link), str(enc))
    assert r.returncode == 3 and "symbolic link" in one_line(r.stderr)
    assert not (tmp_path / "elsewhere.yaml").exists() and link.is_symlink()


def test_a_hard_linked_file_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    other = tmp_path / "other-name.yaml"
    os.link(f, other)
    r = run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f))
    assert r.returncode == 3 and "2 hard links" in one_line(r.stderr)
    # before the fix the other name kept the plaintext while this one was encrypted
    assert f.read_text() == PLAIN and other.read_text() == PLAIN
    assert f.stat().st_ino == other.stat().st_ino and temps(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_owner_group_and_mode_are_kept_as_root(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    os.chown(f, 65534, 65534)  # nobody:nogroup
    f.chmod(0o640)
    for args in (["encrypt", "-i", "--age", RECIPIENT], ["rotate", "-i"], ["decrypt", "-i"]):
        r = run_sopsy(*args, str(f))
        assert r.returncode == 0, r.stderr
        st = f.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640), args
    assert f.read_text() == PLAIN


def test_the_group_is_kept_for_a_user_in_that_group(tmp_path: Path) -> None:
    why = can_drop_privileges()
    if why:
        pytest.skip(why)
    if os.geteuid() == 0:
        group, groups = 65534, [65534]  # uid 0 without CAP_CHOWN, a member of nogroup
    else:
        others = [g for g in os.getgroups() if g != os.getegid()]
        if not others:
            pytest.skip(f"user {os.getuid()} belongs to one group only: nothing to keep")
        group, groups = others[0], None  # type: ignore[assignment]
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    os.chown(f, -1, group)
    f.chmod(0o640)
    proc = popen("encrypt", "-i", "--age", RECIPIENT, str(f), preexec_fn=as_user(groups))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    st = f.stat()
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (group, 0o640) and "hunter2" not in f.read_text()


def test_a_second_writer_waits_for_the_lock(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    with fileio.locked(str(f)) as held:
        assert held.read() == PLAIN.encode()
        proc = popen("encrypt", "-i", "--age", RECIPIENT, str(f), env={"SOPSY_LOCK_TIMEOUT": "60"})
        time.sleep(1.0)
        assert proc.poll() is None and f.read_text() == PLAIN  # still waiting, nothing written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "hunter2" not in f.read_text()


def test_a_second_writer_gives_up_with_a_clear_message(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    with fileio.locked(str(f)):
        r = run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f), env={"SOPSY_LOCK_TIMEOUT": "0.3"})
    assert r.returncode == 3 and "being written by another sopsy process" in one_line(r.stderr)
    assert f.read_text() == PLAIN and temps(tmp_path) == []


def test_concurrent_in_place_writers_take_turns(tmp_path: Path) -> None:
    """Four `encrypt -i` at once: one encrypts, the others find the file encrypted (203); before
    the lock all four read the plaintext and the last rename won."""
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    procs = [popen("encrypt", "-i", "--age", RECIPIENT, str(f)) for _ in range(4)]
    codes = sorted(p.wait(timeout=60) for p in procs)
    assert codes == [0, 203, 203, 203]
    assert run_sops("decrypt", str(f)).stdout == PLAIN.encode()


def test_a_file_replaced_by_another_program_is_not_overwritten(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text("old\n")
    with fileio.locked(str(f)) as held:
        assert held.read() == b"old\n"
        (tmp_path / "x").write_text("theirs\n")
        os.replace(tmp_path / "x", f)  # an editor or sops, which take no lock
        with pytest.raises(errors.FileChanged):
            held.write("ours\n")
    assert f.read_text() == "theirs\n" and temps(tmp_path) == []


def test_write_if_unchanged_refuses_a_changed_or_a_new_file(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text("theirs\n")
    with pytest.raises(errors.FileChanged, match="changed"):
        fileio.write_if_unchanged(str(f), b"what we read\n", "ours\n")
    with pytest.raises(errors.FileChanged, match="created"):
        fileio.write_if_unchanged(str(f), None, "ours\n")
    fileio.write_if_unchanged(str(f), b"theirs\n", "ours\n")
    assert f.read_text() == "ours\n" and temps(tmp_path) == []


def test_creation_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    """Two creators (two `keygen --output F`) both find F absent; the second must not replace
    the first's file (before: both succeeded and one printed key had no identity)."""
    from sopsy import atomic

    f = tmp_path / "keys.txt"
    target = atomic.Target(str(f))  # looked: absent
    f.write_text("# the other keygen's identity\n")
    with pytest.raises(errors.FileChanged):
        atomic.commit(target, b"# ours\n", 0o600, None, check=False)
    assert f.read_text() == "# the other keygen's identity\n" and temps(tmp_path) == []


def test_no_named_temp_file_exists_while_the_plaintext_is_written(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system allows (O_TMPFILE), the new contents have no name until they replace the
    file: a kill -9 at that moment leaves nothing. Elsewhere the temp file carries our pid, so
    the next write can sweep it."""
    from sopsy import atomic

    seen: list[list[str]] = []
    real_fill = atomic._fill

    def spy(fd: int, data: bytes, *args: object) -> None:
        real_fill(fd, data, *args)  # type: ignore[arg-type]
        seen.append(temps(tmp_path))

    monkeypatch.setattr(atomic, "_fill", spy)
    f = tmp_path / "f.yaml"
    f.write_text("old\n")
    with fileio.locked(str(f)) as held:
        held.write("new\n")
    assert f.read_text() == "new\n" and temps(tmp_path) == []
    if atomic._tmpfile_supported() and atomic._LINK_WAYS:
        assert seen == [[]]
    else:
        print(f"O_TMPFILE cannot be linked in here ({atomic._LINK_WAYS=}): checking the named fallback")
        assert seen[-1] and all(n.startswith(f".sopsy-{os.getpid()}-") for n in seen[-1])


def test_stale_temp_files_of_dead_processes_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {f".sopsy-{dead.pid}-0a1b2c3d4e5f.tmp": False,  # its process is gone: removed
             f".sopsy-{os.getpid()}-0a1b2c3d4e5f.tmp": True,  # a live process: kept
             ".sopsy-abcd1234.tmp": True, "notes.tmp": True}  # not ours to judge
    for name in names:
        (tmp_path / name).write_text("x")
    f = tmp_path / "f.yaml"
    f.write_text(PLAIN)
    assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f)).returncode == 0
    assert {n: (tmp_path / n).exists() for n in names} == names


def test_keygen_output_never_overwrites_follows_links_or_makes_directories(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "keys.txt"
    r = run_sopsy("keygen", "--output", str(missing))
    assert r.returncode == 3 and "does not exist" in one_line(r.stderr) and not (tmp_path / "no").exists()
    dangling = tmp_path / "link.txt"
    dangling.symlink_to(tmp_path / "target.txt")
    r = run_sopsy("keygen", "--output", str(dangling))
    assert r.returncode == 3 and "symbolic link" in one_line(r.stderr)
    assert not (tmp_path / "target.txt").exists()
    existing = tmp_path / "keys.txt"
    existing.write_text("# mine\n")
    r = run_sopsy("keygen", "--output", str(existing))
    assert r.returncode == 3 and existing.read_text() == "# mine\n"


def test_concurrent_keygens_one_wins_and_its_key_is_the_one_written(tmp_path: Path) -> None:
    out = tmp_path / "keys.txt"
    procs = [popen("keygen", "--output", str(out)) for _ in range(4)]
    results = [(p.wait(timeout=60), p.communicate()[1].decode()) for p in procs]
    winners = [err for code, err in results if code == 0]
    assert len(winners) == 1 and sorted(code for code, _ in results) == [0, 3, 3, 3]
    public = winners[0].split("Public key: ")[1].strip()
    assert f"# public key: {public}\n" in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o600


def test_output_to_a_stream_named_through_proc_writes_to_it(tmp_path: Path) -> None:
    """`--output /dev/stdout` (a pipe here) is written to, not resolved and replaced (and a file
    under /dev/shm is still an ordinary file)."""
    f = tmp_path / "e.yaml"
    f.write_text(PLAIN)
    assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f)).returncode == 0
    r = run_sopsy("decrypt", "--output", "/dev/stdout", str(f))
    assert r.returncode == 0 and r.stdout == PLAIN.encode(), r.stderr
    r = run_sopsy("decrypt", "--output", "/dev/fd/2", str(f))
    assert r.returncode == 0 and r.stderr == PLAIN.encode()

"""exec-file through real processes: sops's behaviour, the FIFO, signals and clean-up."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from conftest import AGE_KEYS_BOTH, RECIPIENT, run_sops, run_sopsy
from support.procs import SIGCHILD, read_line, start_sopsy, wait_ready

import sopsy

PLAIN = "foo: bar\nbar: |-\n  baz\n  bam\n"


def _env() -> dict[str, str]:
    return {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}


@pytest.fixture
def enc(tmp_path: Path) -> str:
    path = tmp_path / "secret.yaml"
    path.write_bytes(sopsy.encrypt(PLAIN, format="yaml", age=RECIPIENT))
    return str(path)


def test_output_type_and_filename_as_sops(enc: str) -> None:
    want = b'{\n\t"foo": "bar",\n\t"bar": "baz\\nbam"\n}\n'
    for run in (run_sops, run_sopsy):
        r = run("exec-file", "--output-type", "json", enc, "cat {}")
        assert (r.returncode, r.stdout) == (0, want), (run.__name__, r.stderr)
        r = run("exec-file", "--no-fifo", "--filename", "foobar", enc, "echo {}")
        assert r.returncode == 0 and r.stdout.endswith(b"/foobar\n"), (run.__name__, r.stderr)


def test_argv_form_and_exit_status(enc: str) -> None:
    r = run_sopsy("exec-file", enc, "--", "sh", "-c", 'cat "$1"; exit 5', "sh", "{}")
    assert (r.returncode, r.stdout) == (5, PLAIN.encode())


def test_the_fifo_serves_every_open_and_a_command_that_never_opens_it(enc: str) -> None:
    # sops serves a FIFO once (a second open waits for ever); each open gets the whole file here
    r = run_sopsy("exec-file", enc, "cat {}; head -c 3 {}; echo; cat {}")
    assert (r.returncode, r.stdout) == (0, (PLAIN + "foo\n" + PLAIN).encode())
    r = run_sopsy("exec-file", enc, "exit 0")
    assert (r.returncode, r.stderr) == (0, b"")


def test_the_private_file_is_0600_in_a_0700_directory(enc: str) -> None:
    r = run_sopsy("exec-file", "--no-fifo", enc, 'stat -c "%a %F" {} "$(dirname {})"')
    assert r.stdout.decode().splitlines() == ["600 regular file", "700 directory"]
    r = run_sopsy("exec-file", enc, 'stat -c "%a %F" {}')
    assert r.stdout == b"600 fifo\n"


@pytest.mark.parametrize("fifo", [True, False])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_are_forwarded_and_nothing_is_left(enc: str, sig: signal.Signals, fifo: bool) -> None:
    flags = [] if fifo else ["--no-fifo"]
    proc = start_sopsy("exec-file", *flags, enc, "--", sys.executable, SIGCHILD, "--trap", "{}", env=_env())
    pid, path = wait_ready(proc)
    assert pid != proc.pid and os.path.exists(path)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    assert out.decode() == f"got {sig.name}\n" and proc.returncode == 40 + sig
    assert not os.path.exists(os.path.dirname(path))


def test_every_forwarded_signal_reaches_the_command(enc: str) -> None:
    proc = start_sopsy("exec-file", enc, "--", sys.executable, SIGCHILD, "--trap", "{}", env=_env())
    wait_ready(proc)
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGQUIT):
        proc.send_signal(sig)
        assert read_line(proc) == f"got {sig.name}\n"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == 40 + signal.SIGTERM


@pytest.mark.parametrize("fifo", [True, False])
def test_a_killed_command_leaves_no_file(enc: str, fifo: bool) -> None:
    flags = [] if fifo else ["--no-fifo"]
    proc = start_sopsy("exec-file", *flags, enc, "--", sys.executable, SIGCHILD, "{}", env=_env())
    pid, path = wait_ready(proc)
    os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGKILL
    assert not os.path.exists(os.path.dirname(path))


def test_a_directory_left_by_a_killed_sopsy_is_swept_by_the_next_run(enc: str) -> None:
    proc = start_sopsy("exec-file", "--no-fifo", enc, "--", sys.executable, SIGCHILD, "{}", env=_env())
    pid, path = wait_ready(proc)
    proc.kill()  # SIGKILL: no clean-up can run
    proc.wait(timeout=20)
    os.kill(pid, signal.SIGKILL)  # the orphaned command
    proc.communicate(timeout=20)
    assert os.path.exists(path)
    r = run_sopsy("exec-file", enc, "true")
    assert r.returncode == 0 and not os.path.exists(os.path.dirname(path))


@pytest.mark.parametrize("own_group", [False, True])
def test_ctrl_c_on_a_terminal_reaches_the_command_once(enc: str, own_group: bool) -> None:
    """The terminal sends SIGINT to the whole foreground group: sopsy does not send it a second
    time (unless the command left the group), nor kills the command, nor returns 130 instead of
    the command's status."""
    import fcntl
    import termios

    master, slave = os.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    group = ["--own-group"] if own_group else []
    try:
        proc = start_sopsy("exec-file", enc, "--", sys.executable, SIGCHILD, *group, "--count-int", "0.5", "{}",
                           env=_env(), stdin=slave, start_new_session=True, preexec_fn=take_terminal)
        wait_ready(proc)
        os.write(master, b"\x03")
        out, err = proc.communicate(timeout=20)
    finally:
        os.close(master)
        os.close(slave)
    assert (out, proc.returncode) == (b"INT x1\n", 7), err


def test_bad_filename_and_background(enc: str) -> None:
    r = run_sopsy("exec-file", "--no-fifo", "--filename", "../x", enc, "true")
    assert r.returncode == 1 and b"--filename must be a plain file name" in r.stderr
    assert run_sopsy("exec-file", "--background", enc, "true").returncode == 8
    assert b"one encrypted file" in run_sopsy("exec-file", enc, enc, "--", "true").stderr

"""Starting sopsy as a real process that tests send signals to and read line by line."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

SIGCHILD = str(Path(__file__).with_name("sigchild.py"))
# sopsy starts with every forwarded signal at its default action, whatever the test runner ignores
# (a runner started in the background ignores SIGINT, and ignored signals are inherited)
_LAUNCH = ("import os, signal, sys\n"
           "for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGTERM):\n"
           "    signal.signal(s, signal.SIG_DFL)\n"
           "os.execv(sys.executable, [sys.executable, '-m', 'sopsy', *sys.argv[1:]])\n")


def start_sopsy(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", _LAUNCH, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, bufsize=0, **kwargs)  # type: ignore[call-overload]


def read_line(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> str:
    """The next line of ``proc``'s stdout (fails the test if none comes in time)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        proc.kill()
        raise AssertionError(f"no output within {timeout} s; stderr: {proc.communicate()[1]!r}")
    return proc.stdout.readline().decode()


def wait_ready(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """(pid, first argument) from sigchild.py's ``ready`` line."""
    line = read_line(proc)
    assert line.startswith("ready "), (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else b"")
    _, pid, arg = line.split()
    return int(pid), arg


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False

"""Private directories for plaintext that a command must read as a file (``exec-file``).

A directory is 0700 (``mkdtemp``), on tmpfs (``/dev/shm``) where the machine has one, so the
plaintext never reaches a disk; it is removed when the command ends. A SIGKILL of sopsy runs no
clean-up, so the directory's name carries sopsy's pid and pid namespace, and every later run
removes the directories of the same user whose sopsy is gone (:func:`sweep`).

Written here rather than taken from :mod:`sopsy.editor` because that module's private file is
tied to the editor's life cycle; the naming scheme (``sopsy-<kind>-<pidns>.<pid>-``) is the
same, so one sweep can serve both.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile


def bases() -> list[str]:
    """Where private directories go: tmpfs first (never written to a disk), then the temp dir."""
    shm = "/dev/shm"
    first = [shm] if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else []
    return list(dict.fromkeys([*first, tempfile.gettempdir()]))


def _pid_namespace() -> str:
    """The pid namespace's inode: a pid names the same process only within one namespace."""
    try:
        return os.readlink("/proc/self/ns/pid").rpartition("[")[2].rstrip("]") or "0"
    except OSError:
        return "0"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def make(kind: str) -> str:
    """A new 0700 directory ``sopsy-<kind>-<pidns>.<pid>-XXXX``; returns its path."""
    prefix = f"sopsy-{kind}-{_pid_namespace()}.{os.getpid()}-"
    return tempfile.mkdtemp(prefix=prefix, dir=bases()[0])


def sweep(kind: str) -> None:
    """Remove this user's ``kind`` directories whose sopsy process is gone."""
    pattern = re.compile(re.escape(f"sopsy-{kind}-") + r"(\d+)\.(\d+)-")
    namespace, me = _pid_namespace(), os.geteuid()
    for base in bases():
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            m = pattern.match(name)
            if m is None or m.group(1) != namespace:
                continue
            pid = int(m.group(2))
            if pid == os.getpid() or pid_alive(pid):
                continue
            path = os.path.join(base, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and st.st_uid == me:
                shutil.rmtree(path, ignore_errors=True)

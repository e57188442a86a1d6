"""Private directories for plaintext that a program must read as a file: the editor's
(``edit``) and the command's (``exec-file --no-fifo`` and its FIFO).

A directory is 0700 (``mkdtemp``), on tmpfs (``/dev/shm``) where the machine has one, so the
plaintext never reaches a disk, and its owner removes it when done. A SIGKILL of sopsy runs no
clean-up, so a directory's name, ``sopsy-<kind>-<pidns>.<pid>-XXXX``, carries sopsy's pid and
pid namespace, and a later run removes the directories of the same user and kind whose sopsy
is gone (:func:`sweep`; a pid means the same process only within one namespace).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile

from .atomic import pid_alive


def bases() -> list[str]:
    """Where private directories go: tmpfs first (never written to a disk), then the temp dir."""
    shm = "/dev/shm"
    first = [shm] if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else []
    return list(dict.fromkeys([*first, tempfile.gettempdir()]))


def pid_namespace() -> str:
    """The pid namespace's inode."""
    try:
        return os.readlink("/proc/self/ns/pid").rpartition("[")[2].rstrip("]") or "0"
    except OSError:
        return "0"


def prefix(kind: str) -> str:
    return f"sopsy-{kind}-"


def make(kind: str) -> str:
    """A new 0700 directory for this process; returns its path."""
    return tempfile.mkdtemp(prefix=f"{prefix(kind)}{pid_namespace()}.{os.getpid()}-", dir=bases()[0])


def sweep(kind: str) -> None:
    """Remove this user's ``kind`` directories whose sopsy process is gone (kill -9 leaves them)."""
    pattern = re.compile(re.escape(prefix(kind)) + r"(\d+)\.(\d+)-")
    namespace, me = pid_namespace(), os.geteuid()
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

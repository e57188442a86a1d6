"""Replacing a file atomically: the machinery behind :mod:`sopsy.fileio`'s writes.

The new bytes go to a temp file in the target's directory, are fsynced, get the old file's mode,
owner and group, and take its name in one rename (or, for a new file, one link that fails if
the name was taken meanwhile). The temp file has no name until that moment where Linux allows
it (``O_TMPFILE``, linked in through ``/proc/self/fd`` or ``linkat(AT_EMPTY_PATH)``), so a kill -9
leaves no plaintext beside the file; elsewhere it is ``.sopsy-<pid>-*.tmp``, removed on every way
out, and swept by the next write in that directory once its process is gone.
"""

from __future__ import annotations

import os
import stat
import sys

from .errors import FileChanged, OutputError

TEMP_PREFIX = ".sopsy-"


class Target:
    """Where a write to ``path`` lands (through a symlink) and what is there now."""

    __slots__ = ("path", "real", "directory", "st", "direct")

    def __init__(self, path: str) -> None:
        self.path = path
        is_link = os.path.islink(path)
        self.st: os.stat_result | None
        try:
            self.st = os.stat(path)  # through links, /proc's fd links included
        except FileNotFoundError:
            if is_link:
                raise OutputError(f"{path} is a symbolic link to {os.path.realpath(path)}, which does not exist; "
                                  "not creating it") from None
            self.st = None
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        # a device, a pipe, or an open file named through /proc (/dev/stdout, /dev/fd/3): written
        # to as it is, never replaced
        self.direct = self.st is not None and (
            (not stat.S_ISREG(self.st.st_mode) and not stat.S_ISDIR(self.st.st_mode)) or _names_an_fd(path))
        self.real = os.path.realpath(path) if is_link and not self.direct else path
        self.directory = os.path.dirname(os.path.abspath(self.real))

    def check_replaceable(self) -> None:
        st = self.st
        if st is None:
            if not os.path.isdir(self.directory):
                raise OutputError(f"cannot write {self.path}: the directory {self.directory} does not exist")
            return
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {self.path}: it is a directory")
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            raise OutputError(f"{self.path} has {st.st_nlink} hard links: replacing it would leave the other "
                              "names with the old contents; remove the other links first")


def _names_an_fd(path: str) -> bool:
    """Whether ``path`` leads through /proc (``/dev/stdout`` -> ``/proc/self/fd/1``)."""
    p = os.path.abspath(path)
    for _ in range(40):
        if os.path.realpath(os.path.dirname(p)).startswith("/proc/"):
            return True
        if not os.path.islink(p):
            return False
        p = os.path.join(os.path.dirname(p), os.readlink(p))
    return False


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


# --- temp files -----------------------------------------------------------------------------

def _tmpfile_supported() -> bool:
    return hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


def _temp_name(directory: str) -> str:
    import secrets

    return os.path.join(directory, f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}.tmp")


def open_temp(directory: str, named: bool = False) -> tuple[int, str | None]:
    """A new 0600 temp file in ``directory``: (fd, None) when unnamed (``O_TMPFILE``), else (fd, name)."""
    if not named and _LINK_WAYS and _tmpfile_supported():
        try:
            return os.open(directory, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600), None
        except OSError as exc:
            import errno

            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise  # the file system supports it, but the directory is not writable (or absent)
    name = _temp_name(directory)
    return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0),
                   0o600), name


def discard(fd: int, name: str | None) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        os.close(fd)
    _unlink(name)


def _unlink(name: str | None) -> None:
    import contextlib

    if name is not None:
        with contextlib.suppress(OSError):
            os.unlink(name)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process (EPERM): alive
    return True


def sweep_temps(directory: str) -> None:
    """Remove ``.sopsy-<pid>-*.tmp`` files of ours whose process is gone (a kill -9 mid-write)."""
    import re

    pattern = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[0-9a-f]+\.tmp\Z")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    me = os.geteuid() if hasattr(os, "geteuid") else None
    for name in names:
        m = pattern.match(name)
        if m is None or int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1))):
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and (me is None or st.st_uid == me):
                os.unlink(path)
        except OSError:
            continue


def _keep_owner(fd: int, st: os.stat_result, path: str) -> None:
    """Give the new file the old one's owner and group (as far as we are allowed)."""
    if not hasattr(os, "fchown"):
        return
    cur = os.fstat(fd)
    if (cur.st_uid, cur.st_gid) == (st.st_uid, st.st_gid):
        return
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
        return
    except PermissionError:
        pass
    lost = []
    if cur.st_gid != st.st_gid:
        try:
            os.fchown(fd, -1, st.st_gid)
        except PermissionError:
            lost.append(f"group {st.st_gid}")
    if cur.st_uid != st.st_uid:
        lost.append(f"owner {st.st_uid}")
    if lost:
        print(f"sopsy: warning: {path}: could not keep its {' and '.join(lost)} (only root can); "
              "the new file is yours", file=sys.stderr)


# Ways to give an O_TMPFILE file a name, tried in order; one that fails for a reason of the
# system (a sandbox refusing /proc links, no CAP_DAC_READ_SEARCH) is dropped for the process.
_LINK_WAYS = ["proc", "empty_path"]


def _name_unnamed(fd: int, dest: str) -> bool:
    """Link the unnamed file ``fd`` at ``dest`` (which must not exist). False when no way works
    here; FileExistsError when ``dest`` exists."""
    import errno

    for way in list(_LINK_WAYS):
        try:
            if way == "proc":
                os.link(f"/proc/self/fd/{fd}", dest)  # linkat(AT_SYMLINK_FOLLOW): no privilege needed
            else:
                _linkat_empty_path(fd, dest)
            return True
        except FileExistsError:
            raise
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                _LINK_WAYS.remove(way)
                continue
            raise
    return False


def _linkat_empty_path(fd: int, dest: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, at_empty_path = -100, 0x1000  # Linux values, the same on every architecture
    if libc.linkat(fd, b"", at_fdcwd, os.fsencode(dest), at_empty_path) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), dest)


def _fill(fd: int, data: bytes, expected: os.stat_result | None, mode: int, path: str) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)
    if expected is not None:
        _keep_owner(fd, expected, path)
    os.fchmod(fd, mode)  # after chown, which may clear set-id bits


def commit(target: Target, data: bytes, mode: int | None, expected: os.stat_result | None,
            check: bool) -> None:
    """Write ``data`` to a temp file and put it in place of ``expected`` (None: create the file,
    failing if the name was taken meanwhile). With ``check`` the file must still be the one
    ``expected`` describes."""
    path, real, directory = target.path, target.real, target.directory
    if mode is None:
        mode = stat.S_IMODE(expected.st_mode) if expected is not None else 0o644 & ~_umask()
    sweep_temps(directory)
    fd, name = -1, None
    try:
        fd, name = open_temp(directory)
        _fill(fd, data, expected, mode, path)
        if check and expected is not None:
            try:
                now = os.stat(real)
            except FileNotFoundError:
                now = None
            if now is None or identity(now) != identity(expected):
                raise FileChanged(f"{path} was changed by another program meanwhile; not overwriting it")
        if name is None:
            # a new file takes its name directly; a replacement needs a name for the few
            # instructions until the rename (linkat cannot replace)
            dest = real if expected is None else _temp_name(directory)
            if not _name_unnamed(fd, dest):
                os.close(fd)
                fd, name = -1, None
                fd, name = open_temp(directory, named=True)
                _fill(fd, data, expected, mode, path)
            elif expected is not None:
                name = dest
        if name is not None:
            if expected is None:
                os.link(name, real)  # no-replace
                _unlink(name)
            else:
                os.replace(name, real)
            name = None
    except FileExistsError:
        discard(fd, name)
        raise FileChanged(f"{path} was created by another process meanwhile; not overwriting it") from None
    except FileNotFoundError as exc:
        discard(fd, name)
        if not os.path.isdir(directory):
            raise OutputError(f"cannot write {path}: the directory {directory} does not exist") from None
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except OSError as exc:
        discard(fd, name)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        discard(fd, name)
        raise
    os.close(fd)
    _sync_dir(directory)


def _sync_dir(directory: str) -> None:
    import contextlib

    with contextlib.suppress(OSError):  # make the rename durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

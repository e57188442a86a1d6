"""Reading inputs and writing outputs safely: atomic, locked, through links, owner kept.

Text is decoded as UTF-8 with ``surrogateescape`` so that any byte sequence (binary files,
stray Latin-1) survives a round trip, and no newline translation is done.

Every file sopsy writes goes through :func:`atomic_write` (``--output``), :func:`locked`
(read-modify-write: ``-i``, ``updatekeys``, ``set``/``unset``, the merge driver),
:func:`write_if_unchanged` (``edit``, which cannot hold a lock while a person types) or
:func:`create_new` (``keygen``). All of them:

* replace the file atomically: the new bytes go to a temp file in the same directory, are
  fsynced, and take the file's name in one rename, so a reader or a crash sees the old file or
  the new one. The temp file has no name until that moment where Linux allows it (``O_TMPFILE``,
  linked in through ``/proc/self/fd``), so a kill -9 leaves no plaintext beside the file;
  otherwise it is ``.sopsy-<pid>-*.tmp``, removed on every way out, and swept by the next write
  in that directory once its process is gone;
* write through a symlink to the real file (the link stays a link) and refuse a dangling link,
  a directory, and a file with several hard links (replacing it would leave the other names
  with the old contents: the plaintext, after ``encrypt -i``);
* keep the file's mode, owner and group (the owner needs root; a user keeps the group when a
  member of it, and is warned otherwise);
* never create directories.

A read-modify-write holds ``flock`` on the file itself from the read to the rename; a second
sopsy writer waits up to ``SOPSY_LOCK_TIMEOUT`` seconds (default 10) and then fails with exit 3.
Just before the rename the file is checked to be the one that was read, so a writer that does
not lock (an editor, sops) is not overwritten either. Hand-written because the libraries
(filelock, portalocker, atomicwrites) take a lock *file* beside the target, which a kill -9
leaves behind, and none of them keeps the owner or refuses hard links.
"""

from __future__ import annotations

import os
import stat
import sys

from .errors import FileBusy, FileChanged, InputError, NoFile, OutputError, UsageError

LOCK_TIMEOUT_ENV = "SOPSY_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10.0
TEMP_PREFIX = ".sopsy-"


def read_text(path: str | None) -> str:
    return decode(read_bytes(path))


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def read_bytes(path: str | None) -> bytes:
    if path is None or path == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NoFile(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InputError(f"{path} is a directory") from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}") from None
    return data


def encode(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")


# --- where a write lands ------------------------------------------------------------------

class _Target:
    """Where a write to ``path`` lands (through a symlink) and what is there now."""

    __slots__ = ("path", "real", "directory", "st")

    def __init__(self, path: str) -> None:
        self.path = path
        self.real = os.path.realpath(path) if os.path.islink(path) else path
        self.directory = os.path.dirname(os.path.abspath(self.real))
        self.st: os.stat_result | None
        try:
            self.st = os.stat(self.real)
        except FileNotFoundError:
            if self.real != path:
                raise OutputError(f"{path} is a symbolic link to {self.real}, which does not exist; "
                                  "not creating it") from None
            self.st = None
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None

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


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
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


def _open_temp(directory: str, named: bool = False) -> tuple[int, str | None]:
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


def _discard(fd: int, name: str | None) -> None:
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


def _commit(target: _Target, data: bytes, mode: int | None, expected: os.stat_result | None,
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
        fd, name = _open_temp(directory)
        _fill(fd, data, expected, mode, path)
        if check and expected is not None:
            try:
                now = os.stat(real)
            except FileNotFoundError:
                now = None
            if now is None or _identity(now) != _identity(expected):
                raise FileChanged(f"{path} was changed by another program meanwhile; not overwriting it")
        if name is None:
            # a new file takes its name directly; a replacement needs a name for the few
            # instructions until the rename (linkat cannot replace)
            dest = real if expected is None else _temp_name(directory)
            if not _name_unnamed(fd, dest):
                os.close(fd)
                fd, name = -1, None
                fd, name = _open_temp(directory, named=True)
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
        _discard(fd, name)
        raise FileChanged(f"{path} was created by another process meanwhile; not overwriting it") from None
    except FileNotFoundError as exc:
        _discard(fd, name)
        if not os.path.isdir(directory):
            raise OutputError(f"cannot write {path}: the directory {directory} does not exist") from None
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except OSError as exc:
        _discard(fd, name)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        _discard(fd, name)
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


# --- the writes commands use -------------------------------------------------------------------

def atomic_write(path: str, text: str | bytes, mode: int | None = None) -> None:
    """Replace (or create) ``path`` atomically with ``text`` (``--output``). A target that exists
    and is not a regular file or a directory (``/dev/null``, ``/dev/stdout``, a FIFO) is written
    to directly: renaming over it would replace the device."""
    target = _Target(path)
    st = target.st
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        try:
            with open(target.real, "wb") as f:
                f.write(encode(text))
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        return
    target.check_replaceable()
    _commit(target, encode(text), mode, st, check=False)


def create_new(path: str, text: str | bytes, mode: int = 0o600) -> None:
    """Create ``path``, which must not exist (not even as a dangling symlink): two concurrent
    creators cannot both succeed (``keygen --output``)."""
    if os.path.lexists(path):
        if os.path.islink(path) and not os.path.exists(path):
            raise OutputError(f"{path} is a symbolic link to a file that does not exist; not following it")
        raise OutputError(f"{path} exists; not overwriting it")
    target = _Target(path)
    target.check_replaceable()
    try:
        _commit(target, encode(text), mode, None, check=False)
    except FileChanged:
        raise OutputError(f"{path} was created by another process meanwhile; not overwriting it") from None


def check_writable(path: str) -> None:
    """Raise the OutputError a later write of ``path`` would meet (``edit`` asks before it opens
    the editor, so that nobody types into a file that cannot be saved)."""
    target = _Target(path)
    target.check_replaceable()
    try:
        fd, name = _open_temp(target.directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror} ({target.directory})") from None
    _discard(fd, name)


class LockedFile:
    """A file held by :func:`locked`: its contents as read under the lock, and one write."""

    def __init__(self, target: _Target, st: os.stat_result | None, data: bytes | None) -> None:
        self.path = target.path
        self.data = data  # None: the file does not exist
        self._target = target
        self._st = st
        self._written = False

    @property
    def exists(self) -> bool:
        return self.data is not None

    def read(self) -> bytes:
        if self.data is None:
            raise NoFile(f"no such file: {self.path}")
        return self.data

    def write(self, content: str | bytes, mode: int | None = None) -> None:
        """Replace the file (or create it when it did not exist), atomically, still under the lock."""
        if self._written:
            raise RuntimeError("a LockedFile is written once")
        self._target.st = self._st
        self._target.check_replaceable()
        _commit(self._target, encode(content), mode, self._st, check=True)
        self._written = True


def _lock_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise UsageError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds, not {raw[:40]!r}")
    return value


def _acquire(target: _Target) -> tuple[int | None, os.stat_result | None]:
    """Open and flock the file; (None, None) when it does not exist. Retries when the name was
    given to a new file while we waited (the previous writer renamed over it)."""
    import time

    try:
        import fcntl
    except ImportError:  # no flock (Windows): the identity check before the rename still applies
        fcntl = None  # type: ignore[assignment]
    deadline = time.monotonic() + _lock_timeout()
    while True:
        try:
            fd = os.open(target.real, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
        except FileNotFoundError:
            return None, None
        except IsADirectoryError:
            raise InputError(f"{target.path} is a directory") from None
        except OSError as exc:
            raise InputError(f"cannot read {target.path}: {exc.strerror}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise FileBusy(f"{target.path} is being written by another sopsy process; try again "
                                   f"(waited {_lock_timeout():g} s, see {LOCK_TIMEOUT_ENV})") from None
                time.sleep(0.02)
                continue
        st = os.fstat(fd)
        try:
            now = os.stat(target.real)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            return fd, st
        os.close(fd)  # replaced while we waited: lock the new file


def _read_fd(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def locked(path: str) -> _Locked:
    """Hold ``path`` for a read-modify-write::

        with fileio.locked(path) as f:
            new = change(f.read())      # f.data is None when the file does not exist
            f.write(new)                # atomic; the lock is held until the block ends

    A second sopsy writer of the same file waits (``SOPSY_LOCK_TIMEOUT``) or fails with
    :class:`FileBusy`; a file changed by a program that does not lock gives :class:`FileChanged`.
    """
    return _Locked(path)


class _Locked:
    """The context manager behind :func:`locked` (a class: contextlib costs start-up time)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> LockedFile:
        target = _Target(self.path)
        if target.st is not None and not stat.S_ISREG(target.st.st_mode):
            if stat.S_ISDIR(target.st.st_mode):
                raise InputError(f"{self.path} is a directory")
            raise InputError(f"{self.path} is not a regular file; it cannot be rewritten in place")
        self.fd, st = _acquire(target)
        try:
            data = _read_fd(self.fd) if self.fd is not None else None
        except OSError as exc:
            self.__exit__()
            raise InputError(f"cannot read {self.path}: {exc.strerror}") from None
        return LockedFile(target, st, data)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the flock
            self.fd = None


def write_if_unchanged(path: str, expected: bytes | None, text: str | bytes, mode: int | None = None) -> None:
    """Write ``path`` only if it still holds ``expected`` (None: still does not exist) — for a
    read-modify-write that cannot hold the lock throughout (``edit``)."""
    with locked(path) as f:
        if f.data != expected:
            what = "created" if expected is None else ("deleted" if f.data is None else "changed")
            raise FileChanged(f"{path} was {what} by someone else meanwhile; not overwriting it")
        f.write(text, mode)


# --- standard streams ----------------------------------------------------------------------------

def write_stdout(text: str | bytes) -> None:
    try:
        sys.stdout.buffer.write(encode(text))
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # the reader went away (`| head`): not an error worth a traceback
        import contextlib

        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())


def interactive() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal; it may also be closed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


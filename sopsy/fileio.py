"""Reading inputs and writing outputs safely: atomic, locked, through links, owner kept.

Text is decoded as UTF-8 with ``surrogateescape`` so that any byte sequence (binary files,
stray Latin-1) survives a round trip, and no newline translation is done.

Every file sopsy writes goes through :func:`atomic_write` (``--output``), :func:`locked`
(read-modify-write: ``-i``, ``updatekeys``, ``set``/``unset``, the merge driver),
:func:`write_if_unchanged` (``edit``, which cannot hold a lock while a person types) or
:func:`create_new` (``keygen``). All of them:

* replace the file atomically (:mod:`sopsy.atomic`): a temp file in the same directory,
  fsynced, renamed over the file, unnamed until then where Linux allows, so a reader, a crash or
  a kill -9 sees the old file or the new one and no plaintext is left beside it;
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

TYPE_CHECKING = False  # the write machinery is imported by writes only: `decrypt FILE` starts faster
if TYPE_CHECKING:
    from .atomic import Target

LOCK_TIMEOUT_ENV = "SOPSY_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 10.0


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


def shown(text: str) -> str:
    """``text`` (a message naming files found in a tree) safe for a terminal: control characters
    (an escape sequence, a newline forging a line) and bytes that are not UTF-8 in a hostile
    file name are written as ``\\xNN``, as git quotes such names."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else
                   f"\\x{ord(c) - 0xDC00 if 0xDC80 <= ord(c) <= 0xDCFF else ord(c):02x}" for c in text)


def encode(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")



# --- the writes commands use -------------------------------------------------------------------

def atomic_write(path: str, text: str | bytes, mode: int | None = None) -> None:
    """Replace (or create) ``path`` atomically with ``text`` (``--output``). A device, a pipe or
    a stream (``/dev/null``, ``/dev/stdout``, a FIFO) is written to directly: renaming over it
    would replace the device."""
    from .atomic import Target, commit

    target = Target(path)
    if target.direct:
        try:
            with open(path, "wb") as f:
                f.write(encode(text))
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        return
    target.check_replaceable()
    commit(target, encode(text), mode, target.st, check=False)


def create_new(path: str, text: str | bytes, mode: int = 0o600) -> None:
    """Create ``path``, which must not exist (not even as a dangling symlink): two concurrent
    creators cannot both succeed (``keygen --output``)."""
    if os.path.lexists(path):
        if os.path.islink(path) and not os.path.exists(path):
            raise OutputError(f"{path} is a symbolic link to a file that does not exist; not following it")
        raise OutputError(f"{path} exists; not overwriting it")
    from .atomic import Target, commit

    target = Target(path)
    target.check_replaceable()
    try:
        commit(target, encode(text), mode, None, check=False)
    except FileChanged:
        raise OutputError(f"{path} was created by another process meanwhile; not overwriting it") from None


def check_writable(path: str) -> None:
    """Raise the OutputError a later write of ``path`` would meet (``edit`` asks before it opens
    the editor, so that nobody types into a file that cannot be saved)."""
    from .atomic import Target, discard, open_temp

    target = Target(path)
    target.check_replaceable()
    try:
        fd, name = open_temp(target.directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror} ({target.directory})") from None
    discard(fd, name)


class LockedFile:
    """A file held by :func:`locked`: its contents as read under the lock, and one write."""

    def __init__(self, target: Target, st: os.stat_result | None, data: bytes | None) -> None:
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
        from .atomic import commit

        commit(self._target, encode(content), mode, self._st, check=True)
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


def _acquire(target: Target) -> tuple[int | None, os.stat_result | None]:
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
        from .atomic import Target

        target = Target(self.path)
        if target.st is not None and stat.S_ISDIR(target.st.st_mode):
            raise InputError(f"{self.path} is a directory")
        if target.direct:
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


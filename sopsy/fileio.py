"""Reading inputs and writing outputs safely: atomic in-place writes, bytes kept exact.

Text is decoded as UTF-8 with ``surrogateescape`` so that any byte sequence (binary files,
stray Latin-1) survives a round trip, and no newline translation is done.
"""

from __future__ import annotations

import os
import sys

from .errors import InputError, NoFile, OutputError


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


def atomic_write(path: str, text: str | bytes, mode: int | None = None) -> None:
    """Write via a temp file in the same directory, fsync, rename: the file is either the old
    one or the new one, never half-written. A target that exists and is not a regular file
    (``/dev/null``, ``/dev/stdout``, a FIFO) is written to directly: renaming over it would
    replace the device."""
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        try:
            with open(path, "wb") as f:
                f.write(encode(text))
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        return
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644 & ~_umask()
    import contextlib  # neither is needed on the read-only decrypt path
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".sopsy-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(encode(text))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


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

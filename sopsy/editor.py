"""``sopsy edit``: the only place plaintext touches a disk, and then only briefly.

The plaintext goes to a 0600 file inside a fresh 0700 directory, on tmpfs (/dev/shm) where the
machine has one, and both are removed on every way out: success, no change, editor failure,
invalid input, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from types import FrameType

from . import core
from .commands import KeyOptions, encrypt_options, stores_for
from .errors import NoEditor, NotModified, SopsyError, UsageError
from .fileio import atomic_write, interactive, read_text

EXAMPLES = {
    "yaml": "# sopsy: values you write here are encrypted when you save\nexample_key: example_value\n",
    "json": '{\n\t"example_key": "example_value"\n}\n',
    "dotenv": "EXAMPLE_KEY=example_value\n",
    "ini": "[section]\nexample_key = example_value\n",
    "tfvars": 'example_key = "example_value"\n',
    "binary": "example value\n",
}


def _private_dir() -> str:
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="sopsy-edit-", dir=base)  # mkdtemp makes it 0700


@contextlib.contextmanager
def private_file(text: str, name: str) -> Iterator[str]:
    directory = _private_dir()
    path = os.path.join(directory, os.path.basename(name) or "file")
    old_term = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    with contextlib.suppress(ValueError):  # not in the main thread: leave signals alone
        signal.signal(signal.SIGTERM, on_term)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8", "surrogateescape"))
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, old_term)


def editor_command() -> list[str]:
    for var in ("SOPS_EDITOR", "EDITOR"):
        value = os.environ.get(var)
        if value:
            return shlex.split(value)  # "code --wait" carries arguments
    for candidate in ("vim", "nano", "vi"):
        if shutil.which(candidate):
            return [candidate]
    raise NoEditor("no editor found: set $SOPS_EDITOR or $EDITOR")


def run_editor(path: str) -> None:
    cmd = editor_command()
    try:
        rc = subprocess.call([*cmd, path])
    except FileNotFoundError:
        raise NoEditor(f"editor not found: {cmd[0]}") from None
    if rc != 0:
        raise UsageError(f"the editor exited with code {rc}; the file was not changed")


def edit(path: str, keys: KeyOptions, *, input_type: str | None = None, ignore_mac: bool = False,
         decryption_order: str | None = None) -> None:
    store, _ = stores_for(path, input_type, None)
    opened: core.Opened | None = None
    if os.path.exists(path):
        text = read_text(path)
        from .merge.markers import has_conflict

        if has_conflict(text.encode("utf-8", "surrogateescape")):  # a merge conflict: resolve it
            from .merge.resolve import resolve

            resolve(path, input_type=input_type, decryption_order=decryption_order)
            return
        opened = core.decrypt_text(store, text, ignore_mac, decryption_order)
        original = opened.plaintext()
        new_opts = None
    else:
        original = EXAMPLES.get(store.name, "")
        new_opts = encrypt_options(path, keys)
    with private_file(original, path) as tmp:
        while True:
            run_editor(tmp)
            with open(tmp, "rb") as f:
                edited = f.read().decode("utf-8", "surrogateescape")
            if edited == original and opened is not None:
                raise NotModified("the file has not been modified")
            try:
                if opened is not None:
                    result = core.reencrypt(opened, edited)
                else:
                    assert new_opts is not None
                    result = core.encrypt_text(store, edited, new_opts)
                break
            except SopsyError as exc:
                if not interactive():
                    raise
                # keep the user's edit: show the problem and reopen the same temp file
                print(f"sopsy: {exc}", file=sys.stderr)
                input("Press Enter to edit again, or Ctrl-C to give up: ")
    atomic_write(path, result, None if opened is not None else 0o600)

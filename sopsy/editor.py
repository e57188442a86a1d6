"""``sopsy edit``: the only place plaintext touches a disk, and then only briefly.

The plaintext goes to a 0600 file inside a fresh 0700 directory, on tmpfs (/dev/shm) where the
machine has one. Nobody loses an edit, and no plaintext outlives the command by accident:

* before the editor opens, the target is checked to be writable (directory, hard links,
  permissions), so nobody types into a file that cannot be saved;
* the file is read under the write lock and written back only if it is still what was read
  (:func:`sopsy.fileio.write_if_unchanged`): two edits of one file never lose one;
* an edit that cannot be saved (invalid input without a terminal, the file changed meanwhile,
  a write error) is kept: its directory is renamed ``sopsy-kept-*`` and the message says where;
  on a terminal, invalid input reopens the editor instead; an editor that exits non-zero
  abandons the edit (vim's ``:cq``), as in git and sops;
* SIGHUP or SIGTERM (an ssh drop, a kill) stops the editor, removes the directory and exits 85;
  Ctrl-C is left to the editor, as git does; on Linux the editor also gets SIGHUP if sopsy dies
  (kill -9), and directories left by a killed sopsy are swept by the next ``edit`` (only ours,
  only when their process is gone: the directory name carries the pid and pid namespace).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys

from . import core, privatedir
from .commands import KeyOptions, encrypt_options, laid_out, stores_for
from .errors import Interrupted, NoEditor, NotModified, SopsyError, UsageError
from .fileio import check_writable, decode, interactive, locked, write_if_unchanged

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType, TracebackType
    from typing import Any

EXAMPLES = {
    "yaml": "# sopsy: values you write here are encrypted when you save\nexample_key: example_value\n",
    "json": '{\n\t"example_key": "example_value"\n}\n',
    "dotenv": "EXAMPLE_KEY=example_value\n",
    "ini": "[section]\nexample_key = example_value\n",
    "tfvars": 'example_key = "example_value"\n',
    "binary": "example value\n",
}
WORK_PREFIX = privatedir.prefix("edit")
KEPT_PREFIX = "sopsy-kept-"


def sweep_stale() -> None:
    """Remove our edit directories whose sopsy process is gone (kill -9 leaves them)."""
    privatedir.sweep("edit")


class PrivateFile:
    """The plaintext for the editor, removed on exit unless :meth:`keep` was called."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = os.path.basename(name) or "file"
        self.directory = ""
        self.path = ""
        self.kept = False

    def __enter__(self) -> PrivateFile:
        self.directory = privatedir.make("edit")  # 0700, on tmpfs where there is one
        self.path = os.path.join(self.directory, self.name)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(self.text.encode("utf-8", "surrogateescape"))
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        return self

    def keep(self) -> str:
        """Leave the edited text in place (under a name the sweep ignores); returns its path."""
        kept_dir = self.directory.replace(WORK_PREFIX, KEPT_PREFIX, 1)
        try:
            os.rename(self.directory, kept_dir)
        except OSError:
            kept_dir = self.directory
        self.kept = True
        return os.path.join(kept_dir, self.name)

    def read(self) -> str:
        with open(self.path, "rb") as f:
            return decode(f.read())

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.kept:
            shutil.rmtree(self.directory, ignore_errors=True)


def editor_command() -> list[str]:
    for var in ("SOPS_EDITOR", "EDITOR"):
        value = os.environ.get(var)
        if value:
            try:
                return shlex.split(value)  # "code --wait" carries arguments
            except ValueError as exc:
                raise NoEditor(f"${var} cannot be split into a command: {exc}") from None
    for candidate in ("vim", "nano", "vi"):
        if shutil.which(candidate):
            return [candidate]
    raise NoEditor("no editor found: set $SOPS_EDITOR or $EDITOR")


def _die_with_parent() -> Any:
    """A preexec_fn giving the editor SIGHUP when sopsy dies, even by kill -9 (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
    except (OSError, ImportError):
        return None
    parent = os.getpid()

    def set_pdeathsig() -> None:
        libc.prctl(1, signal.SIGHUP)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(129)

    return set_pdeathsig


def run_editor(path: str) -> None:
    cmd = editor_command()
    try:
        proc = subprocess.Popen([*cmd, path], preexec_fn=_die_with_parent())  # noqa: PLW1509 - single thread
    except FileNotFoundError:
        raise NoEditor(f"editor not found: {cmd[0]}") from None
    except OSError as exc:
        raise NoEditor(f"cannot run the editor {cmd[0]}: {exc.strerror}") from None
    got_int: list[int] = []

    def on_int(signum: int, frame: FrameType | None) -> None:
        got_int.append(signum)  # Ctrl-C belongs to the editor (as in git); we only note it

    try:
        old_int = signal.signal(signal.SIGINT, on_int)
    except ValueError:  # not the main thread
        old_int = None
    try:
        rc = proc.wait()
    except BaseException:  # SIGHUP/SIGTERM (see guard): stop the editor before the plaintext goes
        _stop(proc)
        raise
    finally:
        if old_int is not None:
            signal.signal(signal.SIGINT, old_int)
    if rc != 0 and got_int:
        raise Interrupted("interrupted; the file was not changed")
    if rc < 0:
        raise UsageError(f"the editor was killed by {signal.Signals(-rc).name}; the file was not changed")
    if rc != 0:
        raise UsageError(f"the editor exited with code {rc}; the file was not changed")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        proc.send_signal(signal.SIGHUP)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def edit(path: str, keys: KeyOptions, *, input_type: str | None = None, ignore_mac: bool = False,
         decryption_order: str | None = None, show_master_keys: bool = False) -> None:
    """Edit ``path`` (creating it when missing); ``show_master_keys``: the ``sops`` metadata is
    in the editor too and is taken as edited (sops's ``-s``; a new file is shown without it)."""
    sweep_stale()
    store, _ = stores_for(path, input_type, None)
    check_writable(path)
    with locked(path) as f:  # waits for a writer in progress; the file is compared again before the write
        raw = f.data
    opened: core.Opened | None = None
    new_opts = None
    if raw is not None:
        from .merge.markers import has_conflict

        if has_conflict(raw):  # a merge conflict left by the driver (or by git): resolve it
            from .merge.resolve import resolve

            resolve(path, input_type=input_type, decryption_order=decryption_order)
            return
        opened = core.decrypt_text(store, decode(raw), ignore_mac, decryption_order, name=path)
        shown = core.with_metadata(opened) if show_master_keys else opened.plaintext()
        original = laid_out(shown, store)  # with --indent, sops's layout in the editor too
    else:
        original = EXAMPLES.get(store.name, "")
        try:
            new_opts = encrypt_options(path, keys)
        except SopsyError as exc:
            raise type(exc)(f"creating {path} (it does not exist): {exc}", exc.exit_code) from None
    with PrivateFile(original, path) as tmp:
        while True:
            run_editor(tmp.path)
            edited = tmp.read()
            if edited == original and opened is not None:
                raise NotModified("the file has not been modified")
            try:
                if opened is not None and show_master_keys:
                    result = core.reencrypt_with_metadata(opened, edited)
                elif opened is not None:
                    result = core.reencrypt(opened, edited)
                else:
                    assert new_opts is not None
                    result = core.encrypt_text(store, edited, new_opts)
                result = laid_out(result, store, True)
                break
            except SopsyError as exc:  # the text cannot be encrypted: reopen it, or keep it
                if not interactive() or not _ask_again(exc):
                    raise type(exc)(f"{exc}; {_kept(tmp)}", exc.exit_code) from None
            except Exception:
                print(f"sopsy: {_kept(tmp)}", file=sys.stderr)
                raise
        try:
            write_if_unchanged(path, raw, result, None if raw is not None else 0o600)
        except SopsyError as exc:  # changed meanwhile, or cannot be written: keep the text
            raise type(exc)(f"{exc}; {_kept(tmp)}", exc.exit_code) from None


def _kept(tmp: PrivateFile) -> str:
    return f"your edit is kept in {tmp.keep()} (plaintext: delete it when done)"


def _ask_again(exc: SopsyError) -> bool:
    """On a terminal: show the problem and reopen the same text (as sops does). False when the
    answer cannot be read."""
    print(f"sopsy: {exc}", file=sys.stderr)
    try:
        input("Press Enter to edit again, or Ctrl-C to give up: ")
    except EOFError:
        return False
    return True

"""Run time: ``exec-env`` and ``exec-file``, a command that gets the secrets and nothing else does.

The plaintext goes only where the command reads it: its environment (``exec-env``), or a FIFO
or a 0600 file in a private 0700 directory on tmpfs (``exec-file``); never into its arguments,
never to a disk.

**exec-env replaces sopsy with the command** (``execve``), where sops (without
``--same-process``) runs a child and waits. Nothing has to happen after the command, so the
command simply becomes the process sopsy was: every signal sent to that pid (TERM from a
process manager or a container runtime, HUP, Ctrl-C, WINCH...) reaches it with nothing in
between, its exit status (or the signal that ended it) is the one the caller sees, a process
manager's pid is the command's, and no process holding the decrypted file stays behind. A
forwarding parent could only get these almost right, and would be one more process to kill.

**exec-file must remove the file when the command ends**, so sopsy stays as the parent: it
passes every signal it gets to the command (:mod:`.process`), waits for it, removes the
directory whatever way the command ended, and exits with the command's status (``128+N`` for
a signal, as a shell reports it). If sopsy itself is SIGKILLed the directory stays until the
next ``exec-file`` sweeps it (:mod:`sopsy.privatedir`, shared with ``edit``).

Two forms for the command, as in the issue: ``-- COMMAND [ARG...]`` runs an argument list
without a shell; one string (sops's form) runs through ``/bin/sh -c``.
"""

from __future__ import annotations

import os
import shutil
import sys

from ..errors import ConflictingParameters, UsageError
from .envvars import EnvOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EnvOptions", "exec_env", "exec_file", "FALLBACK_FILENAME"]

FALLBACK_FILENAME = "tmp-file"  # sops's name for the FIFO or file when --filename is not given


class Command:
    """What to run: an argument list (``argv``) or sops's shell string (``shell``)."""

    def __init__(self, argv: Sequence[str] | None = None, shell: str | None = None) -> None:
        if (argv is None) == (shell is None):
            raise UsageError("give the command either after -- or as one string")
        if argv is not None and not argv:
            raise UsageError("no command after --")
        self.argv = list(argv) if argv is not None else None
        self.shell = shell

    def with_path(self, path: str) -> list[str]:
        """The argument list to run, ``{}`` replaced by ``path`` (exec-file)."""
        from .process import shell_argv

        if self.shell is not None:
            return shell_argv(self.shell.replace("{}", path))
        return [a.replace("{}", path) for a in self.argv or []]

    def plain(self) -> list[str]:
        from .process import shell_argv

        return shell_argv(self.shell) if self.shell is not None else list(self.argv or [])


def _check_modes(background: bool, same_process: bool) -> None:
    if background and same_process:
        raise ConflictingParameters("--same-process cannot be used with --background")
    if background:
        print("sopsy: --background is deprecated (as in sops): the command runs on after sopsy exits",
              file=sys.stderr)


def environment(paths: Sequence[str], options: EnvOptions, base: dict[str, str], *,
                input_type: str | None = None, decryption_order: str | None = None,
                ignore_mac: bool = False) -> dict[str, str]:
    """The command's environment: ``base``, then each file's variables, a later file
    overriding an earlier one."""
    from .. import core
    from ..commands import check_input_file, stores_for
    from ..fileio import read_text
    from .envvars import file_variables

    env = dict(base)
    for path in paths:
        check_input_file(path)
        store, _ = stores_for(path, input_type, None)
        opened = core.decrypt_text(store, read_text(path), ignore_mac, decryption_order, name=path)
        env.update(file_variables(opened, path, options, env))
    return env


def exec_env(paths: Sequence[str], command: Command, options: EnvOptions, *, pristine: bool = False,
             input_type: str | None = None, decryption_order: str | None = None, ignore_mac: bool = False,
             user: str | None = None, background: bool = False, same_process: bool = False) -> int:
    """Run ``command`` with the files' values in its environment. Replaces sopsy with the
    command (returns only with ``background``, or by raising when it cannot start)."""
    from . import process

    _check_modes(background, same_process)
    if not paths:
        raise UsageError("exec-env needs a file")
    who = process.User(user) if user else None
    # as sops: the inherited environment, the user's HOME/USER/LOGNAME, then the files' values
    base = {} if pristine else dict(os.environ)
    base.update(who.environment() if who else {})
    env = environment(paths, options, base, input_type=input_type, decryption_order=decryption_order,
                      ignore_mac=ignore_mac)
    if who:
        who.become()  # after decrypting: the keys are the caller's
    if background:
        process.spawn(command.plain(), env)
        return 0
    process.exec_replace(command.plain(), env)


def exec_file(path: str, command: Command, *, fifo: bool = True, filename: str | None = None,
              input_type: str | None = None, output_type: str | None = None, decryption_order: str | None = None,
              ignore_mac: bool = False, user: str | None = None) -> int:
    """Run ``command`` with ``{}`` replaced by the path of the decrypted file; returns its exit
    status once the file is gone."""
    from .. import privatedir
    from ..commands import check_input_file, decrypted
    from ..fileio import encode, read_bytes
    from . import process

    name = _check_filename(filename)
    check_input_file(path)
    plaintext = encode(decrypted(read_bytes(path), path, input_type=input_type, output_type=output_type,
                                 ignore_mac=ignore_mac, decryption_order=decryption_order))
    env = dict(os.environ)
    if user:
        who = process.User(user)
        env.update(who.environment())
        who.become()  # before the directory is made, so that it is the user's (as sops)
    privatedir.sweep("exec")
    directory = privatedir.make("exec")
    try:
        return _serve_and_run(directory, name, plaintext, fifo, command, env)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _serve_and_run(directory: str, name: str | None, plaintext: bytes, fifo: bool, command: Command,
                   env: dict[str, str]) -> int:
    from . import process

    server = None
    if fifo:
        from .fifo import FifoServer

        server = FifoServer(os.path.join(directory, name or FALLBACK_FILENAME), plaintext)
        target = server.path
    else:
        target = _write_private(directory, name, plaintext)
    del plaintext

    def started(pid: int) -> None:
        if server is not None:
            server.start()

    def finished() -> None:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)

    return process.run_forwarding(command.with_path(target), env, started, finished)


def _write_private(directory: str, name: str | None, data: bytes) -> str:
    import tempfile

    if name is None:  # sops: os.CreateTemp(dir, "tmp-file"), a random suffix
        fd, target = tempfile.mkstemp(prefix=FALLBACK_FILENAME, dir=directory)
    else:
        target = os.path.join(directory, name)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return target


def _check_filename(filename: str | None) -> str | None:
    """``--filename`` names a file inside the private directory, nothing else (sops: a local path)."""
    if filename is None or filename == "":
        return None
    if "/" in filename or filename in (".", "..") or "\0" in filename:
        raise UsageError(f"--filename must be a plain file name, not a path: {filename!r}")
    return filename

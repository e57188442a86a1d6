"""Starting the command of ``exec-env`` and ``exec-file``: replacing sopsy with it, or running
it as a child that gets every signal sopsy gets.

Signals (:func:`run_forwarding`): sopsy blocks the forwarded signals and waits for them with
``sigtimedwait``, which tells who sent each one. A signal the terminal sent (Ctrl-C, Ctrl-\\, a
window resize, a hang-up: ``si_code`` is ``SI_KERNEL``) already reached the child, which is in
the same foreground process group, so it is not sent a second time (many programs take a second
Ctrl-C as "quit now"). Any other (``kill``, a process manager, a container runtime) is passed on.
sopsy itself never stops the child: it waits for it and returns its status, ``128+N`` when a
signal ended it, as a shell reports it. A Python handler stays installed as well, for a signal
another thread happens to receive (the gRPC key-service client has threads of its own).

The child starts through ``posix_spawn`` with the signal mask sopsy had before and SIGPIPE and
SIGXFSZ at their defaults (Python ignores them; ``subprocess`` restores them the same way).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys

from ..errors import CommandNotFound, CommandNotRunnable, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from types import FrameType
    from typing import Any, NoReturn

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)
_RESET = (signal.SIGPIPE, signal.SIGXFSZ)
_SI_KERNEL = 0x80  # Linux: the signal came from the kernel (the terminal driver), not from kill()
_POLL = 0.25  # seconds between checks for a child whose SIGCHLD another thread took


def shell_argv(command: str) -> list[str]:
    """sops's form: one string run by ``/bin/sh -c``."""
    return ["/bin/sh", "-c", command]


def resolve(argv0: str, env: Mapping[str, str]) -> str:
    """The program to run: a name is looked up in the command's own PATH if the environment
    sets one (as a shell would), else in sopsy's."""
    if not argv0:
        raise UsageError("the command is empty")
    if "/" in argv0:
        return argv0
    path = env["PATH"] if "PATH" in env else os.environ.get("PATH", os.defpath)
    found = shutil.which(argv0, path=path)
    if found is None:
        raise CommandNotFound(f"command not found: {argv0}")
    return found


def _spawn_error(argv0: str, exc: OSError) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return CommandNotFound(f"command not found: {argv0}")
    return CommandNotRunnable(f"cannot run {argv0}: {exc.strerror}")


def exec_replace(argv: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Replace sopsy with the command: same process, so every signal and the exit status are
    the command's own, and nothing of sopsy (its memory, the plaintext) is left."""
    program = resolve(argv[0], env)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    for sig in _RESET:
        signal.signal(sig, signal.SIG_DFL)
    try:
        os.execve(program, list(argv), dict(env))
    except OSError as exc:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        raise _spawn_error(argv[0], exc) from None
    raise AssertionError("execve returned")  # pragma: no cover


def spawn(argv: Sequence[str], env: Mapping[str, str], mask: Iterable[int] | None = None) -> int:
    """Start the command (its signal mask ``mask``, else sopsy's now); returns its pid."""
    program = resolve(argv[0], env)
    if mask is None:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        return os.posix_spawn(program, list(argv), dict(env), setsigmask=mask, setsigdef=_RESET)
    except OSError as exc:
        raise _spawn_error(argv[0], exc) from None


def exit_status(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code


class _Child:
    """The running child, for the signal paths."""

    def __init__(self) -> None:
        self.pid = 0
        self.status: int | None = None

    def send(self, signum: int) -> None:
        if self.pid and self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def poll(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = exit_status(status)
        return self.status is not None

    def from_terminal(self, info: signal.struct_siginfo) -> bool:
        """The terminal sent it to our process group, the child's too (unless it left it)."""
        if info.si_code != _SI_KERNEL:
            return False
        try:
            return os.getpgid(self.pid) == os.getpgrp()
        except OSError:
            return False


def run_forwarding(argv: Sequence[str], env: Mapping[str, str], started: Callable[[int], None] | None = None,
                   finished: Callable[[], None] | None = None) -> int:
    """Run the command as a child, pass on every signal in :data:`FORWARDED`, wait for it and
    return its exit status. ``started(pid)`` runs once the child exists (exec-file's FIFO
    writer starts there), ``finished()`` once it has ended, before any signal can interrupt
    sopsy again (exec-file removes its directory there)."""
    child = _Child()
    # a signal sopsy was started with ignored (nohup, a background job) stays ignored, for the
    # command too, as it would be without sopsy in between
    forwarded = [s for s in FORWARDED if signal.getsignal(s) != signal.SIG_IGN]
    watched: set[int] = {*forwarded, signal.SIGCHLD}

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send(signum)

    old_handlers: dict[int, Any] = {}
    with contextlib.suppress(ValueError):  # only the main thread may; elsewhere, the mask does it
        for sig in forwarded:
            old_handlers[sig] = signal.signal(sig, forward)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        child.pid = spawn(argv, env, old_mask)
        if started is not None:
            started(child.pid)
        while not child.poll():
            info = signal.sigtimedwait(watched, _POLL)
            if info is not None and info.si_signo != signal.SIGCHLD and not child.from_terminal(info):
                child.send(info.si_signo)
        return child.status if child.status is not None else 1
    finally:
        _finish(child, watched, old_mask, old_handlers, finished)


def _finish(child: _Child, watched: set[int], old_mask: Iterable[int], old_handlers: dict[int, Any],
            finished: Callable[[], None] | None) -> None:
    """Clean up while the signals are still held, drop those that were meant for the child,
    then put sopsy's own handling back."""
    if child.pid and child.status is None:  # sopsy itself failed while the child runs: end it
        child.send(signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child.pid, 0)
    if finished is not None:
        finished()
    while signal.sigtimedwait(watched, 0) is not None:
        pass
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    for sig, handler in old_handlers.items():
        signal.signal(sig, handler)


class User:
    """sops's ``--user``: whom the command runs as (switching needs root)."""

    def __init__(self, name: str) -> None:
        import pwd

        try:
            self.entry = pwd.getpwnam(name)
        except KeyError:
            raise UsageError(f"--user: no such user: {name}") from None

    def environment(self) -> dict[str, str]:
        e = self.entry
        return {"HOME": e.pw_dir, "USER": e.pw_name, "LOGNAME": e.pw_name}

    def become(self) -> None:
        e = self.entry
        if (os.geteuid(), os.getegid()) == (e.pw_uid, e.pw_gid):
            return
        try:
            os.initgroups(e.pw_name, e.pw_gid)
            os.setgid(e.pw_gid)
            os.setuid(e.pw_uid)
        except OSError as exc:
            raise UsageError(f"--user: cannot switch to {e.pw_name}: {exc.strerror}") from None

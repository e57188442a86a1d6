"""The one place where an exception becomes a stderr line and an exit code.

Every command runs through :func:`run_guarded`: a :class:`~sopsy.errors.SopsyError` prints its
one-line message and exits with its code (sops's codes, see README); typer/click usage errors
exit 1 with click's message; anything else is a bug and still gives one line (``SOPSY_DEBUG=1``
shows the traceback). click is recognised by class name so that the typer-free fast paths need
not import it.

Ctrl-C, SIGTERM and SIGHUP all end a command the same way: as an :class:`Interrupted` raised
where the command is, so that every ``finally`` runs (temp files and the edit directory are
removed), then exit 85 (sops's KeyboardInterrupt code). A command that runs a child (``edit``,
``exec-env``) may handle them itself while the child runs.
"""

from __future__ import annotations

import os
import sys

from .errors import Interrupted, SopsyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# click's exceptions for bad command lines (all exit 1, as sops's "Incorrect Usage")
_CLICK_USAGE = frozenset({"UsageError", "BadParameter", "NoSuchOption", "MissingParameter", "BadOptionUsage",
                          "BadArgumentUsage", "NoSuchCommand"})


def report(message: str) -> None:
    print(f"sopsy: {message}", file=sys.stderr)


def _on_signal(signum: int, frame: object) -> None:
    import signal

    for sig in (signal.SIGTERM, signal.SIGHUP):  # one is enough: let the clean-up run undisturbed
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(f"interrupted by {signal.Signals(signum).name}")


def _catch_signals() -> None:
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:  # SIG_IGN (nohup) stays
            try:
                signal.signal(sig, _on_signal)
            except ValueError:  # not the main thread
                return


def run_guarded(fn: Callable[[], Any]) -> int:
    """Run a command; map errors to sops's exit codes with a one-line message."""
    _catch_signals()
    try:
        result = fn()
        return result if isinstance(result, int) else 0
    except SopsyError as exc:
        report(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        report("interrupted")
        return Interrupted.exit_code
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except RecursionError:
        report("the input is nested too deeply")
        return 2
    except MemoryError:
        report("out of memory")
        return 1
    except Exception as exc:  # a bug: still one line, unless the user asks for the trace
        if os.environ.get("SOPSY_DEBUG"):
            raise
        name = type(exc).__name__
        if name in _CLICK_USAGE:
            fmt = getattr(exc, "format_message", None)
            msg = fmt() if callable(fmt) else str(exc)
            report(" ".join(msg.split()))
            return 1
        if name == "NoArgsIsHelpError":
            return 0
        if name == "Abort":
            report("aborted")
            return Interrupted.exit_code
        report(f"internal error ({name}); please report it (SOPSY_DEBUG=1 shows the details)")
        return 1

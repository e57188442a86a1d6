"""The ``sopsy`` command line: a thin typer layer over :mod:`sopsy.commands` and friends.

One module per group of commands; each registers its commands on :data:`app`. Errors are one
line on stderr with sops's exit codes (:mod:`sopsy.guard`), never a traceback.
"""

from __future__ import annotations

from . import crypt, gitcmds, info, keycmds, keyservice, runcmds  # noqa: F401  (they register their commands)
from .app import app

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI in-process (tests, embedding): global flags and the legacy form included."""
    import sys

    from ..argv import normalise
    from ..guard import run_guarded

    args = list(sys.argv[1:] if argv is None else argv)
    return run_guarded(lambda: app(args=normalise(args), prog_name="sopsy", standalone_mode=False))

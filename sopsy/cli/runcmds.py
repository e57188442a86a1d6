"""Run time: exec-env."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import commands
from .app import InType, Order, RequiredFile, app


@app.command("exec-env", context_settings={"allow_interspersed_args": False})
def exec_env(
    file: RequiredFile,
    command: Annotated[str, typer.Argument(metavar="COMMAND",
                                           help="Run with /bin/sh -c, the file's values in its environment.",
                                           show_default=False)],
    pristine: Annotated[bool, typer.Option("--pristine", help="Only the file's values, no inherited environment.")] = False,
    input_type: InType = None,
    decryption_order: Order = None,
) -> int:
    """Run a command with the secrets in its environment and nowhere else; passes on its exit code."""
    return commands.exec_env(file, command, pristine=pristine, input_type=input_type,
                             decryption_order=decryption_order)

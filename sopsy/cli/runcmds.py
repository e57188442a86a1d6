"""Run time: exec-env and exec-file (what they do: :mod:`sopsy.runtime`)."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import runtime
from ..argv import ARGV_MARK
from ..errors import ConflictingParameters, UsageError
from .app import IgnoreMac, InType, Order, OutType, app

ExecArgs = Annotated[list[str], typer.Argument(
    metavar="FILE... -- COMMAND [ARG]... | FILE 'COMMAND'", show_default=False,
    help="The encrypted file(s), then the command: after --, an argument list run without a shell; "
         "or, as sops takes it, one string run by /bin/sh -c.")]
ExecFileArgs = Annotated[list[str], typer.Argument(
    metavar="FILE -- COMMAND [ARG]... | FILE 'COMMAND'", show_default=False,
    help="The encrypted file, then the command, {} standing for the path of the plaintext: after --, "
         "an argument list run without a shell; or, as sops takes it, one string run by /bin/sh -c.")]
Background = Annotated[bool, typer.Option(
    "--background", help="Deprecated (as in sops): start the command and exit at once, without waiting for it.")]
User = Annotated[str | None, typer.Option(
    "--user", metavar="NAME", help="Run the command as this user (sopsy must run as root).")]


def split_command(args: list[str], command_name: str) -> tuple[list[str], runtime.Command]:
    """(files, command) from the positional arguments (see :data:`sopsy.argv.ARGV_MARK`)."""
    if ARGV_MARK in args:
        i = args.index(ARGV_MARK)
        files, argv = args[:i], args[i + 1:]
        if not files:
            raise UsageError(f"{command_name}: name the encrypted file before --")
        return files, runtime.Command(argv=argv)
    if len(args) != 2:
        raise UsageError(f"{command_name} takes FILE 'COMMAND STRING', or FILE... -- COMMAND [ARG]...")
    return [args[0]], runtime.Command(shell=args[1])


@app.command("exec-env")
def exec_env(
    args: ExecArgs,
    pristine: Annotated[bool, typer.Option(
        "--pristine", help="Start from an empty environment: only the files' values (and --user's HOME/USER).")] = False,
    separator: Annotated[str, typer.Option(
        "--separator", metavar="TEXT", help="Join nested keys with TEXT (db: {password: x} gives db_password).")] = "_",
    upper: Annotated[bool, typer.Option("--upper", help="Upper-case the names (db_password gives DB_PASSWORD).")] = False,
    prefix: Annotated[str, typer.Option("--prefix", metavar="TEXT", help="Put TEXT in front of every name.")] = "",
    json_values: Annotated[bool, typer.Option(
        "--json-values", help="Give each nested mapping or list as one variable holding its JSON "
                              "(lists are an error without it).")] = False,
    user: User = None,
    same_process: Annotated[bool, typer.Option(
        "--same-process", help="Accepted for sops: sopsy always replaces itself with the command.")] = False,
    background: Background = False,
    input_type: InType = None,
    decryption_order: Order = None,
    ignore_mac: IgnoreMac = False,
) -> int:
    """Run a command with the files' values in its environment (later files win) and nowhere else.

    sopsy replaces itself with the command (exec): signals reach it directly; its exit status is sopsy's."""
    files, command = split_command(args, "exec-env")
    options = runtime.EnvOptions(separator=separator, upper=upper, prefix=prefix, json_values=json_values)
    return runtime.exec_env(files, command, options, pristine=pristine, input_type=input_type,
                            decryption_order=decryption_order, ignore_mac=ignore_mac, user=user,
                            background=background, same_process=same_process)


@app.command("exec-file")
def exec_file(
    args: ExecFileArgs,
    no_fifo: Annotated[bool, typer.Option(
        "--no-fifo", help="A 0600 file in a private directory on tmpfs instead of a FIFO "
                          "(for programs that read the file twice or seek in it).")] = False,
    filename: Annotated[str | None, typer.Option(
        "--filename", metavar="NAME", help="The name of the FIFO or file (default: tmp-file, as sops).")] = None,
    user: User = None,
    background: Background = False,
    input_type: InType = None,
    output_type: OutType = None,
    decryption_order: Order = None,
    ignore_mac: IgnoreMac = False,
) -> int:
    """Run a command with {} replaced by the path of the decrypted file, removed when the command ends.

    Signals sopsy gets are passed on to the command; its exit status is sopsy's."""
    files, command = split_command(args, "exec-file")
    if len(files) != 1:
        raise UsageError("exec-file takes one encrypted file")
    if background:
        raise ConflictingParameters("exec-file --background is not supported: the file is removed when sopsy exits, "
                                    "so a command left running would lose it")
    return runtime.exec_file(files[0], command, fifo=not no_fifo, filename=filename, input_type=input_type,
               output_type=output_type, decryption_order=decryption_order, ignore_mac=ignore_mac, user=user)

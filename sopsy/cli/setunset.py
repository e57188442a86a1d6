"""set and unset (sops 3.9+): change one value of an encrypted file by its path."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import IgnoreMac, InType, Order, OutType, app

PathArg = Annotated[str | None, typer.Argument(
    metavar="PATH", help="""Where, as sops writes it: '["a"]["b"][0]'.""", show_default=False)]
FileArg = Annotated[str | None, typer.Argument(metavar="FILE", help="The encrypted file (rewritten in place).",
                                               show_default=False)]
Idempotent = Annotated[bool, typer.Option("--idempotent", help="Write nothing if the file already is as asked.")]


@app.command("set", context_settings={"ignore_unknown_options": True})  # a value such as -1
def set_(
    file: FileArg = None,
    path: PathArg = None,
    value: Annotated[str | None, typer.Argument(
        metavar="VALUE", help="The new value as JSON (a file name with --value-file; none with --value-stdin).",
        show_default=False)] = None,
    value_file: Annotated[bool, typer.Option(
        "--value-file", help="VALUE names a file holding the JSON value (keeps it out of process listings).")] = False,
    value_stdin: Annotated[bool, typer.Option(
        "--value-stdin", help="Read the JSON value from standard input (keeps it out of process listings).")] = False,
    idempotent: Idempotent = False,
    ignore_mac: IgnoreMac = False,
    input_type: InType = None,
    output_type: OutType = None,
    decryption_order: Order = None,
    shamir_threshold: Annotated[int | None, typer.Option(
        "--shamir-secret-sharing-threshold", metavar="N",
        help="Accepted as sops accepts it; set and unset keep the file's key groups and threshold.")] = None,
) -> None:
    """Set the value at PATH (missing mappings are created, an index past a list's end
    appends); only that value, lastmodified and mac change in the file."""
    from .. import setunset
    from ..errors import NoFile, UsageError

    if value_file and value_stdin:
        raise UsageError("cannot use both --value-file and --value-stdin")
    given = [a for a in (file, path, value) if a is not None]
    if len(given) != (2 if value_stdin else 3):
        raise NoFile("set needs FILE, PATH and VALUE" + (" and no VALUE with --value-stdin" if value_stdin else ""))
    assert file is not None and path is not None
    data = _value(value, value_file, value_stdin)
    setunset.set_value(file, path, data, input_type=input_type, ignore_mac=ignore_mac, idempotent=idempotent,
                       decryption_order=decryption_order, output_type=output_type)


@app.command("unset")
def unset(
    file: FileArg = None,
    path: PathArg = None,
    idempotent: Annotated[bool, typer.Option(
        "--idempotent", help="A PATH the file does not have is no error (nothing is written).")] = False,
    ignore_mac: IgnoreMac = False,
    input_type: InType = None,
    output_type: OutType = None,
    decryption_order: Order = None,
    shamir_threshold: Annotated[int | None, typer.Option(
        "--shamir-secret-sharing-threshold", metavar="N",
        help="Accepted as sops accepts it; set and unset keep the file's key groups and threshold.")] = None,
) -> None:
    """Remove the value at PATH (with its own comments); only that value, lastmodified and mac
    change in the file."""
    from .. import setunset
    from ..errors import NoFile

    if file is None or path is None:
        raise NoFile("unset needs FILE and PATH")
    setunset.unset_value(file, path, input_type=input_type, ignore_mac=ignore_mac, idempotent=idempotent,
                         decryption_order=decryption_order, output_type=output_type)


def _value(value: str | None, value_file: bool, value_stdin: bool) -> bytes | str:
    import sys

    from ..errors import UsageError

    if value_stdin:
        return sys.stdin.buffer.read()
    assert value is not None
    if not value_file:
        return value
    try:
        with open(value, "rb") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"--value-file: cannot read {value}: {exc.strerror}") from None

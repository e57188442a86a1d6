"""Key management: keygen, updatekeys."""

from __future__ import annotations

import sys
from datetime import UTC
from typing import Annotated

import typer

from .. import commands
from .app import InType, Order, app


@app.command()
def keygen(output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="PATH",
        help="Write the identity to this new file (0600; it must not exist, its directory must).")] = None) -> None:
    """Make a new age identity (for a newcomer); prints the public recipient on stderr."""
    from ..keys import age as age_keys

    secret, public = age_keys.generate()
    from datetime import datetime

    text = f"# created: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n# public key: {public}\n{secret}\n"
    if output:
        from ..fileio import create_new

        create_new(output, text, 0o600)  # O_EXCL-like: never overwrites, never follows a link
    else:
        sys.stdout.write(text)
    print(f"Public key: {public}", file=sys.stderr)


@app.command()
def updatekeys(
    files: Annotated[list[str], typer.Argument(metavar="FILE...", help="Encrypted files to re-key.",
                                               show_default=False)],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
    input_type: InType = None,
    decryption_order: Order = None,
) -> None:
    """Re-wrap each file's data key for the keys its creation rule names now (values untouched)."""
    for f in files:
        commands.updatekeys(f, yes=yes, input_type=input_type, decryption_order=decryption_order)

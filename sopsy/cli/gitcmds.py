"""git integration: the merge driver."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import InType, app


@app.command()
def merge(
    base: Annotated[str, typer.Argument(metavar="BASE", help="git's %O (common ancestor).", show_default=False)],
    ours: Annotated[str, typer.Argument(metavar="OURS", help="git's %A (ours; receives the result).",
                                        show_default=False)],
    theirs: Annotated[str, typer.Argument(metavar="THEIRS", help="git's %B (theirs).", show_default=False)],
    path: Annotated[str | None, typer.Argument(metavar="PATH", help="git's %P (the file's path, for its format).",
                                               show_default=False)] = None,
    input_type: InType = None,
) -> None:
    """git merge driver: 3-way merge of encrypted files. Setup: see README."""
    from ..merge import merge_files

    merge_files(base, ours, theirs, path, input_type)

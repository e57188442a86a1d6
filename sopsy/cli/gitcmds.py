"""git integration: the merge driver, ``sopsy git setup|resolve|textconv`` and ``sopsy check``."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import InType, Order, app

git_app = typer.Typer(no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]},
                      help="git drivers for encrypted files: setup, textconv (diff), conflict resolution.")
app.add_typer(git_app, name="git")


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
    """git merge driver: merge encrypted files as trees, keys and rules included (see `sopsy git setup`)."""
    from ..merge import merge_files

    merge_files(base, ours, theirs, path, input_type)


@git_app.command()
def setup(
    patterns: Annotated[list[str] | None, typer.Argument(
        metavar="PATTERN...", help="git patterns of the encrypted files (default: from the creation rules).",
        show_default=False)] = None,
    check: Annotated[bool, typer.Option("--check", help="Only report what is missing (exit 1 if anything is).")] = False,
    command: Annotated[str, typer.Option("--command", metavar="CMD",
                                         help="How git should run sopsy (default: sopsy).")] = "sopsy",
) -> int:
    """Write the .gitattributes lines and this clone's git config for the diff and merge drivers."""
    from ..gitsetup import setup as run

    return run(list(patterns or []), check=check, command=command)


@git_app.command()
def resolve(
    file: Annotated[str, typer.Argument(metavar="FILE", help="The file with conflict markers.", show_default=False)],
    metadata: Annotated[str | None, typer.Option(
        "--metadata", metavar="SIDE", help="For a clash in the sops metadata (crypt rule, threshold): ours or theirs.")
    ] = None,
    take: Annotated[str | None, typer.Option(
        "--take", metavar="SIDE", help="No editor: settle every clash as ours or theirs has it (what git merge -X "
        "ours|theirs would do; git passes -X to no merge driver). The rest of the merge stays.")] = None,
    input_type: InType = None,
    decryption_order: Order = None,
) -> None:
    """Resolve a merge conflict: edit the plaintext with <<<<<<< markers, save, get it encrypted."""
    from ..merge.resolve import resolve as run

    run(file, input_type=input_type, metadata=metadata, decryption_order=decryption_order, take=take)


@git_app.command()
def textconv(
    file: Annotated[str, typer.Argument(metavar="FILE", help="The file git shows.", show_default=False)],
    input_type: InType = None,
) -> int:
    """git diff textconv: the plaintext and a metadata summary; never fails (no key: shown as is)."""
    from ..textconv import textconv as run

    return run(file, input_type)


@app.command("check")
def check_cmd(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH...", help="Files or directories (default: the files git tracks here).", show_default=False)
    ] = None,
) -> int:
    """Pre-commit check (no key needed): covered files encrypted, no plaintext secrets, no conflict markers."""
    from ..check import check

    return check(list(paths or []))

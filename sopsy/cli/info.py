"""filestatus, version, completion."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import commands
from ..errors import UsageError
from .app import InType, RequiredFile, app, version_line


@app.command()
def filestatus(file: RequiredFile, input_type: InType = None) -> None:
    """Print {"encrypted":true} or {"encrypted":false}."""
    encrypted = commands.filestatus(file, input_type)
    print('{"encrypted":%s}' % ("true" if encrypted else "false"))


@app.command(hidden=True, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def publish(ctx: typer.Context) -> None:
    """sops's publish (an upload to S3, GCS or Vault KV): not in sopsy, said in one line."""
    raise UsageError("publish is not supported by sopsy (sops uploads the file to S3, GCS or Vault KV); "
                     "upload the encrypted file with that store's own tool")


@app.command()
def version() -> None:
    """Print the version (first line as sops prints it, for tools that parse it)."""
    print(version_line())


@app.command()
def completion(
    shell: Annotated[str, typer.Argument(metavar="SHELL", help="bash, zsh or fish.", show_default=False)],
) -> None:
    """Print a shell completion script (as sops's completion command), e.g.
    `source <(sopsy completion bash)` in ~/.bashrc."""
    from typer.completion import get_completion_script  # type: ignore[attr-defined]

    from ..errors import UsageError

    if shell not in ("bash", "zsh", "fish"):
        raise UsageError(f"no completion for shell {shell!r}: choose bash, zsh or fish")
    print(get_completion_script(prog_name="sopsy", complete_var="_SOPSY_COMPLETE", shell=shell))

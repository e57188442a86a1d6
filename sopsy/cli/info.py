"""filestatus, version."""

from __future__ import annotations

from .. import commands
from .app import InType, RequiredFile, app, version_line


@app.command()
def filestatus(file: RequiredFile, input_type: InType = None) -> None:
    """Print {"encrypted":true} or {"encrypted":false}."""
    encrypted = commands.filestatus(file, input_type)
    print('{"encrypted":%s}' % ("true" if encrypted else "false"))


@app.command()
def version() -> None:
    """Print the version (first line as sops prints it, for tools that parse it)."""
    print(version_line())

"""keyservice: serve sops's key-service protocol with sopsy's keys."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import app


@app.command()
def keyservice(
    network: Annotated[str, typer.Option("--network", "--net", metavar="NETWORK",
                                         help="Network to listen on: tcp or unix.")] = "tcp",
    address: Annotated[str, typer.Option(
        "--address", "--addr", metavar="ADDRESS",
        help="Address to listen on: HOST:PORT for tcp (port 0 picks a free one), a socket path for unix.")
    ] = "127.0.0.1:5000",
    prompt: Annotated[bool, typer.Option("--prompt", help="Ask on the terminal before answering each request.")] = False,
) -> None:
    """Serve sops's key service (gRPC, no TLS) with this machine's keys until SIGINT/SIGTERM;
    sops and sopsy reach it with --keyservice. The global --verbose logs each request."""
    from ..keyservice.server import serve
    from ..settings import SETTINGS

    serve(network, address, prompt=prompt, verbose=SETTINGS.verbose)

"""The sops key service: a data key wrapped and unwrapped by another process, over gRPC.

sops lets a command hand each master-key operation to *key services*: its own providers (the
"local" one) and any number of ``--keyservice tcp://HOST:PORT`` / ``unix:///PATH`` servers,
asked in that order until one succeeds. ``sops keyservice`` is such a server; the usual use is
a workstation that holds the keys serving a remote machine through an SSH-forwarded socket.

* :mod:`.proto` — the protocol (sops's ``keyservice.proto`` plus a PKCS#11 extension), built at
  run time; :mod:`.keymap` — between sopsy's key specs/metadata entries and ``Key`` messages;
* :mod:`.client` — the services in sops's order, called from :mod:`sopsy.datakey` only when
  ``--keyservice`` is given or the local service is disabled;
* :mod:`.server` — ``sopsy keyservice``, answering with whatever provider sopsy has for the
  requested key type.

grpc and protobuf (the ``keyservice`` extra) are imported only when a remote service is
actually asked or served: a plain decrypt never loads them.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError


def import_grpc() -> Any:
    """The grpc module, or a UsageError saying which extra to install.

    gRPC's C core logs its own errors to stderr (a failed bind, a refused connection); sopsy
    reports those itself, on one line, so the core is silenced unless GRPC_VERBOSITY is set.
    The core reads the variable when imported: it is set only for the import, so that commands
    run by exec-env do not inherit it."""
    import os

    quiet = "GRPC_VERBOSITY" not in os.environ
    if quiet:
        os.environ["GRPC_VERBOSITY"] = "NONE"
    try:
        import grpc
    except ImportError:
        raise UsageError("the key service needs grpcio and protobuf: pip install 'sopsy[keyservice]'") from None
    finally:
        if quiet:
            os.environ.pop("GRPC_VERBOSITY", None)
    return grpc

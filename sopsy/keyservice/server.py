"""``sopsy keyservice``: sops's KeyService served with sopsy's providers.

A request's ``Key`` becomes a metadata entry (:mod:`.keymap`) and goes to the sopsy provider of
its type (``sopsy.keys.provider``), so any provider listed in ``sopsy.keys.PROVIDERS`` serves
without changes here; a type sopsy has no provider for is answered with UNIMPLEMENTED. Encrypt
returns the entry's ``enc`` as the ciphertext, Decrypt takes the ciphertext as ``enc``: the same
bytes a sops key service exchanges, so sops clients and sopsy clients both work.

Differences from ``sops keyservice``, on purpose:

* ``--prompt`` asks *before* the key is used (sops asks after the work is done) and names
  every key type; requests are served one at a time, so prompts never interleave.
* A PKCS#11 URI from a client is used without its ``module-path``, ``module-name``,
  ``pin-source`` and ``pin-value``: a client must not make the server load a library or read
  a file of its choosing. The server's own ``SOPSY_PKCS11_MODULE`` and PIN settings apply.
* Binding a port already in use fails (gRPC Python would otherwise share it via SO_REUSEPORT,
  which Go's listener never does).

Like sops's, the server has no authentication: anyone who can connect can use every key it
holds. Serve on a loopback address or a unix socket (which is created 0600).
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..errors import KeyUnavailable, SopsyError, UsageError
from ..keys import provider
from ..metadata import KeyEntry
from . import keymap, proto

_PKCS11_CLIENT_QUERY_DROPPED = ("module-path", "module-name", "pin-source", "pin-value")


class _Abort(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class KeyServiceHandler:
    """The two RPCs, without grpc: each takes a request message and returns a response message
    or raises _Abort (so the logic is testable and the grpc glue stays thin)."""

    def __init__(self, prompt: bool = False, verbose: bool = False,
                 ask: Callable[[str], str] | None = None, log: Callable[[str], None] | None = None) -> None:
        self.prompt = prompt
        self.verbose = verbose
        self._ask = ask or _ask_terminal
        self._log = log or (lambda line: print(f"sopsy keyservice: {line}", file=sys.stderr, flush=True))
        # providers cache clients and PINs in plain dicts, and prompts must not interleave
        self._lock = threading.Lock()

    def encrypt(self, request: Any) -> Any:
        with self._lock:
            entry, prov = self._resolve("encrypt", request.key)
            spec = prov.spec_of(entry)
            try:
                made = prov.wrap(spec, bytes(request.plaintext))
            except (SopsyError, KeyUnavailable) as exc:
                raise _Abort("UNKNOWN", str(exc)) from None
            completed = keymap.key_of_entry(made) if made.type == "pkcs11" else None
            return proto.EncryptResponse(ciphertext=made.enc.encode("utf-8"), key=completed)

    def decrypt(self, request: Any) -> Any:
        with self._lock:
            entry, prov = self._resolve("decrypt", request.key)
            try:
                entry.fields["enc"] = bytes(request.ciphertext).decode("utf-8")
            except UnicodeDecodeError:
                raise _Abort("INVALID_ARGUMENT", "the ciphertext is not text") from None
            try:
                plaintext = prov.unwrap(entry)
            except (SopsyError, KeyUnavailable) as exc:
                raise _Abort("UNKNOWN", str(exc)) from None
            return proto.DecryptResponse(plaintext=plaintext)

    def _resolve(self, what: str, key: Any) -> tuple[KeyEntry, Any]:
        entry = keymap.entry_of_key(key)
        if entry is None:
            # sops's answers to a missing and to an unknown key type (a field unknown here counts)
            raise _Abort("NOT_FOUND", "Unknown key type" if key.ByteSize() else "Must provide a key")
        if entry.type == "pkcs11":
            entry.fields["uri"] = _server_side_uri(str(entry.fields.get("uri") or ""))
        name = keymap.describe(key)
        if self.verbose:
            self._log(f"{what} request for {name}")
        try:
            prov = provider(entry.type)
        except UsageError as exc:
            raise _Abort("UNIMPLEMENTED", str(exc)) from None
        if self.prompt:
            answer = ""
            while answer not in ("y", "n"):
                answer = self._ask(f"\nReceived {what} request using {name}. Respond to request? (y/n): ")
            if answer == "n":
                raise _Abort("PERMISSION_DENIED", "Request rejected by user")
        return entry, prov


def _server_side_uri(text: str) -> str:
    from ..keys.pkcs11_uri import parse_uri

    try:
        uri = parse_uri(text)
    except UsageError as exc:
        raise _Abort("INVALID_ARGUMENT", str(exc)) from None
    query = tuple((k, v) for k, v in uri.query if k not in _PKCS11_CLIENT_QUERY_DROPPED)
    return type(uri)(uri.path, query).text(with_pin=False)


def _ask_terminal(question: str) -> str:
    print(question, end="", flush=True)
    line = sys.stdin.readline()
    return line.strip() if line else "n"  # no terminal any more: refuse


def _grpc_handler(handler: KeyServiceHandler) -> Any:
    from . import import_grpc

    grpc = import_grpc()

    def unary(fn: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def call(request: Any, context: Any) -> Any:
            try:
                return fn(request)
            except _Abort as exc:
                context.abort(getattr(grpc.StatusCode, exc.code), str(exc))
            except Exception as exc:  # a bug must not kill the server, nor leak data in a traceback
                handler._log(f"internal error: {type(exc).__name__}")
                context.abort(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__})")
        return call

    methods = {
        "Encrypt": grpc.unary_unary_rpc_method_handler(unary(handler.encrypt),
                                                        request_deserializer=proto.EncryptRequest.FromString,
                                                        response_serializer=proto.serialize),
        "Decrypt": grpc.unary_unary_rpc_method_handler(unary(handler.decrypt),
                                                        request_deserializer=proto.DecryptRequest.FromString,
                                                        response_serializer=proto.serialize),
    }
    return grpc.method_handlers_generic_handler(proto.SERVICE, methods)


def listen_target(network: str, address: str) -> str:
    """The gRPC bind address for sops's ``--network``/``--address`` pair."""
    if network == "unix":
        if not address:
            raise UsageError("--address: give the path of the unix socket")
        return "unix:" + os.path.abspath(address)
    if network == "tcp":
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise UsageError(f"--address {address!r}: expected HOST:PORT")
        return f"{host or '[::]'}:{port}"  # Go's ":5000" listens on every address
    raise UsageError(f"--network {network!r}: expected tcp or unix")


class Running:
    """A started server: ``address`` is what it listens on (the real port when 0 was asked)."""

    def __init__(self, server: Any, network: str, address: str, socket_path: str | None) -> None:
        self.server = server
        self.network = network
        self.address = address
        self.socket_path = socket_path

    @property
    def uri(self) -> str:
        return f"unix://{self.address}" if self.network == "unix" else f"tcp://{self.address}"

    def stop(self, grace: float | None = 1.0) -> None:
        self.server.stop(grace).wait()
        if self.socket_path:
            try:
                if stat.S_ISSOCK(os.lstat(self.socket_path).st_mode):
                    os.unlink(self.socket_path)
            except OSError:
                pass


def start(network: str = "tcp", address: str = "127.0.0.1:5000", prompt: bool = False,
          verbose: bool = False, handler: KeyServiceHandler | None = None) -> Running:
    """Bind and start serving in background threads; :meth:`Running.stop` ends it."""
    from concurrent.futures import ThreadPoolExecutor

    from . import import_grpc

    grpc = import_grpc()
    target = listen_target(network, address)
    socket_path = target[len("unix:"):] if network == "unix" else None
    if socket_path and os.path.lexists(socket_path):
        raise SopsyError(f"cannot listen on unix://{socket_path}: the path exists (remove a stale socket first)")
    handler = handler or KeyServiceHandler(prompt=prompt, verbose=verbose)
    server = grpc.server(ThreadPoolExecutor(max_workers=4), handlers=[_grpc_handler(handler)],
                         options=[("grpc.so_reuseport", 0)])
    old_umask = os.umask(0o177) if socket_path else None  # the socket file is created 0600
    try:
        port = server.add_insecure_port(target)
    except RuntimeError:
        port = 0
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    if not port:
        where = f"unix://{socket_path}" if socket_path else f"tcp://{address}"
        raise SopsyError(f"cannot listen on {where}: {_bind_reason(network, address)}")
    server.start()
    if socket_path:
        return Running(server, "unix", socket_path, socket_path)
    host = address.rpartition(":")[0]
    return Running(server, "tcp", f"{host}:{port}", None)


def _bind_reason(network: str, address: str) -> str:
    """Why binding failed, in the OS's words (gRPC only says that it failed)."""
    import socket

    try:
        if network == "unix":
            with socket.socket(socket.AF_UNIX) as s:
                s.bind(address)
            os.unlink(address)
        else:
            host, _, port = address.rpartition(":")
            host = host.strip("[]") or "::"
            info = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
            with socket.socket(info[0], socket.SOCK_STREAM) as s:
                s.bind(info[4])
    except OSError as exc:
        return exc.strerror or str(exc)
    return "the address is not available"


def serve(network: str = "tcp", address: str = "127.0.0.1:5000", prompt: bool = False,
          verbose: bool = False) -> None:
    """Run until SIGINT or SIGTERM (then stop and return), as ``sops keyservice`` does."""
    import gc

    gc.enable()  # the CLI turns the collector off for short runs; a server lives long
    running = start(network, address, prompt=prompt, verbose=verbose)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        print(f"sopsy keyservice: caught {signal.Signals(signum).name}: shutting down", file=sys.stderr, flush=True)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    print(f"sopsy keyservice: listening on {running.uri}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(3600):
            pass
    finally:
        running.stop()
        for s, h in previous.items():
            signal.signal(s, h)

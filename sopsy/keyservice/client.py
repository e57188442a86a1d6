"""Wrapping and unwrapping one key through key services, the way sops uses them.

The services are sopsy's own providers ("local", unless ``--enable-local-keyservice=false``)
followed by each ``--keyservice`` URI in the order given. To wrap, each service is asked in turn
until one succeeds; to unwrap likewise. When none succeeds the error names every service and
its reason on one line. A remote service is a sops (or sopsy) key service reached over gRPC:
``tcp://HOST:PORT`` or ``unix:///PATH``, without TLS, as sops connects (the key service is meant
for a loopback port, a unix socket or an SSH-forwarded one).

grpc is imported here only, when a remote service is first asked.
"""

from __future__ import annotations

import atexit
from typing import Any
from urllib.parse import urlsplit

from .. import settings as _settings
from ..errors import KeyUnavailable, SopsyError, UsageError
from ..keys import KeySpec, provider
from ..metadata import KeyEntry
from ..settings import Settings

# Per call, retries included. sops sets none; a server that accepts and never answers would
# then hang the command. Generous, because a `keyservice --prompt` waits for a person.
CALL_TIMEOUT = 120.0
_REASON_LIMIT = 300


def target_of(uri: str) -> str:
    """The gRPC target for a ``--keyservice`` URI, or an error naming the option."""
    parts = urlsplit(uri.strip())
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{parts.port}"
    if parts.scheme == "unix" and parts.path.startswith("/") and not parts.netloc:
        return f"unix:{parts.path}"
    # not a UsageError: the data-key recovery reports those per key and goes on; this ends the command
    raise SopsyError(f"--keyservice {uri!r}: expected tcp://HOST:PORT or unix:///ABSOLUTE/PATH")


class Remote:
    """A sops key service over gRPC; the channel opens on first use and closes at exit."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.target = target_of(uri)
        self._channel: Any = None

    def _call(self, method: str, request: Any, response_class: Any) -> Any:
        from . import import_grpc, proto

        grpc = import_grpc()

        if self._channel is None:
            # sops dials directly: no HTTP proxy from the environment, no TLS
            self._channel = grpc.insecure_channel(self.target, options=[("grpc.enable_http_proxy", 0)])
            atexit.register(self._channel.close)
        call = self._channel.unary_unary(method, request_serializer=proto.serialize,
                                         response_deserializer=response_class.FromString)
        try:
            return call(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            raise KeyUnavailable(_rpc_reason(exc)) from None

    def encrypt(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        from . import keymap, proto

        key = keymap.key_of_spec(spec)
        rsp = self._call(proto.ENCRYPT_METHOD, proto.EncryptRequest(key=key, plaintext=payload),
                         proto.EncryptResponse)
        try:
            enc = bytes(rsp.ciphertext).decode("utf-8")
        except UnicodeDecodeError:
            raise KeyUnavailable("the key service returned a ciphertext that is not text") from None
        if not enc:
            raise KeyUnavailable("the key service returned an empty ciphertext")
        return keymap.entry_of_spec(spec, enc, rsp.key if rsp.HasField("key") else None)

    def decrypt(self, entry: KeyEntry) -> bytes:
        from . import keymap, proto

        request = proto.DecryptRequest(key=keymap.key_of_entry(entry), ciphertext=entry.enc.encode("utf-8"))
        return bytes(self._call(proto.DECRYPT_METHOD, request, proto.DecryptResponse).plaintext)


def _rpc_reason(exc: Any) -> str:
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else ""
    text = " ".join(str(details or "").split())[:_REASON_LIMIT]
    name = getattr(code, "name", "ERROR")
    if name == "UNAVAILABLE":
        # grpc's text nests the address and the attempt; its last part is the OS's reason
        cause = text.rsplit(": ", 1)[-1] if text else ""
        return f"cannot reach the key service ({cause})" if cause else "cannot reach the key service"
    if name == "DEADLINE_EXCEEDED":
        return f"no answer within {CALL_TIMEOUT:.0f} s"
    return text or name


_REMOTES: dict[str, Remote] = {}


def _remotes(settings: Settings) -> list[Remote]:
    out = []
    for uri in settings.keyservices:
        remote = _REMOTES.get(uri)
        if remote is None:
            remote = _REMOTES[uri] = Remote(uri)
        out.append(remote)
    return out


def wrap(spec: KeySpec, payload: bytes, settings: Settings | None = None) -> KeyEntry:
    """The entry for ``spec`` from the first service that wraps ``payload``, as sops does."""
    settings = settings or _settings.SETTINGS
    remotes = _remotes(settings)  # a malformed URI is an error even when the local service would do
    failures: list[str] = []
    if settings.local_keyservice:
        try:
            return provider(spec.type).wrap(spec, payload)
        except (SopsyError, KeyUnavailable) as exc:
            failures.append(f"local: {exc}")
    for remote in remotes:
        try:
            return remote.encrypt(spec, payload)
        except (UsageError, KeyUnavailable) as exc:
            failures.append(f"{remote.uri}: {exc}")
    if not settings.local_keyservice and not remotes:
        raise UsageError("no key services: the local one is disabled (--enable-local-keyservice=false) "
                         "and no --keyservice was given")
    raise SopsyError(f"could not encrypt the data key with {spec.type} key {_name(spec)}: " + " | ".join(failures))


def unwrap(entry: KeyEntry, settings: Settings | None = None) -> bytes:
    """The payload of ``entry`` from the first service that unwraps it, else KeyUnavailable
    naming each service's reason."""
    settings = settings or _settings.SETTINGS
    remotes = _remotes(settings)
    failures: list[str] = []
    if settings.local_keyservice:
        try:
            return provider(entry.type).unwrap(entry)
        except (UsageError, KeyUnavailable) as exc:
            failures.append(f"local: {exc}")
    for remote in remotes:
        try:
            return remote.decrypt(entry)
        except (UsageError, KeyUnavailable) as exc:
            failures.append(f"{remote.uri}: {exc}")
    if not failures:
        raise KeyUnavailable("no key services (the local one is disabled and no --keyservice was given)")
    raise KeyUnavailable(" | ".join(failures))


def _name(spec: KeySpec) -> str:
    if spec.type == "pkcs11":
        from ..keys.pkcs11_uri import strip_pin_value

        try:
            return strip_pin_value(spec.id)
        except UsageError:
            return "(malformed URI)"
    return spec.id

"""A small gRPC server implementing Cloud KMS ``KeyManagementService`` Encrypt and Decrypt.

There is no GCP KMS emulator, so this stands in for it: one real AES-256-GCM key per configured
key name (ciphertext = 12-byte nonce + sealed data, the key name as AAD), ``NOT_FOUND`` for a key
name it does not hold, ``INVALID_ARGUMENT`` for ciphertext that does not authenticate. It speaks
the real protobuf messages (from google-cloud-kms) so the real client talks to it unchanged.

It listens on 127.0.0.1 only: always with gRPC *local* credentials (what sopsy uses for a loopback
endpoint), and also with TLS when given ``tls=(cert_pem, key_pem)`` (what clients aimed at the real
``cloudkms.googleapis.com`` need: they reach it through :class:`ConnectProxy` and trust the test CA
from :func:`make_tls_certs`). It records each call's metadata.
"""

from __future__ import annotations

import os
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.cloud.kms_v1.types import service

from .tls import ConnectProxy, make_tls_certs  # noqa: F401 - the GCP tests import them from here

SERVICE = "google.cloud.kms.v1.KeyManagementService"


@dataclass
class Call:
    method: str
    name: str
    metadata: dict[str, str]


@dataclass
class FakeKms:
    key_names: list[str]
    tls: tuple[bytes, bytes] | None = None
    calls: list[Call] = field(default_factory=list)
    port: int = 0
    tls_port: int = 0
    _keys: dict[str, AESGCM] = field(default_factory=dict)
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _record(self, method: str, name: str, context: grpc.ServicerContext) -> None:
        with self._lock:
            self.calls.append(Call(method, name, {k: str(v) for k, v in context.invocation_metadata()}))

    def _key(self, name: str, context: grpc.ServicerContext) -> AESGCM:
        # names may address a key version: .../cryptoKeys/k/cryptoKeyVersions/1
        base = name.split("/cryptoKeyVersions/")[0]
        key = self._keys.get(base)
        if key is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"CryptoKey {name} not found.")
        assert key is not None
        return key

    def encrypt(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("Encrypt", request.name, context)
        key = self._key(request.name, context)
        if not request.plaintext:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "plaintext is empty")
        nonce = os.urandom(12)
        sealed = key.encrypt(nonce, request.plaintext, request.name.encode())
        return service.EncryptResponse(name=request.name + "/cryptoKeyVersions/1", ciphertext=nonce + sealed)

    def decrypt(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record("Decrypt", request.name, context)
        key = self._key(request.name, context)
        blob = request.ciphertext
        try:
            plaintext = key.decrypt(blob[:12], blob[12:], request.name.encode())
        except (InvalidTag, ValueError):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Decryption failed: the ciphertext is invalid.")
        return service.DecryptResponse(plaintext=plaintext)

    def start(self) -> FakeKms:
        self._keys = {n: AESGCM(AESGCM.generate_key(bit_length=256)) for n in self.key_names}
        handlers = {
            "Encrypt": grpc.unary_unary_rpc_method_handler(
                self.encrypt, request_deserializer=service.EncryptRequest.deserialize,
                response_serializer=service.EncryptResponse.serialize),
            "Decrypt": grpc.unary_unary_rpc_method_handler(
                self.decrypt, request_deserializer=service.DecryptRequest.deserialize,
                response_serializer=service.DecryptResponse.serialize),
        }
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        local = grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        self.port = server.add_secure_port("127.0.0.1:0", local)
        if self.tls:
            tls = grpc.ssl_server_credentials([(self.tls[1], self.tls[0])])
            self.tls_port = server.add_secure_port("127.0.0.1:0", tls)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def __enter__(self) -> FakeKms:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

import datetime
import os
import select
import socket
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.cloud.kms_v1.types import service

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


def make_tls_certs(hosts: list[str]) -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and a server certificate for ``hosts``: (ca_pem, cert_pem, key_pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sopsy test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ca.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.PEM), key_pem


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that sends every tunnel to one loopback port, whatever
    host was asked for (so a client set up for cloudkms.googleapis.com reaches the fake server)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests: list[str] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        buf = b""
        with client:
            while b"\r\n\r\n" not in buf:
                chunk = client.recv(4096)
                if not chunk:
                    return
                buf += chunk
            head, rest = buf.split(b"\r\n\r\n", 1)
            self.requests.append(head.split(b"\r\n")[0].decode("latin-1"))
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                peers = {client: upstream, upstream: client}
                while True:
                    ready, _, _ = select.select(list(peers), [], [], 30)
                    if not ready:
                        return
                    for s in ready:
                        try:
                            data = s.recv(65536)
                            if data:
                                peers[s].sendall(data)
                        except OSError:  # either side hung up hard (gRPC does): the tunnel ends
                            data = b""
                        if not data:
                            return

    def close(self) -> None:
        self._closed = True
        self._sock.close()

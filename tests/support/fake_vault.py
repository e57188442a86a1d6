"""A small HTTP server implementing the Vault / OpenBao transit ``encrypt`` and ``decrypt`` calls.

It stands in for ``vault server -dev`` (not installable here): real AES-256-GCM keys per mount and
key name, ciphertext in Vault's own shape (``vault:v1:`` + base64 of nonce + sealed data), the key
path as AAD, Vault's JSON answers (``{"data": ...}`` or ``{"errors": [...]}``) and status codes:
403 ``permission denied`` for a missing or unknown ``X-Vault-Token``, 404 for an unknown mount,
400 for an unknown key on decrypt or a ciphertext that does not authenticate. Like Vault with the
``create`` capability, encrypting under an unknown key name in a known mount creates the key.
Like a Vault Agent listener with ``require_request_header``, it refuses (412) a request without
``X-Vault-Request: true``. ``redirect_to`` turns it into a standby node that answers every request
with a 307 to another server; ``unavailable`` answers the next requests with 503. It listens on
127.0.0.1 only, over HTTP or (``tls=(cert, key)``) HTTPS, and records each request.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .json_http import Answer, Served


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeVault(Served):
    mounts: list[str]
    tokens: set[str]
    tls: tuple[bytes, bytes] | None = None
    namespace: str | None = None
    redirect_to: str | None = None
    unavailable: int = 0  # answer this many requests with 503 (a sealed or overloaded server)
    requests: list[Request] = field(default_factory=list)
    keys: dict[tuple[str, str], AESGCM] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return str(self._server.address)

    def uri(self, mount: str, name: str) -> str:
        return f"{self.address}/v1/{mount}/keys/{name}"

    def create_key(self, mount: str, name: str) -> None:
        self.keys[(mount, name)] = AESGCM(AESGCM.generate_key(bit_length=256))

    # -- request handling -----------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"errors": ["failed to parse JSON input"]}, {}
        with self._lock:
            self.requests.append(Request(method, path, headers, body if isinstance(body, dict) else {}))
        if self.redirect_to:
            return 307, {}, {"Location": self.redirect_to + path}
        if self.unavailable > 0:
            self.unavailable -= 1
            return 503, {"errors": ["Vault is sealed"]}, {}
        if headers.get("x-vault-request") != "true":
            return 412, {"errors": ["missing 'X-Vault-Request' header"]}, {}
        if headers.get("x-vault-token") not in self.tokens:
            return 403, {"errors": ["permission denied"]}, {}
        if self.namespace is not None and headers.get("x-vault-namespace") != self.namespace:
            return 403, {"errors": ["permission denied"]}, {}
        if method not in ("PUT", "POST"):
            return 405, {"errors": ["unsupported operation"]}, {}
        route = path.removeprefix("/v1/")
        for mount in self.mounts:
            for op in ("encrypt", "decrypt"):
                prefix = f"{mount}/{op}/"
                if route.startswith(prefix) and "/" not in route[len(prefix):] and route != prefix:
                    return getattr(self, op)(mount, route[len(prefix):], body)
        return 404, {"errors": [f'no handler for route "{route}". route entry not found.']}, {}

    def encrypt(self, mount: str, name: str, body: dict[str, Any]) -> Answer:
        try:
            plaintext = base64.b64decode(str(body.get("plaintext", "")), validate=True)
        except (binascii.Error, ValueError):
            return 400, {"errors": ["failed to base64-decode plaintext"]}, {}
        if (mount, name) not in self.keys:
            self.create_key(mount, name)  # upsert, as transit does for a token with `create`
        nonce = os.urandom(12)
        sealed = self.keys[(mount, name)].encrypt(nonce, plaintext, f"{mount}/{name}".encode())
        ciphertext = "vault:v1:" + base64.b64encode(nonce + sealed).decode()
        return 200, {"data": {"ciphertext": ciphertext, "key_version": 1}}, {}

    def decrypt(self, mount: str, name: str, body: dict[str, Any]) -> Answer:
        key = self.keys.get((mount, name))
        if key is None:
            return 400, {"errors": ["encryption key not found"]}, {}
        text = str(body.get("ciphertext", ""))
        if not text.startswith("vault:v1:"):
            return 400, {"errors": ["invalid ciphertext: no prefix"]}, {}
        try:
            blob = base64.b64decode(text[len("vault:v1:"):], validate=True)
            plaintext = key.decrypt(blob[:12], blob[12:], f"{mount}/{name}".encode())
        except (binascii.Error, ValueError, InvalidTag):
            return 400, {"errors": ["cipher: message authentication failed"]}, {}
        return 200, {"data": {"plaintext": base64.b64encode(plaintext).decode()}}, {}

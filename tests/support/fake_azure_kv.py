"""Loopback doubles for Azure Key Vault (keys: get, encrypt/decrypt, wrapKey/unwrapKey) and for the
App Service managed-identity token endpoint that Azure's credential chains (Python and Go) read.

There is no Key Vault emulator, so :class:`FakeKeyVault` stands in for one: real RSA-2048 keys with
versions, RSA-OAEP-256 (and RSA-OAEP, RSA1_5) done with ``cryptography``, Key Vault's JSON shapes
(base64url without padding, ``{"error": {"code", "message"}}``), and its challenge-based auth: a
request without a bearer token it accepts gets 401 with ``WWW-Authenticate: Bearer
authorization=..., resource="https://vault.azure.net"``. The SDKs insist that the challenge resource
be a parent domain of the vault's host and that the vault be reached over TLS, so the double serves
HTTPS with a throwaway certificate for ``*.vault.azure.net``; clients reach it through
:class:`~support.tls.ConnectProxy` (``HTTPS_PROXY``) and trust the test CA (``REQUESTS_CA_BUNDLE``
for Python, ``SSL_CERT_FILE`` for Go).

:class:`FakeManagedIdentity` is the token endpoint App Service exposes as ``IDENTITY_ENDPOINT`` with
the secret ``IDENTITY_HEADER``: plain HTTP on 127.0.0.1, as on App Service itself. Both record
every request.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .json_http import Answer, Served

RESOURCE = "https://vault.azure.net"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _padding(alg: str) -> Any:
    if alg == "RSA-OAEP-256":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    if alg == "RSA-OAEP":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    if alg == "RSA1_5":
        return padding.PKCS1v15()
    return None


def _error(status: int, code: str, message: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}, {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Recorder:
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Request | None:
        parts = urlsplit(target)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return None
        req = Request(method, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}, headers,
                      body if isinstance(body, dict) else {})
        with self._lock:
            self.requests.append(req)
        return req


@dataclass
class FakeKeyVault(Recorder, Served):
    tls: tuple[bytes, bytes] = (b"", b"")
    tokens: set[str] = field(default_factory=set)
    keys: dict[str, dict[str, rsa.RSAPrivateKey]] = field(default_factory=dict)  # name -> version -> key

    def create_key(self, name: str) -> str:
        """A new (latest) version of key ``name``; returns its version id."""
        version = secrets.token_hex(16)
        self.keys.setdefault(name, {})[version] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return version

    @property
    def port(self) -> int:
        return int(self._server.port)

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        req = self.record(method, target, headers, raw)
        if req is None:
            return _error(400, "BadParameter", "The request body is not valid JSON.")
        if headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or "
                                                                      "PoP token."}}, {
                "WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                                    f'resource="{RESOURCE}"'}
        parts = req.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "keys":
            return _error(404, "NotFound", "Not found.")
        name, version, op = parts[1], (parts[2] if len(parts) > 2 else ""), (parts[3] if len(parts) > 3 else "")
        versions = self.keys.get(name)
        if not versions or (version and version not in versions):
            return _error(404, "KeyNotFound", f"A key with (name/id) {name}/{version} was not found in this key vault.")
        version = version or list(versions)[-1]
        kid = f"https://{headers.get('host', '').split(':')[0]}/keys/{name}/{version}"
        key = versions[version]
        if method == "GET" and not op:
            return 200, self._bundle(kid, key), {}
        if method == "POST" and op in ("encrypt", "decrypt", "wrapkey", "unwrapkey"):
            return self._operate(op, kid, key, req.body)
        return _error(405, "MethodNotAllowed", f"{method} {req.path} is not allowed.")

    @staticmethod
    def _bundle(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
        numbers = key.public_key().public_numbers()
        return {"key": {"kid": kid, "kty": "RSA",
                        "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
                        "n": b64url(numbers.n.to_bytes(256, "big")), "e": b64url(numbers.e.to_bytes(3, "big"))},
                "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000,
                               "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}}

    @staticmethod
    def _operate(op: str, kid: str, key: rsa.RSAPrivateKey, body: dict[str, Any]) -> Answer:
        pad = _padding(str(body.get("alg", "")))
        if pad is None:
            return _error(400, "BadParameter", f"Invalid algorithm {body.get('alg')!r}.")
        try:
            value = unb64url(str(body.get("value", "")))
        except (binascii.Error, ValueError):
            return _error(400, "BadParameter", "Property 'value' is not valid base64url.")
        try:
            if op in ("encrypt", "wrapkey"):
                out = key.public_key().encrypt(value, pad)
            else:
                out = key.decrypt(value, pad)
        except ValueError:
            return _error(400, "BadParameter", "Error while decrypting the value.")
        return 200, {"kid": kid, "value": b64url(out)}, {}


@dataclass
class FakeManagedIdentity(Recorder, Served):
    """``GET IDENTITY_ENDPOINT?api-version=2019-08-01&resource=R`` with ``X-IDENTITY-HEADER`` → a token."""

    header: str = field(default_factory=lambda: secrets.token_hex(8))
    token: str = field(default_factory=lambda: "sopsy-test-access-token-" + secrets.token_hex(8))

    @property
    def endpoint(self) -> str:
        return f"{self._server.address}/msi/token"

    def env(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": self.endpoint, "IDENTITY_HEADER": self.header}

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        req = self.record(method, target, headers, raw)
        if req is None or req.path != "/msi/token" or method != "GET":
            return 404, {"error": "not_found"}, {}
        if headers.get("x-identity-header") != self.header:
            return 401, {"error": "unauthorized", "error_description": "bad X-IDENTITY-HEADER"}, {}
        resource = req.query.get("resource", "")
        if not resource:
            return 400, {"error": "invalid_request", "error_description": "resource is required"}, {}
        return 200, {"access_token": self.token, "expires_on": str(int(time.time()) + 3600), "resource": resource,
                     "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-000000000001"}, {}


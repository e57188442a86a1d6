"""GCP Cloud KMS master keys through google-cloud-kms (gRPC), with sops-compatible ``gcp_kms`` entries.

Credentials are looked up as sops looks them up: ``GOOGLE_CREDENTIALS`` (a file path or the JSON
itself), then ``GOOGLE_OAUTH_ACCESS_TOKEN``, then application-default credentials.

``SOPSY_GCP_KMS_ENDPOINT=host:port`` points the client at another endpoint (sops has no such
setting). A loopback host (127.0.0.1, ::1, localhost) is reached with gRPC *local* credentials —
no TLS, but call credentials still travel, and without any credentials it works anonymously, as
for an emulator; any other host uses TLS.

google-cloud-kms costs ~300 ms to import, so it is imported only when a GCP key is actually used.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from ..errors import KeyUnavailable, SopsyError, UsageError
from ..metadata import KeyEntry
from . import KeySpec, created_at, enc_bytes

# Same pattern as sops (gcpkms/keysource.go).
RESOURCE_ID_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
ENDPOINT_ENV = "SOPSY_GCP_KMS_ENDPOINT"
SCOPES = ("https://www.googleapis.com/auth/cloudkms",)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
CALL_TIMEOUT = 20.0  # seconds, retries included: a stuck endpoint must not hang `sopsy decrypt`


def parse_gcp_arg(text: str) -> list[KeySpec]:
    """``RESOURCE_ID,...`` (from ``--gcp-kms`` or ``SOPS_GCP_KMS_IDS``) → key specs."""
    specs: list[KeySpec] = []
    for item in (text or "").split(","):
        item = item.replace(" ", "")  # sops strips every space
        if not item:
            continue
        if not RESOURCE_ID_RE.match(item):
            raise UsageError(f"not a GCP KMS key resource id (projects/*/locations/*/keyRings/*/cryptoKeys/*): "
                             f"{item[:160]}")
        specs.append(KeySpec("gcp_kms", item))
    return specs


def parse_arg(text: str, options: dict[str, Any]) -> list[KeySpec]:
    """``--gcp-kms`` / ``SOPS_GCP_KMS_IDS``."""
    return parse_gcp_arg(text)


def _is_loopback(endpoint: str) -> bool:
    if endpoint.startswith("["):
        host = endpoint[:endpoint.find("]") + 1]
    elif endpoint.count(":") == 1:
        host = endpoint.split(":")[0]
    else:
        host = endpoint  # a bare host, or a bare IPv6 address
    return host in _LOOPBACK_HOSTS


def _credentials(required: bool) -> Any:
    """Credentials in sops's order; None when none are found and ``required`` is false."""
    import google.auth
    import google.auth.exceptions

    raw = os.environ.get("GOOGLE_CREDENTIALS")
    if raw:
        if os.path.exists(raw):
            try:
                with open(raw, encoding="utf-8") as fh:
                    raw = fh.read()
            except OSError as exc:
                raise KeyUnavailable(f"cannot read GOOGLE_CREDENTIALS: {exc.strerror}") from None
        try:
            creds = _credentials_from_info(json.loads(raw))
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            # the exception text may quote the JSON (a private key): give only its kind
            raise KeyUnavailable(f"GOOGLE_CREDENTIALS is not usable credentials JSON ({type(exc).__name__})") from None
        return creds
    token = os.environ.get("GOOGLE_OAUTH_ACCESS_TOKEN")
    if token:
        import google.oauth2.credentials

        return google.oauth2.credentials.Credentials(token=token)  # type: ignore[no-untyped-call]
    if not required and not _adc_file_exists():
        # for a loopback emulator, skip the metadata-server probe of ADC (seconds of retries)
        return None
    try:
        creds, _ = google.auth.default(scopes=list(SCOPES))
    except google.auth.exceptions.DefaultCredentialsError:
        if required:
            raise KeyUnavailable("no Google credentials found (set GOOGLE_CREDENTIALS or "
                                 "GOOGLE_OAUTH_ACCESS_TOKEN, or run `gcloud auth application-default login`)") from None
        return None
    return creds


def _credentials_from_info(info: Any) -> Any:
    """Credentials from a JSON document of any type Go's WithCredentialsJSON accepts."""
    if not isinstance(info, dict):
        raise ValueError("not a JSON object")
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]
    if kind == "authorized_user":
        import google.oauth2.credentials

        return google.oauth2.credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]
    import warnings

    import google.auth

    with warnings.catch_warnings():
        # the generic loader warns about untrusted input; the user named this file as their credentials
        warnings.simplefilter("ignore", DeprecationWarning)
        creds, _ = google.auth.load_credentials_from_dict(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]
    return creds


def _adc_file_exists() -> bool:
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    if os.name == "nt":
        config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.environ.get("APPDATA", ""), "gcloud")
    return os.path.isfile(os.path.join(config, "application_default_credentials.json"))


def _describe(exc: BaseException) -> str:
    # api_core errors carry the gRPC status (NOT_FOUND...) apart from their HTTP-style `code`
    code = getattr(exc, "grpc_status_code", None) or getattr(exc, "code", None)
    name = getattr(code, "name", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    first = str(message).splitlines()[0] if message else ""
    return f"{name}: {first[:300]}" if first else str(name)


class GcpKmsProvider:
    type_name = "gcp_kms"

    def __init__(self) -> None:
        # one client per endpoint and credential setting: making one costs a channel and an auth lookup
        self._clients: dict[tuple[str, ...], Any] = {}

    def _client(self) -> Any:
        endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
        marker = tuple(os.environ.get(n, "") for n in ("GOOGLE_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN",
                                                         "GOOGLE_APPLICATION_CREDENTIALS"))
        key = (endpoint, *marker)
        client = self._clients.get(key)
        if client is not None:
            return client
        import google.auth.credentials
        import grpc
        from google.cloud.kms_v1.services.key_management_service import KeyManagementServiceClient
        from google.cloud.kms_v1.services.key_management_service.transports import (
            KeyManagementServiceGrpcTransport,
        )

        if endpoint and _is_loopback(endpoint):
            creds = _credentials(required=False) or google.auth.credentials.AnonymousCredentials()  # type: ignore[no-untyped-call]
            # always_use_jwt_access: service accounts sign their own JWT, as the client does by default
            transport = KeyManagementServiceGrpcTransport(
                host=endpoint, credentials=creds, always_use_jwt_access=True,
                ssl_channel_credentials=grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP))
            client = KeyManagementServiceClient(transport=transport)
        else:
            options = {"api_endpoint": endpoint} if endpoint else None
            client = KeyManagementServiceClient(credentials=_credentials(required=True), client_options=options)
        self._clients[key] = client
        return client

    def _call(self, op: str, request: dict[str, Any]) -> Any:
        import google.api_core.exceptions
        import google.auth.exceptions
        from google.api_core import retry as retries

        client = self._client()
        # the client's default retry runs for 60 s; a dead endpoint should let the next key be tried sooner
        retry = retries.Retry(initial=0.1, maximum=2.0, multiplier=2.0, timeout=CALL_TIMEOUT,
                              predicate=retries.if_exception_type(google.api_core.exceptions.ServiceUnavailable,
                                                                  google.api_core.exceptions.DeadlineExceeded))
        try:
            return getattr(client, op)(request=request, retry=retry, timeout=CALL_TIMEOUT)
        except google.api_core.exceptions.GoogleAPIError as exc:
            raise KeyUnavailable(f"GCP KMS {op} failed: {_describe(exc)}") from None
        except google.auth.exceptions.GoogleAuthError as exc:
            raise KeyUnavailable(f"Google authentication failed ({type(exc).__name__})") from None

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        if not RESOURCE_ID_RE.match(spec.id):
            raise UsageError(f"not a GCP KMS key resource id: {spec.id[:160]}")
        try:
            resp = self._call("encrypt", {"name": spec.id, "plaintext": payload})
        except KeyUnavailable as exc:
            raise SopsyError(f"could not encrypt the data key with {spec.id}: {exc}") from None
        return KeyEntry("gcp_kms", {
            "resource_id": spec.id,
            "created_at": created_at(),
            "enc": base64.b64encode(resp.ciphertext).decode(),
        })

    def unwrap(self, entry: KeyEntry) -> bytes:
        resource_id = str(entry.fields.get("resource_id") or "")
        if not RESOURCE_ID_RE.match(resource_id):
            raise KeyUnavailable(f"no valid resource id found in {resource_id[:160]!r}")
        blob = enc_bytes(entry)
        resp = self._call("decrypt", {"name": resource_id, "ciphertext": blob})
        return bytes(resp.plaintext)

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        return KeySpec("gcp_kms", str(entry.fields.get("resource_id") or ""))


PROVIDER = GcpKmsProvider()

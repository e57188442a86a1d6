"""Azure Key Vault master keys through azure-keyvault-keys, with sops-compatible ``azure_kv`` entries.

The payload is encrypted with RSA-OAEP-256 under the key, as sops does (its ``encrypt`` and
``decrypt`` key operations, so the permissions sops users grant are the ones sopsy needs), and
stored as base64url without padding. A key named without a version gets the latest version looked
up (``keys/get``) and written into the entry, as sops does.

Credentials come from azure-identity's ``DefaultAzureCredential``, the Python twin of the chain
sops uses (Go's ``azidentity.NewDefaultAzureCredential``): environment (``AZURE_TENANT_ID``,
``AZURE_CLIENT_ID`` with ``AZURE_CLIENT_SECRET`` or ``AZURE_CLIENT_CERTIFICATE_PATH``), workload
identity, managed identity (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` or the instance metadata
service), then the developer tools' logins (``az``, ``azd``, PowerShell); ``AZURE_TOKEN_CREDENTIALS``
narrows the chain. The HTTP client is requests: ``HTTPS_PROXY`` / ``NO_PROXY`` and
``REQUESTS_CA_BUNDLE`` apply (Go reads ``SSL_CERT_FILE`` instead).

The SDK costs ~350 ms to import, so it is imported only when an Azure key is actually used.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any, NamedTuple

from ..errors import KeyUnavailable, SopsyError, UsageError
from ..metadata import KeyEntry
from . import KeySpec, created_at

# Same pattern as sops (azkv/keysource.go NewMasterKeyFromURL).
URL_RE = re.compile(r"^(https://[^/]+)/keys/([^/]+)(/[^/]*)?$")
_EXAMPLE = "https://<vault>.vault.azure.net/keys/<name>/<version>"
# settings the credential chain reads when it is made; a change means a new credential
_CREDENTIAL_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                   "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_TOKEN_CREDENTIALS",
                   "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST")
# azure-core retries 10 times over minutes by default; Go's azcore gives up after 3 tries
_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 3, "retry_connect": 1, "retry_backoff_factor": 0.8,
                                   "connection_timeout": 20, "read_timeout": 60}


class AzureKey(NamedTuple):
    vault_url: str
    name: str
    version: str

    @property
    def key_id(self) -> str:
        base = f"{self.vault_url.rstrip('/')}/keys/{self.name}"
        return f"{base}/{self.version}" if self.version else base


def parse_url(url: str) -> AzureKey:
    """``https://<vault>/keys/<name>[/<version>]`` → its parts, as sops's NewMasterKeyFromURL reads it."""
    m = URL_RE.match(url.strip())
    if not m:
        raise UsageError(f"could not parse {url.strip()[:200]!r} into an Azure Key Vault key URL (like {_EXAMPLE})")
    version = (m.group(3) or "/")[1:]
    return AzureKey(m.group(1), m.group(2), version)


def parse_urls(text: str) -> list[KeySpec]:
    """``URL,...`` → key specs, as written (a URL without a version stays without one)."""
    return [make_spec(parse_url(item)) for item in (text or "").split(",") if item.strip()]


def parse_arg(text: str, options: dict[str, Any] | None = None) -> list[KeySpec]:
    """``URL,...`` (from ``--azure-kv``, ``SOPS_AZURE_KEYVAULT_URLS`` or ``--add/--rm-azure-kv``) → key specs.

    A URL without a version gets the key's latest version looked up now, as sops does when it reads
    the flag: ``--rm-azure-kv`` then finds the entry, which names a version."""
    specs = parse_urls(text)  # all checked before any network call
    return [PROVIDER.resolve(s) for s in specs]


def make_spec(key: AzureKey) -> KeySpec:
    return KeySpec("azure_kv", key.key_id, {"vault_url": key.vault_url, "name": key.name, "version": key.version})


def _key_of(spec: KeySpec) -> AzureKey:
    o = spec.options
    if o.get("vault_url") and o.get("name"):
        return AzureKey(str(o["vault_url"]), str(o["name"]), str(o.get("version") or ""))
    return parse_url(spec.id)  # a URL from a creation rule


def _entry_key(entry: KeyEntry) -> AzureKey:
    f = entry.fields
    key = AzureKey(str(f.get("vault_url") or ""), str(f.get("name") or ""), str(f.get("version") or ""))
    if not key.vault_url or not key.name:
        raise KeyUnavailable("the entry has no vault_url or name")
    return key


def _enc_bytes(entry: KeyEntry) -> bytes:
    text = entry.enc.rstrip("=")  # Go's RawURLEncoding writes no padding
    if not text:
        raise KeyUnavailable("the enc field is empty")
    try:
        return base64.b64decode(text.translate(str.maketrans("-_", "+/")) + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable("the enc field is not valid base64url") from None


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


_NOT_SET_UP = ("unavailable", "not found on path", "not installed", "could not be found", "requires the",
               "no accounts were found")


def _auth_reason(text: str) -> str:
    """DefaultAzureCredential's many-line report, cut to the credentials that were set up and failed."""
    attempts = [line.strip() for line in text.splitlines() if line.startswith("\t")]
    if not attempts:
        return _one_line(text, 400)
    failed = [a for a in attempts if not any(m in a.lower() for m in _NOT_SET_UP)]
    if failed:
        return _one_line("; ".join(failed), 400)
    return ("no Azure credentials found (tried: " + ", ".join(a.split(":")[0] for a in attempts) + "; set "
            "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, use a managed identity, or run `az login`)")


def _describe(exc: BaseException) -> str:
    """A one-line reason from an azure-core / azure-identity error (they never hold the payload)."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(exc, ServiceRequestError):
        # "<urllib3.connection.HTTPSConnection object at 0x...>: Failed to establish ..." -> the reason
        return "cannot connect: " + _one_line(re.sub(r"<[^>]* object at 0x[0-9a-f]+>:?\s*", "", str(exc)), 300)
    if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:
        return "Azure authentication failed: " + _auth_reason(str(exc))
    if isinstance(exc, HttpResponseError):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or exc.reason or ""
        message = getattr(error, "message", None) or ""
        return _one_line(f"HTTP {exc.status_code} {code}: {message}".rstrip(": "), 400)
    return _one_line(f"{type(exc).__name__}: {exc}", 300)


def _require_sdk() -> None:
    try:
        import azure.identity  # noqa: F401
        import azure.keyvault.keys.crypto  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"azure_kv keys need an optional dependency: pip install 'sopsy[azure]' ({exc})") from None


class AzureKvProvider:
    type_name = "azure_kv"

    def __init__(self) -> None:
        self._credential: Any = None
        self._marker: tuple[str, ...] = ()

    def _cred(self) -> Any:
        marker = tuple(os.environ.get(n, "") for n in _CREDENTIAL_ENV)
        if self._credential is None or marker != self._marker:
            import logging

            from azure.identity import DefaultAzureCredential

            for name in ("azure", "msal"):  # their warnings are multi-line; sopsy reports failures itself
                logging.getLogger(name).addHandler(logging.NullHandler())
            try:
                self._credential = DefaultAzureCredential()
            except ValueError as exc:  # e.g. an unknown AZURE_TOKEN_CREDENTIALS value
                raise KeyUnavailable(f"cannot set up Azure credentials: {_one_line(str(exc), 300)}") from None
            self._marker = marker
        return self._credential

    def _sdk_call(self, what: str, fn: Any, *args: Any) -> Any:
        from azure.core.exceptions import AzureError

        try:
            return fn(*args)
        except AzureError as exc:
            raise KeyUnavailable(f"Azure Key Vault {what} failed: {_describe(exc)}") from None
        except ValueError as exc:  # the SDK's checks of URLs and key material
            raise KeyUnavailable(f"Azure Key Vault {what} failed: {_one_line(str(exc), 300)}") from None

    def _latest(self, key: AzureKey) -> Any:
        from azure.keyvault.keys import KeyClient

        def get() -> Any:
            client = KeyClient(key.vault_url, self._cred(), **_CLIENT_OPTIONS)
            return client.get_key(key.name)

        return self._sdk_call(f"get key {key.key_id}", get)

    def resolve(self, spec: KeySpec) -> KeySpec:
        """The spec with its key version filled in (the latest one), as sops fills it when it reads a URL."""
        key = _key_of(spec)
        if key.version:
            return make_spec(key)
        _require_sdk()
        try:
            found = self._latest(key)
        except KeyUnavailable as exc:
            raise SopsyError(f"could not look up the latest version of {key.key_id}: {exc}") from None
        return make_spec(key._replace(version=str(found.properties.version or "")))

    def _crypto(self, key: Any) -> Any:
        from azure.keyvault.keys.crypto import CryptographyClient

        return CryptographyClient(key, self._cred(), **_CLIENT_OPTIONS)

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        key = _key_of(spec)
        _require_sdk()
        from azure.keyvault.keys.crypto import EncryptionAlgorithm

        try:
            if key.version:
                # the client fetches the public key (keys/get) if allowed and encrypts locally, else remotely
                target: Any = key.key_id
            else:
                target = self._latest(key)
                key = key._replace(version=str(target.properties.version or ""))
            result = self._sdk_call(f"encrypt with {key.key_id}",
                                    lambda: self._crypto(target).encrypt(EncryptionAlgorithm.rsa_oaep_256, payload))
        except KeyUnavailable as exc:
            # On encrypt there is no other key to fall back on: this ends the command.
            raise SopsyError(f"could not encrypt the data key with {key.key_id}: {exc}") from None
        return KeyEntry("azure_kv", {
            "vault_url": key.vault_url,
            "name": key.name,
            "version": key.version,
            "created_at": created_at(),
            "enc": base64.urlsafe_b64encode(result.ciphertext).rstrip(b"=").decode(),
        })

    def unwrap(self, entry: KeyEntry) -> bytes:
        key = _entry_key(entry)
        blob = _enc_bytes(entry)
        _require_sdk()
        from azure.keyvault.keys.crypto import EncryptionAlgorithm

        result = self._sdk_call(f"decrypt with {key.key_id}",
                                lambda: self._crypto(key.key_id).decrypt(EncryptionAlgorithm.rsa_oaep_256, blob))
        return bytes(result.plaintext)

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        f = entry.fields
        return make_spec(AzureKey(str(f.get("vault_url") or ""), str(f.get("name") or ""), str(f.get("version") or "")))


PROVIDER = AzureKvProvider()

"""Master-key providers: one module per key type, imported only when a key of that type is used.

A provider wraps a payload (the 32-byte data key, or a 33-byte Shamir share) for one key and
returns the metadata entry; it unwraps an entry back into the payload or raises
:class:`~sopsy.errors.KeyUnavailable` with a reason that the user will read.

Adding a provider means one module with a ``PROVIDER`` object and one line in ``PROVIDERS``.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import UsageError
from ..metadata import KeyEntry

# key type (as named in the metadata) -> module holding PROVIDER
PROVIDERS: dict[str, str] = {
    "age": "sopsy.keys.age",
    "kms": "sopsy.keys.aws_kms",
    "gcp_kms": "sopsy.keys.gcp_kms",
    "pkcs11": "sopsy.keys.pkcs11",
}

# Local keys first, network last (`--decryption-order` / SOPS_DECRYPTION_ORDER override it).
DEFAULT_DECRYPTION_ORDER = ("age", "pkcs11", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


@dataclass(frozen=True)
class KeySpec:
    """A master key named on the command line or in a creation rule, before it wraps anything."""

    type: str
    id: str  # recipient, ARN, resource id, PKCS#11 URI
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


class KeyProvider(Protocol):
    type_name: str

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry: ...

    def unwrap(self, entry: KeyEntry) -> bytes: ...

    def spec_of(self, entry: KeyEntry) -> KeySpec: ...


def provider(type_name: str) -> KeyProvider:
    module = PROVIDERS.get(type_name)
    if module is None:
        raise UsageError(f"sopsy cannot use {type_name} keys")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        extra = {"kms": "aws", "gcp_kms": "gcp", "pkcs11": "pkcs11"}.get(type_name, type_name)
        raise UsageError(f"{type_name} keys need an optional dependency: pip install 'sopsy[{extra}]' ({exc})") from None
    return mod.PROVIDER  # type: ignore[no-any-return]


def created_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

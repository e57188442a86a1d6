"""Master-key providers: one module per key type, imported only when a key of that type is used.

A provider wraps a payload (the 32-byte data key, or a 33-byte Shamir share) for one key and
returns the metadata entry; it unwraps an entry back into the payload or raises
:class:`~sopsy.errors.KeyUnavailable` with a reason that the user will read.

Adding a provider means one module with a ``PROVIDER`` object and a ``parse_arg`` function (the
command-line syntax of its keys), one line in ``PROVIDERS`` and, for a key type with a command-line
flag, one line in ``KEY_FLAGS``. A provider module imports its SDK only inside the functions that
need it, so that parsing a flag or loading metadata stays cheap.
"""

from __future__ import annotations

import importlib
import time

from ..errors import KeyUnavailable, UsageError

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the blocks below
if TYPE_CHECKING:
    from typing import Any, Protocol

    from ..metadata import KeyEntry

# key type (as named in the metadata) -> module holding PROVIDER
PROVIDERS: dict[str, str] = {
    "age": "sopsy.keys.age",
    "kms": "sopsy.keys.aws_kms",
    "gcp_kms": "sopsy.keys.gcp_kms",
    "pkcs11": "sopsy.keys.pkcs11",
    "pgp": "sopsy.keys.pgp",
    "hc_vault": "sopsy.keys.hc_vault",
    "azure_kv": "sopsy.keys.azure_kv",
}

# key type -> (flag name, as sops spells it: --NAME, --add-NAME, --rm-NAME; the environment
# variable that gives its default when encrypting; what the flag takes, for help lines)
KEY_FLAGS: dict[str, tuple[str, str, str]] = {
    "age": ("age", "SOPS_AGE_RECIPIENTS", "age recipients"),
    "pgp": ("pgp", "SOPS_PGP_FP", "PGP fingerprints"),
    "kms": ("kms", "SOPS_KMS_ARN", "AWS KMS key ARNs (ARN+ROLE_ARN to assume a role)"),
    "gcp_kms": ("gcp-kms", "SOPS_GCP_KMS_IDS", "GCP KMS key resource ids"),
    "azure_kv": ("azure-kv", "SOPS_AZURE_KEYVAULT_URLS", "Azure Key Vault key URLs"),
    "hc_vault": ("hc-vault-transit", "SOPS_VAULT_URIS", "Vault transit key URIs"),
    "pkcs11": ("pkcs11", "SOPSY_PKCS11_URIS", "PKCS#11 key URIs (a sopsy extension)"),
    # sops (after 3.11) has HuaweiCloud KMS; sopsy has no provider for it, so these flags give a
    # clear "cannot use hckms keys" instead of an unknown-option error
    "hckms": ("hckms", "SOPS_HUAWEICLOUD_KMS_IDS", "HuaweiCloud KMS key ids (not supported by sopsy)"),
}

# Local keys first, network last (`--decryption-order` / SOPS_DECRYPTION_ORDER override it).
DEFAULT_DECRYPTION_ORDER = ("age", "pkcs11", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


class KeySpec:
    """A master key named on the command line or in a creation rule, before it wraps anything.

    ``id`` is the recipient, ARN, resource id or PKCS#11 URI; ``options`` carries per-type extras
    (role, context, profile, PIN source) and takes no part in equality.
    """

    __slots__ = ("type", "id", "options")

    def __init__(self, type: str, id: str, options: dict[str, Any] | None = None) -> None:
        self.type = type
        self.id = id
        self.options: dict[str, Any] = options if options is not None else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeySpec) and (other.type, other.id) == (self.type, self.id)

    def __hash__(self) -> int:
        return hash((self.type, self.id))

    def __repr__(self) -> str:
        return f"KeySpec({self.type!r}, {self.id!r})"

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


if TYPE_CHECKING:  # the interface, for the type checker only
    class KeyProvider(Protocol):
        type_name: str

        def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry: ...

        def unwrap(self, entry: KeyEntry) -> bytes: ...

        def spec_of(self, entry: KeyEntry) -> KeySpec: ...


def _module(type_name: str) -> Any:
    module = PROVIDERS.get(type_name)
    if module is None:
        raise UsageError(f"{type_name} keys are not supported by sopsy")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = {"kms": "aws", "gcp_kms": "gcp", "pkcs11": "pkcs11", "azure_kv": "azure"}.get(type_name, type_name)
        raise UsageError(f"{type_name} keys need an optional dependency: pip install 'sopsy[{extra}]' ({exc})") from None


def provider(type_name: str) -> KeyProvider:
    return _module(type_name).PROVIDER  # type: ignore[no-any-return]


def parse_key_arg(type_name: str, text: str, *, encryption_context: dict[str, str] | None = None,
                  aws_profile: str = "", from_env: bool = False) -> list[KeySpec]:
    """The keys a command-line flag (or its environment variable, ``from_env``) names, in the
    syntax sops gives them (comma-separated lists). Malformed keys are a UsageError naming them."""
    if not text.strip():
        return []
    options = {"encryption_context": encryption_context or {}, "aws_profile": aws_profile, "from_env": from_env}
    return _module(type_name).parse_arg(text, options)  # type: ignore[no-any-return]


def created_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def enc_bytes(entry: KeyEntry) -> bytes:
    """The wrapped payload of a KMS-style entry (standard base64 in ``enc``), or KeyUnavailable."""
    import binascii

    try:
        blob = binascii.a2b_base64(entry.enc, strict_mode=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable("the enc field is not valid base64") from None
    if not blob:
        raise KeyUnavailable("the enc field is empty")
    return blob

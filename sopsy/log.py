"""sops's ``--verbose`` log lines on stderr, in the form sops prints them (logrus text with a
component prefix), because tools match on them: helm-secrets' ``--backend-args --verbose``
checks for ``Data key recovered successfully``. Only key names appear, never key material.

    [SOPS]\t time="2026-01-01T12:00:00Z" level=info msg="Data key recovered successfully"
"""

from __future__ import annotations

import sys
import time

from .settings import SETTINGS

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from .metadata import KeyEntry

# key type -> (sops's logger name, the metadata field sops names the key by)
_KEY_LOGGERS: dict[str, tuple[str, str | None]] = {
    "age": ("AGE", "recipient"), "pgp": ("PGP", "fp"), "kms": ("AWSKMS", "arn"),
    "gcp_kms": ("GCPKMS", "resource_id"), "azure_kv": ("AZKV", "name"), "hc_vault": ("VAULT_TRANSIT", "name"),
    "hckms": ("HCKMS", "key_id"), "pkcs11": ("PKCS11", "uri")}
# how sops calls those fields in its log lines
_FIELD_NAMES = {"fp": "fingerprint", "resource_id": "resourceID", "name": "key", "key_id": "keyID"}


def _timestamp() -> str:
    now = time.localtime()
    offset = now.tm_gmtoff or 0
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", now) + zone


def _quote(value: str) -> str:
    # logrus quotes a value holding anything but letters, digits and -._/@^+
    plain = value and all(c.isalnum() or c in "-._/@^+" for c in value)
    return value if plain else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def info(component: str, message: str, **fields: str) -> None:
    """One log line when ``--verbose`` is on (SETTINGS.verbose); nothing otherwise."""
    if not SETTINGS.verbose:
        return
    extra = "".join(f" {k}={_quote(v)}" for k, v in fields.items())
    sys.stderr.write(f'[{component}]\t time="{_timestamp()}" level=info msg={_quote(message)}{extra}\n')


def key_event(entry: KeyEntry, message: str, named: bool = True) -> None:
    """``Encryption succeeded`` / ``Decryption succeeded`` for one master key, as its sops
    provider logs it (sops's age provider names the recipient only when encrypting)."""
    if not SETTINGS.verbose:
        return
    component, field = _KEY_LOGGERS.get(entry.type, (entry.type.upper(), None))
    value = entry.fields.get(field) if field and named else None
    fields = {_FIELD_NAMES.get(field, field): str(value)} if field and value else {}
    info(component, message, **fields)

"""Between sopsy's keys (key specs and metadata entries) and the protocol's ``Key`` messages.

Each key type the protocol carries has one row: the ``Key`` oneof member, which protocol field
holds which metadata-entry field (sops names the two the same way, but for ``fp`` and
``fingerprint``), the entry's field order as sops writes it, and how a key spec (a key named on
the command line or in a creation rule) gives the entry's identifying fields. A client turns a
spec into a ``Key`` to encrypt and an entry into one to decrypt; a server turns a ``Key`` back
into an entry and hands it to the sopsy provider of that type (``sopsy.keys.provider``), so a
provider module that lands later serves without changes here, as long as its type is a row.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import UsageError
from ..keys import KeySpec, created_at
from ..metadata import KeyEntry
from . import proto


class KeyType:
    __slots__ = ("name", "member", "fields", "order", "from_spec")

    def __init__(self, name: str, member: str, fields: tuple[tuple[str, str], ...], order: tuple[str, ...],
                 from_spec: Any) -> None:
        self.name = name  # the metadata type name: age, kms, ...
        self.member = member  # the Key oneof member: age_key, kms_key, ...
        self.fields = fields  # (protocol field, entry field)
        self.order = order  # the entry's fields as sops emits them
        self.from_spec = from_spec  # KeySpec -> {entry field: value}, without created_at and enc


def _kms_fields(spec: KeySpec) -> dict[str, Any]:
    o = spec.options
    return {"arn": spec.id, "role": str(o.get("role") or ""), "context": dict(o.get("context") or {}),
            "aws_profile": str(o.get("aws_profile") or "")}


def _vault_fields(spec: KeySpec) -> dict[str, Any]:
    """``https://vault:8200/v1/ENGINE/keys/NAME`` as sops splits it (hcvault.NewMasterKeyFromURI)."""
    o = spec.options
    if o.get("vault_address"):
        return {k: str(o.get(k) or "") for k in ("vault_address", "engine_path", "key_name")}
    parts = urlsplit(spec.id)
    m = re.match(r"^/v1/(.+)/keys/([^/]+)$", parts.path)
    if not parts.scheme or not m:
        raise UsageError(f"not a Vault transit key URI (https://HOST:PORT/v1/ENGINE/keys/NAME): {spec.id[:160]}")
    return {"vault_address": urlunsplit((parts.scheme, parts.netloc, "", "", "")),
            "engine_path": m.group(1), "key_name": m.group(2)}


def _azure_fields(spec: KeySpec) -> dict[str, Any]:
    """``https://VAULT/keys/NAME[/VERSION]`` as sops splits it (azkv.NewMasterKeyFromURL)."""
    o = spec.options
    if o.get("vault_url"):
        return {k: str(o.get(k) or "") for k in ("vault_url", "name", "version")}
    m = re.match(r"^(https://[^/]+)/keys/([^/]+)(?:/([^/]*))?$", spec.id.strip())
    if not m:
        raise UsageError(f"not an Azure Key Vault key URL (https://VAULT/keys/NAME/VERSION): {spec.id[:160]}")
    return {"vault_url": m.group(1), "name": m.group(2), "version": m.group(3) or ""}


def _pkcs11_fields(spec: KeySpec) -> dict[str, Any]:
    from ..keys.pkcs11_uri import strip_pin_value

    # the PIN never travels: the server uses its own (SOPSY_PKCS11_PIN, pin-source, prompt)
    return {"uri": strip_pin_value(spec.id), "mechanism": str(spec.options.get("mechanism") or "")}


def _single(entry_field: str) -> Any:
    return lambda spec: {entry_field: spec.id}


_C, _E = "created_at", "enc"
TYPES: dict[str, KeyType] = {t.name: t for t in (
    KeyType("kms", "kms_key", (("arn", "arn"), ("role", "role"), ("context", "context"),
                               ("aws_profile", "aws_profile")),
            ("arn", "role", "context", _C, _E, "aws_profile"), _kms_fields),
    KeyType("pgp", "pgp_key", (("fingerprint", "fp"),), (_C, _E, "fp"),
            lambda spec: {"fp": spec.id.replace(" ", "")}),
    KeyType("gcp_kms", "gcp_kms_key", (("resource_id", "resource_id"),), ("resource_id", _C, _E),
            _single("resource_id")),
    KeyType("azure_kv", "azure_keyvault_key", (("vault_url", "vault_url"), ("name", "name"), ("version", "version")),
            ("vault_url", "name", "version", _C, _E), _azure_fields),
    KeyType("hc_vault", "vault_key", (("vault_address", "vault_address"), ("engine_path", "engine_path"),
                                      ("key_name", "key_name")),
            ("vault_address", "engine_path", "key_name", _C, _E), _vault_fields),
    KeyType("age", "age_key", (("recipient", "recipient"),), ("recipient", _E), _single("recipient")),
    KeyType("hckms", "hckms_key", (("key_id", "key_id"),), ("key_id", _C, _E), _single("key_id")),
    # sopsy's extension (see proto.py); sops servers answer it with "Must provide a key"
    KeyType("pkcs11", "pkcs11_key", (("uri", "uri"), ("mechanism", "mechanism")),
            ("uri", "mechanism", _C, _E), _pkcs11_fields),
)}
BY_MEMBER = {t.member: t for t in TYPES.values()}
# entry fields sops omits when empty (the rest are always written)
_OMIT_EMPTY = {("kms", "role"), ("kms", "context")}


def row(type_name: str) -> KeyType:
    t = TYPES.get(type_name)
    if t is None:
        raise UsageError(f"{type_name} keys cannot go through a key service (sops's protocol has no such key type)")
    return t


def _message(t: KeyType, fields: dict[str, Any]) -> Any:
    key = proto.Key()
    sub = getattr(key, t.member)
    for pfield, efield in t.fields:
        value = fields.get(efield)
        if pfield == "context":
            for k, v in (value or {}).items():
                sub.context[str(k)] = str(v)
        else:
            setattr(sub, pfield, str(value or ""))
    sub.SetInParent()  # an all-empty member must still select the oneof
    return key


def key_of_spec(spec: KeySpec) -> Any:
    """The ``Key`` message for encrypting with a key named on the command line or in a rule."""
    t = row(spec.type)
    return _message(t, t.from_spec(spec))


def key_of_entry(entry: KeyEntry) -> Any:
    """The ``Key`` message for decrypting a metadata entry."""
    t = row(entry.type)
    fields = dict(entry.fields)
    if t.name == "kms" and not isinstance(fields.get("context"), dict):
        fields["context"] = {}  # sops drops a context it cannot read as strings
    return _message(t, fields)


def entry_of_spec(spec: KeySpec, enc: str, completed: Any = None) -> KeyEntry:
    """The metadata entry for ``spec`` whose key service returned ``enc``. ``completed`` is the
    server's ``EncryptResponse.key`` (sopsy servers fill in the PKCS#11 mechanism there)."""
    t = row(spec.type)
    fields = t.from_spec(spec)
    if completed is not None and completed.WhichOneof(proto.ONEOF) == t.member:
        for pfield, efield in t.fields:
            value = getattr(getattr(completed, t.member), pfield)
            if isinstance(value, str) and value and not fields.get(efield):
                fields[efield] = value
    fields[_C] = created_at()
    fields[_E] = enc
    out = {}
    for name in t.order:
        if (t.name, name) in _OMIT_EMPTY and not fields.get(name):
            continue
        value = fields.get(name, "")
        out[name] = {k: value[k] for k in sorted(value)} if isinstance(value, dict) else value
    return KeyEntry(t.name, out)


def entry_of_key(key: Any, enc: str = "") -> KeyEntry | None:
    """A metadata entry (type and identifying fields, plus ``enc``) from a ``Key`` message, or
    None when the message selects no key type this sopsy knows."""
    member = key.WhichOneof(proto.ONEOF)
    t = BY_MEMBER.get(member or "")
    if t is None:
        return None
    sub = getattr(key, t.member)
    fields: dict[str, Any] = {}
    for pfield, efield in t.fields:
        value = getattr(sub, pfield)
        fields[efield] = {k: value[k] for k in sorted(value)} if pfield == "context" else value
    fields[_E] = enc
    return KeyEntry(t.name, fields)


def describe(key: Any) -> str:
    """How a prompt or a log line names the key of a request (never anything secret)."""
    entry = entry_of_key(key)
    if entry is None:
        return "an unknown key type"
    if entry.type == "pkcs11":
        from ..keys.pkcs11_uri import strip_pin_value

        try:
            return f"pkcs11 key {strip_pin_value(str(entry.fields.get('uri') or ''))}"
        except UsageError:
            return "pkcs11 key (malformed URI)"
    return f"{entry.type} key {entry.identity}"

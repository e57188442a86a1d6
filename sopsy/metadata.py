"""The ``sops`` metadata block: key groups, MAC, crypt rule, version — as a store-neutral dict.

Stores turn :meth:`Metadata.to_dict` into their own syntax and give :meth:`Metadata.from_dict`
what they read back. Master-key entries stay plain ordered dicts (:class:`KeyEntry`), so that
loading a file never imports a key provider's SDK; a provider is imported only to use a key.
"""

from __future__ import annotations

import re
import time

from . import SOPS_FORMAT_VERSION
from .errors import InputError, MetadataNotFound
from .rules import RULE_NAMES, CryptRule

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

# Group-level key lists, in the order sops emits them at the top level (§4.1) ...
TOP_LEVEL_KEY_ORDER = ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pkcs11", "age")
# ... and inside key_groups (§4.3).
GROUP_KEY_ORDER = ("pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pkcs11", "age")
ALL_KEY_TYPES = frozenset(GROUP_KEY_ORDER)
# sops always writes these two inside a group, even when empty.
ALWAYS_IN_GROUP = ("hc_vault", "age")


class KeyEntry:
    """One master key's metadata entry: its type and its fields in emission order."""

    __slots__ = ("type", "fields")

    def __init__(self, type: str, fields: dict[str, Any]) -> None:
        self.type = type
        self.fields = fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KeyEntry) and (other.type, other.fields) == (self.type, self.fields)

    def __repr__(self) -> str:
        return f"KeyEntry({self.type!r}, {self.identity!r})"

    @property
    def identity(self) -> str:
        """What names this key to a person (recipient, ARN, resource id, URI...)."""
        for name in ("recipient", "arn", "resource_id", "uri", "fp", "key_id", "vault_url", "key_name"):
            value = self.fields.get(name)
            if value:
                return str(value)
        return "?"

    @property
    def enc(self) -> str:
        return str(self.fields.get("enc") or "")


class Metadata:
    def __init__(self, key_groups: list[list[KeyEntry]], lastmodified: str = "", mac: str = "",
                 shamir_threshold: int = 0, crypt_rule: CryptRule | None = None,
                 mac_only_encrypted: bool = False, version: str = SOPS_FORMAT_VERSION,
                 extra: dict[str, Any] | None = None) -> None:
        self.key_groups = key_groups
        self.lastmodified = lastmodified
        self.mac = mac
        self.shamir_threshold = shamir_threshold
        self.crypt_rule = crypt_rule
        self.mac_only_encrypted = mac_only_encrypted
        self.version = version
        # fields sops does not know (sopsy extensions); kept, written after `version`
        self.extra: dict[str, Any] = extra if extra is not None else {}

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self, empty_group_list: Any = None) -> dict[str, Any]:
        """The metadata in sops's field order. ``empty_group_list`` is what an empty
        ``hc_vault``/``age`` list inside a key group becomes (YAML ``[]``, JSON ``null``)."""
        out: dict[str, Any] = {}
        if self.shamir_threshold:
            out["shamir_threshold"] = self.shamir_threshold
        pgp: list[dict[str, Any]] = []
        if len(self.key_groups) > 1:
            groups = []
            for group in self.key_groups:
                g: dict[str, Any] = {}
                for t in GROUP_KEY_ORDER:
                    entries = [dict(e.fields) for e in group if e.type == t]
                    if entries:
                        g[t] = entries
                    elif t in ALWAYS_IN_GROUP:
                        g[t] = [] if empty_group_list is None else empty_group_list
                groups.append(g)
            out["key_groups"] = groups
        elif self.key_groups:
            group = self.key_groups[0]
            for t in TOP_LEVEL_KEY_ORDER:
                entries = [dict(e.fields) for e in group if e.type == t]
                if entries:
                    out[t] = entries
            pgp = [dict(e.fields) for e in group if e.type == "pgp"]
        out["lastmodified"] = self.lastmodified
        out["mac"] = self.mac
        if pgp:
            out["pgp"] = pgp
        if self.crypt_rule:
            out[self.crypt_rule.name] = self.crypt_rule.value
        if self.mac_only_encrypted:
            out["mac_only_encrypted"] = True
        out["version"] = self.version
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, d: Any) -> Metadata:
        if not isinstance(d, dict):
            raise MetadataNotFound("sops metadata not found")
        version = d.get("version")
        # sops fails to unmarshal such metadata (files of sops 0.x-1.x) and exits 1, not 2
        if not isinstance(version, str):
            raise InputError("the sops metadata has no version string (files from sops 1.x are not supported)",
                             exit_code=1)
        lastmodified = _time_text(d.get("lastmodified"))
        if not isinstance(lastmodified, str):
            raise InputError("the sops metadata has no lastmodified time", exit_code=1)
        mac_aad(lastmodified)  # validates
        mac = d.get("mac") or ""
        if not isinstance(mac, str):
            raise InputError("the sops metadata has an invalid mac")
        groups: list[list[KeyEntry]] = []
        top = _entries_of(d)
        if top:
            groups = [top]
        elif isinstance(d.get("key_groups"), list):
            for g in d["key_groups"]:
                if isinstance(g, dict):
                    groups.append(_entries_of(g))
        if not any(groups):
            raise InputError("no keys found in the sops metadata")
        rule = CryptRule.pick({k: d.get(k) for k in RULE_NAMES if isinstance(d.get(k), str)})
        threshold = d.get("shamir_threshold") or 0
        try:
            threshold = int(threshold)
        except (TypeError, ValueError):
            raise InputError("the sops metadata has an invalid shamir_threshold") from None
        mac_only = d.get("mac_only_encrypted")
        known = {"shamir_threshold", "key_groups", "lastmodified", "mac", "version", "mac_only_encrypted",
                 *RULE_NAMES, *ALL_KEY_TYPES}
        extra = {k: v for k, v in d.items() if k not in known and k.startswith("sopsy")}
        return cls(
            key_groups=groups,
            lastmodified=lastmodified,
            mac=mac,
            shamir_threshold=threshold,
            crypt_rule=rule,
            mac_only_encrypted=mac_only is True or mac_only == "true",
            version=version,
            extra=extra,
        )


def _entries_of(d: dict[str, Any]) -> list[KeyEntry]:
    entries: list[KeyEntry] = []
    # sops orders keys inside a group by type when loading (§4.3)
    for t in ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pkcs11", "pgp", "age"):
        items = d.get(t)
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict):
                    created = _time_text(item.get("created_at"))
                    if created is not None:
                        item = {**item, "created_at": created}
                    if created is not None and t != "age":
                        if not isinstance(created, str):
                            raise InputError(f"a {t} key has an invalid created_at")
                        mac_aad(created)
                    entries.append(KeyEntry(t, {str(k): v for k, v in item.items()}))
    return entries


def _time_text(value: Any) -> Any:
    """A time a YAML file wrote unquoted reads as a timestamp; sops reads its text (RFC 3339)."""
    from .values import GoTime

    return value.text if isinstance(value, GoTime) else value


_TS = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]+)?(Z|z|[+-][0-9]{2}:[0-9]{2})\Z")


def mac_aad(lastmodified: str) -> bytes:
    """The AAD of the MAC: ``lastmodified`` re-formatted at second precision (§3 step 6)."""
    m = _TS.match(lastmodified)
    if not m:
        raise InputError("the sops metadata has a lastmodified/created_at that is not an RFC 3339 time", exit_code=1)
    date, clock, tz = m.groups()
    if tz in ("z", "+00:00", "-00:00"):
        tz = "Z"
    return f"{date}T{clock}{tz}".encode()


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- flattening, for the dotenv and INI stores (§7.3) ---------------------------------------------


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"age": [{"recipient": r}]}`` → ``{"age__list_0__map_recipient": r}`` (nulls and empty lists vanish)."""
    out: dict[str, str] = {}

    def walk(value: Any, key: str) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}__map_{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{key}__list_{i}")
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)

    for k, v in d.items():
        walk(v, prefix + k)
    return out


_FLAT_PART = re.compile(r"__(map|list)_")


def unflatten(flat: dict[str, str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for full_key, value in flat.items():
        parts = _FLAT_PART.split(full_key)
        # parts: [name, kind, key, kind, key, ...]
        cursor: Any = root
        key: Any = parts[0]
        for i in range(1, len(parts), 2):
            kind, nxt = parts[i], parts[i + 1]
            child_key: Any = int(nxt) if kind == "list" else nxt
            container: Any = [] if kind == "list" else {}
            if isinstance(cursor, dict):
                cursor = cursor.setdefault(key, container)
            else:
                while len(cursor) <= key:
                    cursor.append(None)
                if cursor[key] is None:
                    cursor[key] = container
                cursor = cursor[key]
            key = child_key
        if isinstance(cursor, dict):
            cursor[key] = value
        else:
            while len(cursor) <= key:
                cursor.append(None)
            cursor[key] = value
    if "shamir_threshold" in root:
        try:
            root["shamir_threshold"] = int(float(root["shamir_threshold"]))
        except ValueError:
            raise InputError("the sops metadata has an invalid shamir_threshold") from None
    if "mac_only_encrypted" in root:
        root["mac_only_encrypted"] = root["mac_only_encrypted"] == "true"
    return root

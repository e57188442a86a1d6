"""The data key: made on encrypt, wrapped for every master key (split across key groups with
Shamir when there are several), and recovered on decrypt by trying keys in decryption order."""

from __future__ import annotations

import os

from . import shamir
from .errors import DuplicateDecryptionKeyType, KeyRetrievalError, KeyUnavailable, UsageError
from .keys import DEFAULT_DECRYPTION_ORDER, KeySpec, provider
from .metadata import KeyEntry, Metadata

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Sequence


def new_data_key() -> bytes:
    return os.urandom(32)


def wrap(data_key: bytes, groups: Sequence[Sequence[KeySpec]], threshold: int = 0) -> tuple[list[list[KeyEntry]], int]:
    """Wrap the data key for every key in ``groups``; returns (key groups, shamir threshold)."""
    groups = [_dedupe(g) for g in groups if g]
    if not groups:
        raise UsageError("no master keys were given: use --age (or SOPS_AGE_RECIPIENTS) or a creation rule")
    if len(groups) == 1:
        return [[wrap_key(s, data_key) for s in groups[0]]], 0
    threshold = threshold or len(groups)
    threshold = min(threshold, len(groups))
    if threshold < 2:
        raise UsageError("a Shamir threshold must be at least 2")
    shares = shamir.split(data_key, len(groups), threshold)
    wrapped = [[wrap_key(s, share) for s in g] for g, share in zip(groups, shares, strict=True)]
    return wrapped, threshold


def _keyservices_in_use() -> bool:
    from . import settings

    return bool(settings.SETTINGS.keyservices) or not settings.SETTINGS.local_keyservice


def wrap_key(spec: KeySpec, payload: bytes) -> KeyEntry:
    """One key wraps ``payload``: its provider here, or the key services (``--keyservice``)."""
    if _keyservices_in_use():
        from .keyservice import client

        return client.wrap(spec, payload)
    return provider(spec.type).wrap(spec, payload)


def unwrap_entry(entry: KeyEntry) -> bytes:
    """One entry's payload, or KeyUnavailable: its provider here, or the key services."""
    if _keyservices_in_use():
        from .keyservice import client

        return client.unwrap(entry)
    return provider(entry.type).unwrap(entry)


def _dedupe(specs: Sequence[KeySpec]) -> list[KeySpec]:
    seen: set[tuple[str, str]] = set()
    out = []
    for s in specs:
        if (s.type, s.id) not in seen:
            seen.add((s.type, s.id))
            out.append(s)
    return out


def decryption_order(order: str | None) -> tuple[str, ...]:
    if not order:
        order = os.environ.get("SOPS_DECRYPTION_ORDER") or ""
    if not order:
        return DEFAULT_DECRYPTION_ORDER
    names = tuple(t.strip() for t in order.split(",") if t.strip())
    if len(set(names)) != len(names):
        raise DuplicateDecryptionKeyType("a key type is listed twice in the decryption order")
    return names


def _sorted_group(group: list[KeyEntry], order: tuple[str, ...]) -> list[KeyEntry]:
    rank = {t: i for i, t in enumerate(order)}
    return sorted(group, key=lambda e: rank.get(e.type, len(rank)))


def recover(meta: Metadata, order: str | None = None) -> bytes:
    """The data key, or :class:`KeyRetrievalError` listing each key tried and why it failed."""
    types = decryption_order(order)
    failures: list[str] = []
    payloads: list[bytes] = []
    for gi, group in enumerate(meta.key_groups):
        for entry in _sorted_group(group, types):
            try:
                payload = unwrap_entry(entry)
            except KeyUnavailable as exc:
                failures.append(f"group {gi}: {entry.type} {_short(entry.identity)}: {exc}")
                continue
            except UsageError as exc:
                failures.append(f"group {gi}: {entry.type} {_short(entry.identity)}: {exc}")
                continue
            payloads.append(payload)
            break
        if len(meta.key_groups) == 1 and payloads:
            return _check(payloads[0], 32)
        needed = meta.shamir_threshold or len(meta.key_groups)
        if len(meta.key_groups) > 1 and len(payloads) >= needed:
            break
    if len(meta.key_groups) > 1:
        needed = meta.shamir_threshold or len(meta.key_groups)
        if len(payloads) >= needed:
            try:
                return _check(shamir.combine(payloads[:needed]), 32)
            except ValueError as exc:
                failures.append(f"combining Shamir shares: {exc}")
    raise KeyRetrievalError("could not retrieve the data key; tried: " + "; ".join(failures or ["no keys"]))


def _short(identity: str) -> str:
    """A key's name for a message: post-quantum age recipients run to ~2,000 characters."""
    return identity if len(identity) <= 90 else f"{identity[:40]}...{identity[-12:]}"


def _check(key: bytes, size: int) -> bytes:
    if len(key) != size:
        raise KeyRetrievalError(f"a master key gave a data key of {len(key)} bytes, expected {size}")
    return key

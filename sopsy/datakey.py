"""The data key: made on encrypt, wrapped for every master key (split across key groups with
Shamir when there are several), and recovered on decrypt by trying keys in decryption order."""

from __future__ import annotations

import os

from . import log, shamir
from .errors import DuplicateDecryptionKeyType, KeyRetrievalError, KeyUnavailable, UsageError
from .keys import DEFAULT_DECRYPTION_ORDER, KeySpec, provider
from .metadata import KeyEntry, Metadata

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .unwraps import SharedUnwraps


def new_data_key() -> bytes:
    return os.urandom(32)


def wrap(data_key: bytes, groups: Sequence[Sequence[KeySpec]], threshold: int = 0) -> tuple[list[list[KeyEntry]], int]:
    """Wrap the data key for every key in ``groups``; returns (key groups, shamir threshold).

    A threshold the groups cannot meet is an error, never lowered in silence (a file that
    needs fewer groups than its author asked for is weaker than intended)."""
    groups = [_dedupe(g) for g in groups if g]
    if not groups:
        raise UsageError("no master keys were given: use --age (or SOPS_AGE_RECIPIENTS) or a creation rule")
    check_threshold(threshold, len(groups))
    if len(groups) == 1:
        return [[wrap_key(s, data_key) for s in groups[0]]], 0
    threshold = threshold or len(groups)
    shares = shamir.split(data_key, len(groups), threshold)
    wrapped = [[wrap_key(s, share) for s in g] for g, share in zip(groups, shares, strict=True)]
    return wrapped, threshold


def check_threshold(threshold: int, groups: int, where: str = "the Shamir threshold") -> None:
    """``threshold`` (0: all groups) must be reachable with ``groups`` key groups."""
    if threshold < 0:
        raise UsageError(f"{where} must be a positive number, not {threshold}")
    if threshold > groups:
        raise UsageError(f"{where} ({threshold}) is larger than the number of key groups ({groups})")
    if groups > 1 and threshold == 1:
        raise UsageError(f"{where} must be at least 2 with several key groups (1 would let any group alone "
                         "recover the data key: use one group instead)")
    if groups > 255:
        raise UsageError(f"at most 255 key groups can share a data key, not {groups}")


def _keyservices_in_use() -> bool:
    from . import settings

    return bool(settings.SETTINGS.keyservices) or not settings.SETTINGS.local_keyservice


def wrap_key(spec: KeySpec, payload: bytes) -> KeyEntry:
    """One key wraps ``payload``: its provider here, or the key services (``--keyservice``)."""
    if _keyservices_in_use():
        from .keyservice import client

        entry = client.wrap(spec, payload)
    else:
        entry = provider(spec.type).wrap(spec, payload)
    log.key_event(entry, "Encryption succeeded")
    return entry


# set while many files are decrypted at once (sopsy.bulk): one unwrap per distinct wrapped key
SHARED: SharedUnwraps | None = None


def unwrap_entry(entry: KeyEntry) -> bytes:
    """One entry's payload, or KeyUnavailable: its provider here, or the key services."""
    shared = SHARED
    if shared is not None:
        from .unwraps import CONCURRENT_TYPES

        remote = _keyservices_in_use()
        return shared.unwrap(entry, _unwrap_here, remote or entry.type in CONCURRENT_TYPES)
    return _unwrap_here(entry)


def _unwrap_here(entry: KeyEntry) -> bytes:
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
    source = "--decryption-order"
    if not order:
        order, source = os.environ.get("SOPS_DECRYPTION_ORDER") or "", "SOPS_DECRYPTION_ORDER"
    if not order:
        return DEFAULT_DECRYPTION_ORDER
    names = tuple(t.strip() for t in order.split(",") if t.strip())
    unknown = [n for n in names if n not in DEFAULT_DECRYPTION_ORDER]
    if unknown:
        raise UsageError(f"{source}: unknown key type {unknown[0][:40]!r} (the key types are "
                         f"{', '.join(DEFAULT_DECRYPTION_ORDER)})")
    if len(set(names)) != len(names):
        raise DuplicateDecryptionKeyType(f"{source}: a key type is listed twice")
    return names


def _sorted_group(group: list[KeyEntry], order: tuple[str, ...]) -> list[KeyEntry]:
    rank = {t: i for i, t in enumerate(order)}
    return sorted(group, key=lambda e: rank.get(e.type, len(rank)))


def recover(meta: Metadata, order: str | None = None) -> bytes:
    """The data key, or :class:`KeyRetrievalError` summarising each key tried and why it failed."""
    types = decryption_order(order)
    n_groups = len(meta.key_groups)
    needed = (meta.shamir_threshold or n_groups) if n_groups > 1 else 1
    if n_groups > 1 and needed > n_groups:
        raise KeyRetrievalError(f"the file's shamir_threshold ({meta.shamir_threshold}) is larger than its number "
                                f"of key groups ({n_groups}): the data key cannot be recovered")
    failures: list[tuple[int, str, str, str]] = []
    payloads: list[bytes] = []
    for gi, group in enumerate(meta.key_groups):
        for entry in _sorted_group(group, types):
            try:
                payload = unwrap_entry(entry)
            except (KeyUnavailable, UsageError) as exc:
                legacy = _legacy_unwrap(entry, meta.version)
                if legacy is None:
                    failures.append((gi, entry.type, entry.identity, str(exc)))
                    continue
                payload = legacy
            log.key_event(entry, "Decryption succeeded", named=entry.type != "age")
            payloads.append(payload)
            break
        if len(payloads) >= needed:
            break
    if n_groups == 1 and payloads:
        return _recovered(payloads[0])
    if n_groups > 1 and len(payloads) >= needed:
        try:
            return _recovered(shamir.combine(payloads[:needed]))
        except ValueError as exc:
            raise KeyRetrievalError(f"could not retrieve the data key: combining the Shamir shares failed: {exc}") \
                from None
    if not n_groups:
        raise KeyRetrievalError("could not retrieve the data key: the file lists no master keys")
    got = f"{len(payloads)} of the {needed} key groups needed were decrypted; " if n_groups > 1 else ""
    raise KeyRetrievalError(f"could not retrieve the data key; {got}tried: {summarise(failures)}")


def _legacy_unwrap(entry: KeyEntry, version: str) -> bytes | None:
    """An entry written by an old sops that its provider knows a workaround for (AWS KMS
    contexts before sops 3.3.0): the payload through one of the variants sops tries, or None."""
    if entry.type != "kms":  # the one provider with such a workaround (no other import is made)
        return None
    variants = getattr(provider(entry.type), "legacy_entries", None)
    for variant in variants(entry, str(version or "")) if variants is not None else ():
        try:
            return unwrap_entry(variant)
        except (KeyUnavailable, UsageError):
            continue
    return None


def summarise(failures: Sequence[tuple[int, str, str, str]], shown: int = 3) -> str:
    """One line for any number of failed keys: keys failing the same way in the same group are
    counted, a few named (10,000 recipients must not give a megabyte of error)."""
    buckets: dict[tuple[int, str, str], list[str]] = {}
    for group, type_name, identity, reason in failures:
        buckets.setdefault((group, type_name, reason), []).append(identity)
    parts = []
    for (group, type_name, reason), ids in buckets.items():
        named = ", ".join(_short(i) for i in ids[:shown])
        more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
        parts.append(f"group {group}: {type_name} {named}{more}: {reason}")
    if len(parts) > 2 * shown:
        parts = [*parts[:2 * shown], f"and {len(parts) - 2 * shown} other failures"]
    return "; ".join(parts) or "no keys"


def _recovered(key: bytes) -> bytes:
    key = _check(key, 32)
    log.info("SOPS", "Data key recovered successfully")
    return key


def _short(identity: str) -> str:
    """A key's name for a message: post-quantum age recipients run to ~2,000 characters."""
    return identity if len(identity) <= 90 else f"{identity[:40]}...{identity[-12:]}"


def _check(key: bytes, size: int) -> bytes:
    if len(key) != size:
        raise KeyRetrievalError(f"a master key gave a data key of {len(key)} bytes, expected {size}")
    return key

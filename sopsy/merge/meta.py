"""The three-way merge of the sops metadata: recipients per key group, the data key, the rules.

Recipients: what either side added is added, what either side removed is removed (a
revocation on one branch must survive the merge, in either direction of a rebase). If either
side removed a recipient or rotated the data key, the merged file gets a **fresh data key**
wrapped for every remaining recipient (public-key operations only): a removed recipient must
not read the merge result. Otherwise ours' data key stays; a recipient theirs added gets
theirs' own wrapped entry when theirs has the same data key, or the key wrapped anew (no
private key of theirs is needed either way). Several key groups (Shamir) are re-split whenever
their membership changes, since a share wrapped on one branch need not match the other's split.

The crypt rule, the Shamir threshold and ``mac_only_encrypted``: a change on one side is
taken; different changes on both sides are a clash the user resolves.
"""

from __future__ import annotations

from .. import datakey
from ..errors import UsageError
from ..metadata import KeyEntry, Metadata
from ..rules import DEFAULT_RULE, CryptRule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Ident = tuple[str, tuple[tuple[str, str], ...]]
_VOLATILE = frozenset({"enc", "created_at"})


def ident(e: KeyEntry) -> Ident:
    """What makes an entry the same master key on both sides (its wrapped blob and time aside)."""
    return e.type, tuple(sorted((k, str(v)) for k, v in e.fields.items() if k not in _VOLATILE))


class Side:
    """One version's metadata and data key (None for a version without sops metadata)."""

    def __init__(self, metadata: Metadata | None, data_key: bytes | None) -> None:
        self.metadata = metadata
        self.data_key = data_key


class MetaMerge:
    """The merged metadata (lastmodified and MAC still to be set) and what the user should hear."""

    def __init__(self, metadata: Metadata, data_key: bytes, fresh_reasons: list[str],
                 clashes: dict[str, tuple[Any, Any]], changes: list[str]) -> None:
        self.metadata = metadata
        self.data_key = data_key
        self.fresh_reasons = fresh_reasons
        self.clashes = clashes  # field -> (ours value, theirs value); the metadata holds ours'
        self.changes = changes  # recipients added/removed by theirs, for the message

    @property
    def fresh(self) -> bool:
        return bool(self.fresh_reasons)


def _rule(m: Metadata | None) -> CryptRule | None:
    if m is None:
        return None
    return m.crypt_rule or CryptRule(*DEFAULT_RULE)


def _three(b: Any, o: Any, t: Any) -> tuple[Any, bool]:
    """(merged value, clashed): one side's change is taken; different changes clash (ours kept)."""
    if o == t or t == b:
        return o, False
    if o == b:
        return t, False
    return o, True


def _align(base: list[list[KeyEntry]], side: list[list[KeyEntry]]) -> dict[int, int]:
    """Base group index -> side group index, pairing the groups that share the most keys."""
    pairs = sorted(((len({ident(e) for e in bg} & {ident(e) for e in sg}), bi == si, bi, si)
                    for bi, bg in enumerate(base) for si, sg in enumerate(side)), reverse=True)
    out: dict[int, int] = {}
    used: set[int] = set()
    for shared, same_place, bi, si in pairs:
        if (shared or same_place) and bi not in out and si not in used:
            out[bi] = si
            used.add(si)
    return out


def _groups(b: list[list[KeyEntry]], o: list[list[KeyEntry]],
            t: list[list[KeyEntry]]) -> tuple[list[list[KeyEntry]], bool, list[str]]:
    """Merged key groups (entries from ours where ours has them), whether anything was removed,
    and theirs' recipient changes in words."""
    to, tt = _align(b, o), _align(b, t)
    removed: dict[int, set[Ident]] = {}  # ours group index -> keys theirs removed from it
    any_removed = False
    changes: list[str] = []
    t_added: dict[int, list[KeyEntry]] = {}  # ours group index -> entries theirs added to it
    extra: list[list[KeyEntry]] = []
    for bi, bg in enumerate(b):
        bids = {ident(e) for e in bg}
        gone_o = bids - {ident(e) for e in (o[to[bi]] if bi in to else [])}
        tg = t[tt[bi]] if bi in tt else []
        gone_t = bids - {ident(e) for e in tg}
        any_removed = any_removed or bool(gone_o or gone_t)
        changes += [f"- {e.type} {e.identity}" for e in bg if ident(e) in gone_t - gone_o]
        added = [e for e in tg if ident(e) not in bids]
        if bi in to:
            removed[to[bi]] = gone_t
            t_added.setdefault(to[bi], []).extend(added)
        elif added:
            extra.append(added)
    # groups base did not have: pair theirs' with ours' by shared keys (both added the file)
    new_o = [oi for oi in range(len(o)) if oi not in set(to.values())]
    new_t = [si for si in range(len(t)) if si not in set(tt.values())]
    pairs = _align([t[si] for si in new_t], [o[oi] for oi in new_o])
    for k, si in enumerate(new_t):
        if k in pairs:
            t_added.setdefault(new_o[pairs[k]], []).extend(t[si])
        else:
            extra.append(t[si])
    merged: list[list[KeyEntry]] = []
    for oi, og in enumerate(o):
        g = [e for e in og if ident(e) not in removed.get(oi, set())]
        have = {ident(e) for e in g}
        for e in t_added.get(oi, []):
            if ident(e) not in have:
                g.append(e)
                have.add(ident(e))
                changes.append(f"+ {e.type} {e.identity}")
        merged.append(g)
    for g in extra:
        if {ident(e) for e in g} not in [{ident(e) for e in m} for m in merged]:
            merged.append(g)
            changes += [f"+ {e.type} {e.identity}" for e in g]
    return [g for g in merged if g], any_removed, changes


def merge_metadata(base: Side | None, ours: Side, theirs: Side) -> MetaMerge:
    """Merge the metadata of three versions. A side without metadata (a plaintext version)
    counts as unchanged from base; ``base`` None (or without metadata) means both added the file."""
    if base is None or base.metadata is None:
        base = None
    if ours.metadata is None:
        ours = base or theirs
    if theirs.metadata is None:
        theirs = base or ours
    om, tm = ours.metadata, theirs.metadata
    bm = base.metadata if base is not None else None
    assert om is not None and tm is not None and ours.data_key is not None and theirs.data_key is not None
    groups, removed, changes = _groups(bm.key_groups if bm else [], om.key_groups, tm.key_groups)
    if not groups:
        raise UsageError("the merged file would have no keys left (both sides removed different keys)")
    clashes: dict[str, tuple[Any, Any]] = {}
    rule, clash = _three(_rule(bm), _rule(om), _rule(tm))
    if clash:
        clashes["crypt rule"] = (_rule(om), _rule(tm))
    threshold, clash = _three(bm.shamir_threshold if bm else om.shamir_threshold, om.shamir_threshold,
                              tm.shamir_threshold)
    if clash:
        clashes["shamir_threshold"] = (om.shamir_threshold, tm.shamir_threshold)
    mac_only, clash = _three(bm.mac_only_encrypted if bm else om.mac_only_encrypted, om.mac_only_encrypted,
                             tm.mac_only_encrypted)
    if clash:
        clashes["mac_only_encrypted"] = (om.mac_only_encrypted, tm.mac_only_encrypted)
    reasons: list[str] = []
    if removed:
        reasons.append("a key was removed")
    if base is not None and base.data_key is not None:
        rotated = [name for name, side in (("our", ours), ("their", theirs)) if side.data_key != base.data_key]
        if rotated:
            reasons.append(f"the data key was rotated on {'both sides' if len(rotated) == 2 else rotated[0] + ' side'}")
    data_key = datakey.new_data_key() if reasons else ours.data_key
    entries, threshold = _wrap(groups, threshold, data_key, om, ours.data_key, tm, theirs.data_key, bool(reasons))
    merged = Metadata(key_groups=entries, shamir_threshold=threshold, crypt_rule=rule, mac_only_encrypted=mac_only,
                      version=om.version, extra=dict(om.extra))
    return MetaMerge(merged, data_key, reasons, clashes, changes)


def _wrap(groups: list[list[KeyEntry]], threshold: int, data_key: bytes, om: Metadata, ours_key: bytes,
          tm: Metadata, theirs_key: bytes, fresh: bool) -> tuple[list[list[KeyEntry]], int]:
    """The merged groups' entries: ours' and theirs' own where they wrap ``data_key`` as it is
    split now, new wraps (public-key operations) elsewhere."""
    threshold = min(threshold, len(groups)) if len(groups) > 1 else 0

    def same(a: list[list[KeyEntry]]) -> bool:
        return [[ident(e) for e in g] for g in a] == [[ident(e) for e in g] for g in groups]

    if not fresh and len(groups) == 1 and len(om.key_groups) == 1:
        theirs_entries = {ident(e): e for g in tm.key_groups for e in g} if theirs_key == data_key and \
            len(tm.key_groups) == 1 else {}
        ours_entries = {ident(e): e for e in om.key_groups[0]}
        out = [ours_entries.get(ident(e)) or theirs_entries.get(ident(e)) or _rewrap(e, data_key)
               for e in groups[0]]
        return [out], 0
    if not fresh and same(om.key_groups) and threshold == om.shamir_threshold:
        return om.key_groups, threshold
    if not fresh and theirs_key == data_key and same(tm.key_groups) and threshold == tm.shamir_threshold:
        return tm.key_groups, threshold
    return datakey.wrap(data_key, [[_spec(e) for e in g] for g in groups], threshold)


def _spec(e: KeyEntry) -> Any:
    from ..keys import PROVIDERS, provider

    if e.type not in PROVIDERS:
        raise UsageError(f"cannot wrap the merged file's data key for {e.type} key {e.identity}: "
                         "sopsy has no provider for that key type")
    return provider(e.type).spec_of(e)


def _rewrap(e: KeyEntry, data_key: bytes) -> KeyEntry:
    from ..keys import provider

    return provider(e.type).wrap(_spec(e), data_key)

"""diff3 on lines, for files sops treats as opaque data (the binary store: certificates, keys,
any text without a document structure). Documents are never merged this way: a line merge of a
document can bring back a key one side deleted; these files have no keys."""

from __future__ import annotations

import difflib


def _matches(base: list[str], other: list[str]) -> dict[int, int]:
    sm = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return {a + k: b + k for a, b, size in sm.get_matching_blocks() for k in range(size)}


def merge_lines(base: list[str], ours: list[str], theirs: list[str]) -> list[str] | None:
    """The merged lines, or None when both sides changed the same lines differently."""
    mo, mt = _matches(base, ours), _matches(base, theirs)
    merged: list[str] = []
    pb = po = pt = 0
    for i in [*(k for k in range(len(base)) if k in mo and k in mt), len(base)]:
        jo = mo[i] if i < len(base) else len(ours)
        jt = mt[i] if i < len(base) else len(theirs)
        if jo < po or jt < pt:
            continue  # out of order with the previous anchor: part of the next region
        b, o, t = base[pb:i], ours[po:jo], theirs[pt:jt]
        if t in (b, o):
            merged += o
        elif o == b:
            merged += t
        else:
            return None
        if i < len(base):
            merged.append(base[i])
        pb, po, pt = i + 1, jo + 1, jt + 1
    return merged

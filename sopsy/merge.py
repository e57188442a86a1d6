"""A 3-way merge driver for encrypted files (git ``merge=sopsy``); sops has none.

git hands the driver three encrypted versions (base, ours, theirs). Each is decrypted in
memory (MAC checked), the plaintexts are merged line by line (diff3: a region changed on one
side only takes that side; the same change on both sides is taken once; different changes to
the same region are a conflict), and the result is encrypted again with *our* data key and
keys. Unchanged values keep their exact ciphertext (the IVs of both sides are reused when
both sides share the data key), so the merged file diffs cleanly against either parent.

Because sopsy's decrypt gives back the exact source bytes, a line merge of the plaintext is a
merge of what people actually wrote. On a conflict nothing with plaintext is written: our
version stays, git reports the conflict, and the conflicting line ranges (no values) are
printed so that ``sopsy edit`` can resolve it.

difflib does the matching; diff3 on top of it is a few lines, and keeps plaintext off disk
(``git merge-file`` would need the plaintexts as files).
"""

from __future__ import annotations

import difflib
import sys

from . import core
from .errors import MergeConflict
from .fileio import atomic_write, read_text
from .stores import get_store, store_name_for


def _matches(base: list[str], other: list[str]) -> dict[int, int]:
    sm = difflib.SequenceMatcher(None, base, other, autojunk=False)
    out: dict[int, int] = {}
    for a, b, size in sm.get_matching_blocks():
        for k in range(size):
            out[a + k] = b + k
    return out


def merge_lines(base: list[str], ours: list[str], theirs: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """diff3 merge; returns (merged lines, conflicts as (start, end) line ranges in ``ours``)."""
    mo, mt = _matches(base, ours), _matches(base, theirs)
    anchors = [i for i in range(len(base)) if i in mo and i in mt]
    merged: list[str] = []
    conflicts: list[tuple[int, int]] = []
    pb, po, pt = 0, 0, 0
    for i in [*anchors, len(base)]:
        jo = mo[i] if i < len(base) else len(ours)
        jt = mt[i] if i < len(base) else len(theirs)
        if jo < po or jt < pt:
            continue  # not monotone with the previous anchor: fold it into the next region
        b, o, t = base[pb:i], ours[po:jo], theirs[pt:jt]
        if o == b:
            merged += t
        elif t == b or o == t:
            merged += o
        elif len(o) == len(b) == len(t) and all(x in (bb, y) or y == bb
                                                 for bb, x, y in zip(b, o, t, strict=True)):
            # both sides replaced lines one for one (say two adjacent `key: value` lines): merge
            # line by line, which is what a person would do with two edits to neighbouring keys
            merged += [y if x == bb else x for bb, x, y in zip(b, o, t, strict=True)]
        else:
            conflicts.append((po + 1, jo))
            merged += o
        if i < len(base):
            merged.append(base[i])
        pb, po, pt = i + 1, jo + 1, jt + 1
    return merged, conflicts


def merge_files(base_path: str, ours_path: str, theirs_path: str, path_name: str | None = None,
                input_type: str | None = None) -> None:
    store = get_store(input_type or store_name_for(path_name or ours_path))
    ours = core.decrypt_text(store, read_text(ours_path))
    theirs = core.decrypt_text(store, read_text(theirs_path))
    base_text = read_text(base_path)
    base_plain = core.decrypt_text(store, base_text).plaintext() if base_text.strip() else ""
    merged, conflicts = merge_lines(base_plain.splitlines(keepends=True), ours.plaintext().splitlines(keepends=True),
                                    theirs.plaintext().splitlines(keepends=True))
    if conflicts:
        where = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in conflicts)
        raise MergeConflict(f"{path_name or ours_path}: both sides changed the same lines (ours: {where}); "
                            "kept ours — resolve with `sopsy edit`")
    if ours.cipher.data_key == theirs.cipher.data_key:
        for k, iv in theirs.cipher.stash.items():
            ours.cipher.stash.setdefault(k, iv)
    result = core.reencrypt(ours, "".join(merged))
    atomic_write(ours_path, result)
    print(f"sopsy: merged {path_name or ours_path}", file=sys.stderr)

"""The merge driver: three files from git in, one merged file (or a marked conflict) out.

Each version is decrypted in memory with its MAC checked; a version without sops metadata is
taken as plaintext (a file being encrypted on one branch), and when neither ours nor theirs is
encrypted the file is merged as text by ``git merge-file``, exactly as git would without the
driver. The trees are merged (:mod:`.tree`), the result is ours' plaintext with theirs' changes
applied by the store's editing operations (:mod:`.plan`, :mod:`sopsy.edits`), checked against
the merged tree, and encrypted under the merged metadata (:mod:`.meta`). Unchanged values keep
their ciphertext (the IVs of both sides are reused while the data key stays).

On a clash the file becomes ours' encrypted file with both sides of each clashing item between
conflict markers, in ciphertext under the merged data key; theirs' side is covered by its own
MAC in the metadata (``sopsy_conflict_mac``) so that ``sopsy git resolve`` can check it too.
"""

from __future__ import annotations

import binascii
import json
import sys

from .. import core, engine
from ..cipher import ValueCipher, iv_of
from ..edits import Delete, Insert
from ..errors import InputError, KeyRetrievalError, MergeConflict, SopsyError
from ..fileio import atomic_write, read_text
from ..metadata import Metadata, mac_aad
from ..rules import CryptRule, Matcher
from ..stores import get_store, store_name_for
from . import markers
from .meta import MetaMerge, Side, merge_metadata
from .plan import OURS, THEIRS, fresh, plan
from .tree import TreeMerge, merge_documents, render_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..edits import Edit, TreePath
    from ..stores import ParsedFile, Store
    from .tree import MNode

CONFLICT_MAC = "sopsy_conflict_mac"
CONFLICT_META = "sopsy_conflict_meta"
CONFLICT_META_AAD = b"sopsy_conflict_meta:"
ENCRYPT_ALL = CryptRule("encrypted_regex", "^")  # every key matches
OURS_LABEL = "ours (encrypted; resolve with `sopsy git resolve {name}`)"
THEIRS_LABEL = "theirs"


class Version:
    """One of the three versions: its plaintext text, and its metadata and data key when encrypted."""

    def __init__(self, plaintext: str | None, metadata: Metadata | None = None, data_key: bytes | None = None,
                 cipher: ValueCipher | None = None, comments: dict[str, bytes] | None = None) -> None:
        self.plaintext = plaintext  # None: the version does not exist (add/add)
        self.metadata = metadata
        self.data_key = data_key
        self.cipher = cipher
        self.comments = comments  # its comments were encrypted (see core.Opened)

    @property
    def side(self) -> Side:
        return Side(self.metadata, self.data_key)


def _raw(store: Store, text: str) -> tuple[ParsedFile | None, bool]:
    """(parsed file, is it sops-encrypted); (None, False) for text the store cannot read."""
    try:
        parsed = store.parse(text)
    except SopsyError:
        if "ENC[AES256_GCM," in text and "sops" in text:
            raise
        return None, False
    return parsed, parsed.metadata is not None


def _open(store: Store, text: str, parsed: ParsedFile | None, encrypted: bool, which: str) -> Version:
    if not text.strip():
        return Version(None)
    if not encrypted:
        return Version(text)
    assert parsed is not None
    try:
        opened = core.open_parsed(store, parsed)
    except SopsyError as exc:
        exc.args = (f"{which} version: {exc}",)
        raise
    return Version(opened.plaintext(), opened.metadata, opened.cipher.data_key, opened.cipher, opened.comments)


def merge_files(base_path: str, ours_path: str, theirs_path: str, path_name: str | None = None,
                input_type: str | None = None) -> None:
    name = path_name or ours_path
    store = get_store(input_type or store_name_for(name))
    texts = [read_text(p) for p in (base_path, ours_path, theirs_path)]
    if markers.has_conflict(texts[1].encode("utf-8", "surrogateescape")):
        # git rerere replaying a recorded resolution hands the driver the conflicted file as ours
        raise MergeConflict(f"{name}: already holds conflict markers (git rerere cannot reuse a resolution of an "
                            f"encrypted file); left as it is: resolve with `sopsy git resolve {name}`")
    split = markers.split(texts[0]) if markers.has_conflict(texts[0].encode("utf-8", "surrogateescape")) else None
    base_alt: str | None = None
    if split is not None:  # a virtual base from a criss-cross merge that clashed: its ours side,
        texts[0] = split[0]  # with what differs on its theirs side unknown (see .virtual)
        base_alt = _other_side(store, name, read_text(base_path))
    try:
        raws = [_raw(store, t) for t in texts]
    except SopsyError as exc:
        raise MergeConflict(f"{name}: cannot merge: a version is not a readable sops file ({exc}); kept ours") from None
    if not raws[1][1] and not raws[2][1]:
        _merge_plain(base_path, ours_path, theirs_path, name)
        return
    for n, side, other in ((1, "our", "their"), (2, "their", "our")):
        if not texts[n].strip():  # (git calls the driver only when both sides changed the file)
            raise MergeConflict(f"{name}: {side} side emptied the file and {other} side changed it: kept ours; "
                                f"keep theirs with `git checkout --theirs -- {name}`, or ours with `git add {name}`")
    if None in (raws[1][0], raws[2][0]):
        raise MergeConflict(f"{name}: cannot merge an encrypted version with one that is not {store.name}; kept ours")
    try:
        base, ours, theirs = (_open(store, t, r[0], r[1], w)
                              for t, r, w in zip(texts, raws, ("base", "our", "their"), strict=True))
    except KeyRetrievalError as exc:
        raise KeyRetrievalError(f"{name}: cannot merge without a key: {exc}; kept ours. With a key set up, redo "
                                f"the merge of this file with `git checkout -m -- {name}`") from None
    result = merge_versions(store, base, ours, theirs, name, base_alt)
    atomic_write(ours_path, result.text)
    for note in result.notes:
        print(f"sopsy: {name}: {note}", file=sys.stderr)
    if result.conflict:
        raise MergeConflict(result.conflict + _rebase_note())


def _rebase_note() -> str:
    """In a rebase git's sides are swapped: say so where the user reads "ours" and "theirs"."""
    import os
    import subprocess

    try:
        proc = subprocess.run(["git", "rev-parse", "--git-path", "rebase-merge", "--git-path", "rebase-apply"],
                              capture_output=True, text=True, check=False)
    except OSError:
        return ""
    if proc.returncode or not any(os.path.isdir(p) for p in proc.stdout.splitlines()):
        return ""
    return " (in a rebase, ours is the branch being rebased onto and theirs is your commit being replayed)"


class Result:
    def __init__(self, text: str, notes: list[str], conflict: str | None) -> None:
        self.text = text
        self.notes = notes
        self.conflict = conflict


def merge_versions(store: Store, base: Version, ours: Version, theirs: Version, name: str,
                   base_alt: str | None = None) -> Result:
    """Merge decrypted versions into the text of the merged file (marked when something clashed)."""
    if ours.plaintext is None or theirs.plaintext is None:
        raise InputError(f"{name}: git gave the driver an empty version")
    meta = merge_metadata(base.side if base.metadata else None, ours.side, theirs.side)
    text_a, parsed_a, text_b, tm = _merge_text(store, base.plaintext, ours.plaintext, theirs.plaintext, name,
                                               base_alt)
    clashed = text_b is not None or bool(meta.clashes)
    cipher: ValueCipher = _Recording(meta.data_key) if clashed else ValueCipher(meta.data_key)
    if not meta.fresh:
        _stash(cipher, [v.cipher for v in (ours, theirs, base) if v.cipher is not None])
    notes = list(tm.notes)
    unmodelled = getattr(store, "unmodelled_comments", None)
    if unmodelled is not None and base.plaintext is not None and text_b is None:
        theirs_comments = unmodelled(theirs.plaintext)
        if theirs_comments != unmodelled(base.plaintext) and unmodelled(text_a) != theirs_comments:
            notes.append("their side changed comments that stand with no object member (in an array, in a "
                         "one-line object, between blank lines, after the last member), which sopsy cannot merge "
                         "in a JSON file (JSONC): the result keeps ours there; add theirs by hand")
    if meta.changes:
        notes.append("keys from their side: " + ", ".join(meta.changes))
    if meta.fresh:
        notes.append(f"{' and '.join(meta.fresh_reasons)}: every value was re-encrypted under a new data key")
    if parsed_a is None or clashed:  # (the conflict file needs a parse no edit has seen)
        parsed_a = store.parse(text_a)
    # comments a side had encrypted (sops's way) stay encrypted
    sides = [v.comments for v in (base, theirs, ours) if v.comments is not None]
    comments = {k: v for c in sides for k, v in c.items()} if sides else None
    if not clashed:
        return Result(core.encrypt_parsed(store, parsed_a, core.EncryptOptions([]), cipher, meta.metadata, comments),
                      notes, None)
    encrypted = _marked(store, parsed_a, store.parse(text_b if text_b is not None else text_a), cipher, meta, name,
                        comments)
    where = [f"{render_path(c.path)} ({c.reason})" for c in tm.clashes[:20]]
    if len(tm.clashes) > 20:
        where.append(f"and {len(tm.clashes) - 20} more")
    where += [f"sops metadata: {field} (ours: {_show(o)}, theirs: {_show(t)})" for field, (o, t) in meta.clashes.items()]
    return Result(encrypted, notes, f"{name}: merge conflict at {'; '.join(where)}. Both sides are in the file, "
                                    f"encrypted, between <<<<<<< and >>>>>>> lines: run `sopsy git resolve {name}` "
                                    f"(or `sopsy edit {name}`), then `git add {name}`")


def _show(v: Any) -> str:
    if hasattr(v, "name") and hasattr(v, "value"):
        return f"{v.name} {v.value!r}"
    return str(v).lower() if isinstance(v, bool) else str(v)


def _other_side(store: Store, name: str, marked: str) -> str | None:
    """The plaintext of theirs' side of a virtual base the driver marked (None if it cannot be read)."""
    from .resolve import open_sides

    try:
        return open_sides(store, name, marked)[1].plaintext()
    except (SopsyError, ValueError):
        return None


def _merge_text(store: Store, base: str | None, ours: str, theirs: str, name: str,
                base_alt: str | None = None) -> tuple[str, ParsedFile | None, str | None, TreeMerge]:
    """Ours' side of the merge as plaintext (and its parse when one was made on the way),
    theirs' side where something clashed (else None), and the tree merge."""
    tm = TreeMerge()
    known = base_alt is None or base_alt == base
    if ours == theirs or (theirs == base and known):
        return ours, None, None, tm
    if ours == base and known:
        return theirs, None, None, tm
    try:
        b = _view(store, store.parse(base)) if base is not None else None
        if b is not None and base_alt is not None:
            from .virtual import blur

            b = blur(b, _view(store, store.parse(base_alt)), tm)
    except SopsyError:  # a base git made up (criss-cross) or one in another format: merge as if added
        b = None
    parsed_o = store.parse(ours)
    o, t = _view(store, parsed_o), _view(store, store.parse(theirs))
    apply = getattr(store, "apply_edits", None)
    if store.name == "binary":  # opaque data: git's own line merge, in memory
        from .lines import merge_lines

        lines = merge_lines(*((x or "").splitlines(keepends=True) for x in (base, ours, theirs)))
        if lines is not None:
            return "".join(lines), None, None, tm
    if apply is None or len(o) != len(t):
        why = "both sides changed it" if apply is None else "the number of documents differs"
        tm.clashes.append(_whole_clash(why))
        return ours, parsed_o, theirs, tm
    tm, merged = merge_documents(b, o, t)
    if any(not c.path for c in tm.clashes):  # a whole document clashed: show whole files
        return ours, parsed_o, theirs, tm
    # both plans before any edit is applied: a store may update the parse it edits
    edits_a = plan(o, merged, OURS)
    edits_b = plan(o, merged, THEIRS) if tm.clashes else None
    text_a, parsed_a = _apply(store, ours, parsed_o, edits_a, merged, OURS, tm, name)
    text_b = _apply(store, ours, None, edits_b, merged, THEIRS, tm, name)[0] if edits_b is not None else None
    return text_a, parsed_a, text_b, tm


def _view(store: Store, parsed: ParsedFile) -> list[Any]:
    """The documents as the merge reads them: a store whose model keeps comments elsewhere than
    above the item they describe (INI, as sops's) gives a view with them there (new container
    nodes; the parse itself is left as it is)."""
    view = getattr(store, "merge_view", None)
    return view(parsed) if view is not None else parsed.documents  # type: ignore[no-any-return]


def _whole_clash(why: str) -> Any:
    from .tree import Clash

    return Clash((), [], [], why)


def _apply(store: Store, ours: str, parsed: ParsedFile | None, edits: list[Edit], merged: list[MNode], side: str,
           tm: TreeMerge, name: str) -> tuple[str, ParsedFile | None]:
    """Ours' text with ``edits`` applied, checked: it must read back as exactly the merged tree
    (``side``'s entries where it clashed). Returns the text and its parse."""
    if not edits:
        return ours, parsed
    text = ours
    try:
        for batch in _batches(edits):
            text = store.apply_edits(parsed or store.parse(text), batch)  # type: ignore[attr-defined]
            parsed = None
    except SopsyError as exc:
        raise MergeConflict(f"{name}: the merged file cannot be written as {store.name} ({exc}); kept ours") from None
    want = [fresh(m, side) for m in merged]
    try:
        result = store.parse(text)
        got = _view(store, result)
    except SopsyError:  # the splices made text the store cannot read back: the same bug as below
        got = None
    if got is None or len(got) != len(want) or any(tm.sig(g) != tm.sig(w) for g, w in zip(got, want, strict=False)):
        raise MergeConflict(f"{name}: the merge could not be written in ours' layout (a sopsy bug, please report "
                            "it); kept ours")
    return text, result


def _level(e: Edit) -> int:
    """The depth of the container an edit changes."""
    return len(e.parent) if isinstance(e, Insert) else len(e.path) - 1


def _batches(edits: list[Edit]) -> list[list[Edit]]:
    """The edits in batches a store can apply without ambiguity.

    One batch, usually. When an insertion's place can coincide with an edit deeper down (a key
    added after a mapping whose last item changes), each depth is its own batch, deepest first:
    an edit never changes the containers on the path to a shallower one, so every path stays
    valid. And when an item is deleted and inserted again (moved, or its comments changed),
    deletions and replacements go first and the insertions after them, their sequence
    positions counted in the document the first part left."""
    if not edits:
        return []
    inserts = [_level(e) for e in edits if isinstance(e, Insert)]
    deepest = max(_level(e) for e in edits)
    groups = [edits] if not inserts or min(inserts) == deepest else \
        [g for g in ([e for e in edits if _level(e) == lv] for lv in range(deepest, -1, -1)) if g]
    return [batch for g in groups for batch in _moves(g)]


def _moves(edits: list[Edit]) -> list[list[Edit]]:
    inserted = {(e.doc, e.parent, e.key) for e in edits if isinstance(e, Insert) and e.key is not None}
    if not any(isinstance(e, Delete) and (e.doc, e.path[:-1], e.path[-1]) in inserted for e in edits):
        return [edits]
    gone: dict[tuple[int, TreePath], list[int]] = {}
    for e in edits:
        if isinstance(e, Delete) and isinstance(e.path[-1], int):
            gone.setdefault((e.doc, e.path[:-1]), []).append(e.path[-1])

    def shift(doc: int, parent: TreePath, index: int) -> int:
        return index - sum(1 for g in gone.get((doc, parent), ()) if g < index)

    def remap(doc: int, path: TreePath) -> TreePath:
        return tuple(shift(doc, path[:n], p) if isinstance(p, int) else p for n, p in enumerate(path))

    second: list[Edit] = []
    for e in edits:
        if isinstance(e, Insert):
            after = shift(e.doc, e.parent, e.after) if isinstance(e.after, int) else e.after
            second.append(Insert(remap(e.doc, e.parent), after, e.key, e.node, e.comments, e.doc))
    return [[e for e in edits if not isinstance(e, Insert)], second]


def _stash(cipher: ValueCipher, sources: list[ValueCipher]) -> None:
    """Reuse the IVs of values both sides decrypted under the merged data key (unchanged values
    keep their ciphertext); an IV already given to another value is never reused."""
    used = {*cipher.stash.values(), *(iv for ivs in cipher.spare.values() for iv in ivs)}
    for src in sources:
        if src.data_key != cipher.data_key:
            continue
        for key, iv in src.stash.items():
            if key not in cipher.stash and iv not in used:
                cipher.stash[key] = iv
                used.add(iv)


class _Recording(ValueCipher):
    """Remembers the IV of every value it encrypts, so that the second side of a conflict file
    encrypts every value the two sides share to the very same ciphertext."""

    def encrypt(self, plaintext: bytes, aad: bytes, type_tag: str, fresh_iv: bool = False,
                iv: bytes | None = None) -> str:
        out = super().encrypt(plaintext, aad, type_tag, fresh_iv, iv)
        if plaintext and not fresh_iv and iv is None:
            used = iv_of(out)
            if used is not None:
                self.stash.setdefault((plaintext, aad, type_tag), binascii.a2b_base64(used))
        return out


def _marked(store: Store, parsed_a: ParsedFile, parsed_b: ParsedFile, cipher: ValueCipher, meta: MetaMerge,
            name: str, comments: dict[str, bytes] | None = None) -> str:
    """Ours' encrypted file with theirs' side of every clash between markers, in ciphertext.
    Theirs' MAC and what clashed in the metadata go into the metadata, encrypted. While the crypt
    rule is in dispute every value is encrypted, so nothing either side wanted encrypted is not."""
    m = meta.metadata
    shown = m.crypt_rule
    info: dict[str, Any] = {"ours": {f: _jsonable(o) for f, (o, _) in meta.clashes.items()},
                            "theirs": {f: _jsonable(t) for f, (_, t) in meta.clashes.items()}}
    if "crypt rule" in meta.clashes:
        m.crypt_rule = ENCRYPT_ALL
        info["values_rule"] = _jsonable(ENCRYPT_ALL)
    core.encrypt_parsed(store, parsed_a, core.EncryptOptions([]), cipher, m, comments)
    mac_b = engine.encrypt_documents(parsed_b.documents, cipher, Matcher(m.crypt_rule), m.mac_only_encrypted, comments)
    m.extra[CONFLICT_MAC] = cipher.encrypt(mac_b.encode(), mac_aad(m.lastmodified), "str", fresh_iv=True)
    m.extra[CONFLICT_META] = cipher.encrypt(json.dumps(info).encode(), CONFLICT_META_AAD, "str", fresh_iv=True)
    m.crypt_rule = shown
    text_a = store.render(parsed_a, m.to_dict())
    text_b = store.render(parsed_b, theirs_metadata(m, meta.clashes).to_dict())
    return markers.interleave(text_a, text_b, OURS_LABEL.format(name=name), THEIRS_LABEL)


def _jsonable(v: Any) -> Any:
    return [v.name, v.value] if hasattr(v, "name") and hasattr(v, "value") else v


def theirs_metadata(m: Metadata, clashes: dict[str, tuple[Any, Any]]) -> Metadata:
    """``m`` with theirs' side of each clashing field."""
    out = Metadata(m.key_groups, m.lastmodified, m.mac, m.shamir_threshold, m.crypt_rule, m.mac_only_encrypted,
                   m.version, dict(m.extra))
    for field, (_, t) in clashes.items():
        if field == "crypt rule":
            out.crypt_rule = t if isinstance(t, CryptRule) else CryptRule(*t)
        elif field == "shamir_threshold":
            out.shamir_threshold = int(t)
        elif field == "mac_only_encrypted":
            out.mac_only_encrypted = bool(t)
    return out


def _merge_plain(base_path: str, ours_path: str, theirs_path: str, name: str) -> None:
    """A file without sops metadata on either side: git's own text merge, markers and all."""
    import subprocess

    try:
        proc = subprocess.run(["git", "merge-file", "-L", "ours", "-L", "base", "-L", "theirs",
                               ours_path, base_path, theirs_path], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise MergeConflict(f"{name}: not encrypted, and git merge-file could not run ({exc}); kept ours") from None
    if proc.returncode < 0 or proc.returncode > 127:
        raise MergeConflict(f"{name}: not encrypted and not mergeable as text ({proc.stderr.strip()}); kept ours")
    if proc.returncode:
        raise MergeConflict(f"{name}: not encrypted: merged as text, {proc.returncode} conflict(s) marked in the file")

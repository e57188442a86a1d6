"""The three-way merge of document trees (plaintext, in memory).

Mapping items are matched by key, sequence items by content (difflib over each item's
signature, diff3 on top). Each item carries the comment lines directly above it, so comments
travel with the item they belong to. The rules, applied at every level:

* the same on both sides, or unchanged on theirs → ours; unchanged on ours → theirs;
* both sides changed a mapping (or a sequence) → merge its items; both changed a scalar
  differently → conflict;
* a key one side deleted stays deleted when the other left it alone, and is a conflict when the
  other changed it; both sides adding different keys or items at the same place keeps both,
  ours first; a key theirs moved (and ours did not) moves.

The result is a *merged tree*: :class:`MMap`/:class:`MSeq` nodes that know the ours container
they stand for (``src``), whose entries are ours' own nodes where nothing changed, theirs'
nodes (or merged nodes) where something did, and :class:`Clash` entries where the merge could
not decide. :mod:`sopsy.merge.plan` turns it into edits of ours' text. Signatures compare data
(typed values) and comments, never layout: quoting, indentation and spelling are not changes.
"""

from __future__ import annotations

import difflib

from ..model import Comment, InlineText, Mapping, Scalar, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import TypeAlias

    from ..edits import TreePath
    from ..model import Node

    MNode: TypeAlias = "Node | MMap | MSeq"


IDENTITY_FIELDS = ("name", "id", "key")


class Entry:
    """One item of a container: its key (None in a sequence), node, the comments above it,
    and, in a merged sequence, the index of the ours item it stands for (``slot``)."""

    __slots__ = ("key", "node", "comments", "slot", "ours_added")

    def __init__(self, key: str | None, node: MNode, comments: tuple[str, ...] = (), slot: int | None = None,
                 ours_added: bool = False) -> None:
        self.key = key
        self.node = node
        self.comments = comments
        self.slot = slot
        self.ours_added = ours_added

    def __repr__(self) -> str:
        return f"Entry({self.key!r}, slot={self.slot})"


class Clash:
    """Where the merge could not decide: ours' entries and theirs' entries for one mapping
    item, or for a run of sequence items. ``path`` names it; ``reason`` says why."""

    __slots__ = ("path", "ours", "theirs", "reason")

    def __init__(self, path: TreePath, ours: list[Entry], theirs: list[Entry], reason: str) -> None:
        self.path = path
        self.ours = ours
        self.theirs = theirs
        self.reason = reason

    def __repr__(self) -> str:
        return f"Clash({self.path!r}, {self.reason!r})"


class MMap:
    """A merged mapping standing for the ours mapping ``src``."""

    __slots__ = ("src", "entries", "tail")

    def __init__(self, src: Mapping, entries: list[Entry | Clash], tail: tuple[str, ...]) -> None:
        self.src = src
        self.entries = entries
        self.tail = tail


class MSeq:
    """A merged sequence standing for the ours sequence ``src``; entries carry their ours ``slot``."""

    __slots__ = ("src", "entries", "tail")

    def __init__(self, src: Sequence, entries: list[Entry | Clash], tail: tuple[str, ...]) -> None:
        self.src = src
        self.entries = entries
        self.tail = tail


def entries_of(node: Mapping | Sequence) -> tuple[list[Entry], tuple[str, ...]]:
    """The items of a container with the comment lines above each, and the comments after the last."""
    out: list[Entry] = []
    pending: list[str] = []
    index = 0
    for item in node.items:
        key, child = item if isinstance(node, Mapping) else (None, item)  # type: ignore[misc]
        assert not isinstance(child, tuple)
        if isinstance(child, Comment):
            pending.append(InlineText(child.text) if child.inline else child.text)
            continue
        if isinstance(node, Mapping):
            out.append(Entry(key, child, tuple(pending)))
        else:
            out.append(Entry(None, child, tuple(pending), slot=index))
            index += 1
        pending = []
    return out, tuple(pending)


class _Undecided(Exception):
    """Raised by :meth:`TreeMerge.value` when two changes to one value cannot be merged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _tail_moved(btail: tuple[str, ...], otail: tuple[str, ...], te: list[Entry], ttail: tuple[str, ...],
                be: list[Entry]) -> tuple[list[Entry], tuple[str, ...]]:
    """Theirs' entries and tail, with the comments that closed the container in the base and
    that theirs now has above an item it added after them given back to the tail (as ours still
    has them): appending after a closing comment is no change of that comment (the merge wrote
    it twice, once in ours' tail and once above the new item)."""
    if not btail or otail != btail or ttail:
        return te, ttail
    known = {e.key for e in be}
    last = max((i for i, e in enumerate(te) if e.key in known), default=-1)
    if last + 1 >= len(te) or te[last + 1].key in known or te[last + 1].comments[:len(btail)] != btail:
        return te, ttail
    e = te[last + 1]
    return [*te[:last + 1], Entry(e.key, e.node, e.comments[len(btail):], e.slot), *te[last + 2:]], btail


class TreeMerge:
    """One merge: memoised signatures, the clashes found, and notes for the user."""

    def __init__(self) -> None:
        self.clashes: list[Clash] = []
        self.notes: list[str] = []
        # by id, with the node itself: a node kept alive cannot hand its id to a new one (the
        # check of a written result parses new trees after the first ones were freed)
        self._sigs: dict[int, tuple[MNode, Hashable]] = {}

    # -- signatures: data and comments, not layout ----------------------------------------------

    def sig(self, node: MNode | None) -> Hashable:
        if node is None:
            return None
        got = self._sigs.get(id(node))
        if got is None:
            got = self._sigs[id(node)] = (node, self._compute(node))
        return got[1]

    def _compute(self, node: MNode) -> Hashable:
        if isinstance(node, Scalar):
            v = node.value
            return ("s", v) if type(v) is str else ("v", type(v).__name__, repr(v))
        if isinstance(node, Comment):
            return ("#", node.text)
        if isinstance(node, (MMap, MSeq)):
            raise TypeError("merged nodes have no signature")
        if isinstance(node, Mapping):
            return ("m", tuple((k, self.sig(v)) for k, v in node.items))
        return ("l", tuple(self.sig(v) for v in node.items))

    def esig(self, e: Entry | None) -> Hashable:
        return None if e is None else (e.key, self.sig(e.node), e.comments)

    def ident(self, e: Entry) -> Hashable:
        """What makes a sequence item the same item on all sides: its ``name``, ``id`` or
        ``key`` field when it is a mapping with one, else its whole content."""
        if isinstance(e.node, Mapping):
            for field in IDENTITY_FIELDS:
                v = e.node.get(field)
                if isinstance(v, Scalar) and v.value is not None:
                    return ("id", field, self.sig(v))
        return self.esig(e)

    # -- values ---------------------------------------------------------------------------------

    def value(self, path: TreePath, b: MNode | None, o: MNode, t: MNode) -> MNode:
        so, st = self.sig(o), self.sig(t)
        if so == st:
            return o
        if isinstance(o, Mapping) and isinstance(t, Mapping):
            return self.mapping(path, b if isinstance(b, Mapping) else None, o, t)
        if isinstance(o, Sequence) and isinstance(t, Sequence):
            return self.sequence(path, b if isinstance(b, Sequence) else None, o, t)
        sb = self.sig(b)
        if st == sb:
            return o
        if so == sb:
            return t
        raise _Undecided("added differently on both sides" if b is None else "changed differently on both sides")

    def entry(self, path: TreePath, b: Entry | None, o: Entry, t: Entry) -> Entry | Clash:
        """Merge one item present on both sides (``b`` None: added on both)."""
        here = _child(path, o.key if o.key is not None else (o.slot or 0))
        try:
            node = self.value(here, b.node if b is not None else None, o.node, t.node)
        except _Undecided as exc:
            return self._clash(here, [o], [t], exc.reason)
        co, ct = o.comments, t.comments
        cb = b.comments if b is not None else ()
        if co == ct or ct == cb or (b is None and not ct):
            comments = co
        elif co == cb or (b is None and not co):
            comments = ct
        else:
            return self._clash(here, [Entry(o.key, node, co, o.slot)], [Entry(t.key, node, ct)],
                               "its comments were changed differently on both sides")
        return Entry(o.key, node, comments, o.slot)

    def _clash(self, path: TreePath, ours: list[Entry], theirs: list[Entry], reason: str) -> Clash:
        c = Clash(path, ours, theirs, reason)
        self.clashes.append(c)
        return c

    # -- mappings -------------------------------------------------------------------------------

    def mapping(self, path: TreePath, b: Mapping | None, o: Mapping, t: Mapping) -> MNode:
        be, _ = entries_of(b) if b is not None else ([], ())
        oe, otail = entries_of(o)
        te, ttail = entries_of(t)
        te, ttail = _tail_moved(entries_of(b)[1] if b is not None else (), otail, te, ttail, be)
        bd, od, td = ({e.key: e for e in es} for es in (be, oe, te))
        if len(bd) < len(be) or len(od) < len(oe) or len(td) < len(te):
            return self._whole(path, b, o, t, "a key appears twice in the mapping")
        common = [k for k in bd if k in od and k in td]
        moved_t = _moved(common, [e.key for e in te if e.key in bd and e.key in od])
        moved_o = _moved(common, [e.key for e in oe if e.key in bd and e.key in td])
        result: list[Entry | Clash] = []
        deferred: dict[str | None, Entry | Clash] = {}
        for e in oe:
            k = e.key
            if k in td:
                merged = self.entry(path, bd.get(k), e, td[k])
                if k in moved_t and k not in moved_o:
                    deferred[k] = merged
                    continue
                result.append(merged)
            elif k in bd:  # theirs deleted it
                if self.esig(e) != self.esig(bd[k]):
                    result.append(self._clash(_child(path, k), [e], [], "deleted on their side, changed on ours"))
            else:
                result.append(Entry(k, e.node, e.comments, ours_added=True))
        for i, e in enumerate(te):
            k = e.key
            if k in deferred:
                placed = deferred[k]
            elif k in od:
                continue
            elif k in bd:  # ours deleted it
                if self.esig(e) == self.esig(bd[k]):
                    continue
                placed = self._clash(_child(path, k), [], [e], "deleted on our side, changed on theirs")
            else:
                placed = Entry(k, e.node, e.comments)
            result.insert(_insertion_point(result, [x.key for x in te[:i]]), placed)
        self._note_tail(path, b, otail, ttail)
        return MMap(o, result, otail)

    def _whole(self, path: TreePath, b: MNode | None, o: MNode, t: MNode, why: str) -> MNode:
        """A container merged as one value (its items cannot be matched)."""
        sb = self.sig(b)
        if self.sig(t) == sb:
            return o
        if self.sig(o) == sb:
            return t
        raise _Undecided(why)

    def _note_tail(self, path: TreePath, b: Mapping | Sequence | None, otail: tuple[str, ...],
                   ttail: tuple[str, ...]) -> None:
        btail = entries_of(b)[1] if b is not None else ()
        if ttail != btail and ttail != otail:
            # comments after a container's last item belong to no item: edits cannot move them
            self.notes.append(f"comments after the last item of {render_path(path)} were changed on their "
                              "side and are left as ours has them")

    # -- sequences ------------------------------------------------------------------------------

    def sequence(self, path: TreePath, b: Sequence | None, o: Sequence, t: Sequence) -> MNode:
        be, _ = entries_of(b) if b is not None else ([], ())
        oe, otail = entries_of(o)
        te, ttail = entries_of(t)
        # items are matched by identity: a mapping with a name/id/key field is that item even
        # when other fields changed (an env var's value, a container's image); others by content
        result = self._diff3(path, be, oe, te, self._by_identity)
        self._note_tail(path, b, otail, ttail)
        return MSeq(o, result, otail)

    def _by_identity(self, base: list[Entry], side: list[Entry]) -> dict[int, int]:
        return _matches([self.ident(e) for e in base], [self.ident(e) for e in side])

    def _by_likeness(self, base: list[Entry], side: list[Entry]) -> dict[int, int]:
        """Base item -> side item for items alike enough to be one item changed (longest such
        pairing in order): mappings sharing at least half their items, and so on."""
        n, m = len(base), len(side)
        best = [[0] * (m + 1) for _ in range(n + 1)]
        for i in range(n - 1, -1, -1):
            for j in range(m - 1, -1, -1):
                alike = best[i + 1][j + 1] + 1 if self._alike(base[i].node, side[j].node) else 0
                best[i][j] = max(alike, best[i + 1][j], best[i][j + 1])
        out: dict[int, int] = {}
        i = j = 0
        while i < n and j < m:
            if best[i][j] == best[i + 1][j + 1] + 1 and self._alike(base[i].node, side[j].node):
                out[i] = j
                i, j = i + 1, j + 1
            elif best[i + 1][j] >= best[i][j + 1]:
                i += 1
            else:
                j += 1
        return out

    def _alike(self, x: MNode, y: MNode) -> bool:
        if self.sig(x) == self.sig(y):
            return True
        xs: set[Hashable]
        ys: set[Hashable]
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            xs, ys = {(k, self.sig(v)) for k, v in x.items}, {(k, self.sig(v)) for k, v in y.items}
        elif isinstance(x, Sequence) and isinstance(y, Sequence):
            xs, ys = {self.sig(v) for v in x.items}, {self.sig(v) for v in y.items}
        else:
            return False
        shared = len(xs & ys)
        return shared > 0 and 2 * shared >= max(len(xs), len(ys))

    def _diff3(self, path: TreePath, be: list[Entry], oe: list[Entry], te: list[Entry],
               match: Callable[[list[Entry], list[Entry]], dict[int, int]]) -> list[Entry | Clash]:
        """diff3 over items: base items matched on both sides are anchors (merged item by item),
        the runs between them are merged as chunks."""
        bs, os_, ts = ([self.esig(e) for e in es] for es in (be, oe, te))
        mo, mt = match(be, oe), match(be, te)
        result: list[Entry | Clash] = []
        pb = po = pt = 0
        for i in [*(k for k in range(len(be)) if k in mo and k in mt), len(be)]:
            jo = mo[i] if i < len(be) else len(oe)
            jt = mt[i] if i < len(be) else len(te)
            if jo < po or jt < pt:
                continue  # out of order with the previous anchor: part of the next chunk
            result += self._chunk(path, be[pb:i], oe[po:jo], te[pt:jt], bs[pb:i], os_[po:jo], ts[pt:jt],
                                  match == self._by_identity)
            if i < len(be):
                result.append(self.entry(path, be[i], oe[jo], te[jt]))
            pb, po, pt = i + 1, jo + 1, jt + 1
        return result

    def _chunk(self, path: TreePath, b: list[Entry], o: list[Entry], t: list[Entry], bs: list[Hashable],
               os_: list[Hashable], ts: list[Hashable], refine: bool) -> list[Entry | Clash]:
        if ts in (bs, os_):
            return list(o)
        if os_ == bs:
            if len(o) == len(t):  # items changed in place: keep ours' slots (minimal edits)
                return [self.entry(path, x, y, z) for x, y, z in zip(b, o, t, strict=True)]
            return [Entry(None, e.node, e.comments) for e in t]
        if not b:  # both inserted here: ours first, then what theirs added that ours did not
            return [*o, *(Entry(None, e.node, e.comments) for e, s in zip(t, ts, strict=True) if s not in os_)]
        if len(o) == len(t) == len(b):
            return [self.entry(path, x, y, z) for x, y, z in zip(b, o, t, strict=True)]
        if refine and len(b) * max(len(o), len(t)) <= 2500:
            # both sides changed this run: pair items that are alike (one changed item) and try again
            likeness = self._by_likeness
            if set(likeness(b, o)) & set(likeness(b, t)):
                return self._diff3(path, b, o, t, likeness)
        at = o[0].slot if o else 0
        return [self._clash((*path, at if at is not None else 0), list(o), [Entry(None, e.node, e.comments)
                                                                              for e in t],
                            "the same items were changed differently on both sides")]

    # -- documents ------------------------------------------------------------------------------

    def document(self, index: int, b: Mapping | None, o: Mapping, t: Mapping) -> MNode:
        try:
            return self.value((), b, o, t)
        except _Undecided as exc:
            self._clash((), [Entry(None, o)], [Entry(None, t)], f"document {index + 1}: {exc.reason}")
            return o


def _matches(base: list[Hashable], other: list[Hashable]) -> dict[int, int]:
    if base == other:
        return {i: i for i in range(len(base))}
    sm = difflib.SequenceMatcher(None, base, other, autojunk=False)  # type: ignore[arg-type]
    out: dict[int, int] = {}
    for a, b, size in sm.get_matching_blocks():
        for k in range(size):
            out[a + k] = b + k
    return out


def _moved(base_order: list[str | None], side_order: list[str | None]) -> set[str | None]:
    """Keys (present in base, ours and theirs) whose place among the others a side changed."""
    if base_order == side_order:
        return set()
    kept = _matches(base_order, side_order)  # type: ignore[arg-type]
    return {k for i, k in enumerate(base_order) if i not in kept}


def _insertion_point(result: list[Entry | Clash], before: list[str | None]) -> int:
    """Where an item theirs has after the keys ``before`` goes: after the nearest of those keys
    the result holds, past any items ours added there (ours first)."""
    where = {_key_of(e): n for n, e in enumerate(result)}
    pos = 0
    for k in reversed(before):
        if k in where:
            pos = where[k] + 1
            break
    while pos < len(result) and isinstance(result[pos], Entry) and result[pos].ours_added:  # type: ignore[union-attr]
        pos += 1
    return pos


def _child(path: TreePath, part: str | int | None) -> TreePath:
    return (*path, part if part is not None else 0)


def _key_of(e: Entry | Clash) -> str | None:
    if isinstance(e, Entry):
        return e.key
    side = e.ours or e.theirs
    return side[0].key if side else None


def render_path(path: TreePath) -> str:
    """A path as sops writes tree paths: ``["db"]["password"]`` (the root is ``[]``)."""
    if not path:
        return "the document root"
    import json

    return "".join(f"[{p}]" if isinstance(p, int) else f"[{json.dumps(p, ensure_ascii=False)}]" for p in path)


def merge_documents(base: list[Mapping] | None, ours: list[Mapping],
                    theirs: list[Mapping]) -> tuple[TreeMerge, list[MNode]]:
    """Merge document by document (the caller makes sure ours and theirs have as many)."""
    tm = TreeMerge()
    merged = [tm.document(i, base[i] if base is not None and i < len(base) else None, o, t)
              for i, (o, t) in enumerate(zip(ours, theirs, strict=True))]
    return tm, merged

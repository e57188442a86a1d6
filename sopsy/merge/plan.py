"""From a merged tree to the edits that turn ours' text into it (:mod:`sopsy.edits` records).

An item keeps its place in ours' text when it is in the merged tree with the same comments and
in the same order relative to the other kept items; it is then edited in place (a changed
scalar is replaced, a merged container is planned item by item). Every other item is deleted
and/or inserted after the nearest kept item before it. Where the merge clashed, ``side`` says
whose entries to use: ours' (the file written with conflict markers stands on it) or theirs'.
"""

from __future__ import annotations

from ..edits import Delete, Insert, Replace
from ..model import Comment, Mapping, Scalar, Sequence, comment_node
from .tree import Clash, Entry, MMap, MSeq, _matches, entries_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..edits import Edit, TreePath
    from ..model import Node
    from .tree import MNode

OURS, THEIRS = "ours", "theirs"


def expand(entries: list[Entry | Clash], side: str) -> list[Entry]:
    out: list[Entry] = []
    for e in entries:
        if isinstance(e, Clash):
            out += e.ours if side == OURS else e.theirs
        else:
            out.append(e)
    return out


def plan(ours_docs: list[Mapping], merged: list[MNode], side: str = OURS) -> list[Edit]:
    """The edits, in the order to give them, that make ``ours_docs`` into ``merged``."""
    out: list[Edit] = []
    for d, (o, m) in enumerate(zip(ours_docs, merged, strict=True)):
        _node(d, (), o, m, side, out)
    return out


def _node(doc: int, path: TreePath, o: MNode, m: MNode, side: str, out: list[Edit]) -> None:
    if m is o:
        return
    if isinstance(m, MMap) and m.src is o:
        _mapping(doc, path, m.src, m, side, out)
    elif isinstance(m, MSeq) and m.src is o:
        _sequence(doc, path, m.src, m, side, out)
    else:
        out.append(Replace(path, fresh(m, side), doc, like=m if isinstance(m, Scalar) else None))


def _stable(candidates: list[int], ours_order: list[int]) -> set[int]:
    """Positions (in ours) of the items that keep their place: the longest run of candidates
    in ours' order."""
    if candidates == ours_order:
        return set(candidates)
    kept = _matches(ours_order, candidates)  # type: ignore[arg-type]
    return {ours_order[i] for i in kept}


def _mapping(doc: int, path: TreePath, o: Mapping, m: MMap, side: str, out: list[Edit]) -> None:
    oe, _ = entries_of(o)
    me = expand(m.entries, side)
    index = {e.key: n for n, e in enumerate(oe)}
    cand = [index[e.key] for e in me if e.key in index and e.comments == oe[index[e.key]].comments]
    wanted = set(cand)
    stable = _stable(cand, [n for n in range(len(oe)) if n in wanted])
    for n, e in enumerate(oe):
        if n not in stable:
            out.append(Delete((*path, e.key), doc))  # type: ignore[arg-type]
    anchor: str | None = None
    for e in me:
        n = index.get(e.key, -1)
        if n in stable:
            _node(doc, (*path, e.key), oe[n].node, e.node, side, out)  # type: ignore[arg-type]
            anchor = e.key
        else:
            out.append(Insert(path, anchor, e.key, fresh(e.node, side), e.comments, doc))


def _sequence(doc: int, path: TreePath, o: Sequence, m: MSeq, side: str, out: list[Edit]) -> None:
    oe, _ = entries_of(o)
    me = expand(m.entries, side)
    cand = [e.slot for e in me if e.slot is not None and e.comments == oe[e.slot].comments]
    stable = _stable(cand, sorted(cand))  # type: ignore[arg-type]
    for n in range(len(oe)):
        if n not in stable:
            out.append(Delete((*path, n), doc))
    anchor: int | None = None
    for e in me:
        if e.slot is not None and e.slot in stable:
            _node(doc, (*path, e.slot), oe[e.slot].node, e.node, side, out)
            anchor = e.slot
        else:
            out.append(Insert(path, anchor, None, fresh(e.node, side), e.comments, doc))


def fresh(node: MNode, side: str = OURS) -> Node:
    """A new model node (no source reference) holding what ``node`` holds, clashes resolved to ``side``."""
    if isinstance(node, Scalar):
        return Scalar(node.value, node.spelling)
    if isinstance(node, Comment):
        return Comment(node.text, inline=node.inline)
    if isinstance(node, (Mapping, Sequence)):
        entries, tail = entries_of(node)
        return _container(isinstance(node, Mapping), entries, tail, side)
    return _container(isinstance(node, MMap), expand(node.entries, side), node.tail, side)


def _container(is_map: bool, entries: list[Entry], tail: tuple[str, ...], side: str) -> Node:
    if is_map:
        items: list[tuple[str | None, Node]] = []
        for e in entries:
            items += [(None, comment_node(c)) for c in e.comments]
            items.append((e.key, fresh(e.node, side)))
        items += [(None, comment_node(c)) for c in tail]
        return Mapping(items)
    seq: list[Node] = []
    for e in entries:
        seq += [comment_node(c) for c in e.comments]
        seq.append(fresh(e.node, side))
    seq += [comment_node(c) for c in tail]
    return Sequence(seq)

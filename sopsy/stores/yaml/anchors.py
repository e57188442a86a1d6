"""Anchors and aliases, for edits: which aliases an edit affects, where an anchor is defined,
and the node an alias stands in."""

from __future__ import annotations

import re
from typing import Any

from ...edits import Edit, Insert, Replace
from ...errors import UsageError
from ...model import Mapping, Node, Sequence, to_data
from .extent import items_of
from .refs import CRef, DocInfo, SRef

_ANCHOR = re.compile(r"&(\S+)")


def anchor_of(text: str, node: Node) -> str | None:
    ref = node.ref
    if isinstance(ref, CRef):
        return ref.anchor if not ref.alias else None
    if isinstance(ref, SRef) and ref.body > ref.start:
        names = _ANCHOR.findall(text[ref.start:ref.body])
        return names[0] if names else None
    return None


def aliases_of(text: str, doc: DocInfo, name: str, after: int) -> list[Node]:
    """The aliases of the anchor ``name`` defined before ``after`` (up to a redefinition)."""
    redefined = [p for p in anchor_positions(text, doc, name) if p > after]
    limit = min(redefined) if redefined else len(text) + 1
    return [c for c in doc.aliases if c.ref.alias == name and after <= c.ref.start < limit]


def same_edits(a: list[Edit], b: list[Edit]) -> bool:
    def key(e: Edit) -> tuple[Any, ...]:
        if isinstance(e, Insert):
            return ("i", tuple(e.parent), e.after, e.key, to_data(e.node), tuple(e.comments))
        if isinstance(e, Replace):
            return ("r", tuple(e.path), to_data(e.node))
        return ("d", tuple(e.path))

    return [key(e) for e in a] == [key(e) for e in b]


def parent_of(doc: DocInfo, node: Node) -> tuple[Node, Any]:
    """The collection holding ``node`` and its key or index there."""
    todo: list[Node] = [doc.root] if doc.root is not None else []
    while todo:
        n = todo.pop()
        for i, (k, v) in enumerate(items_of(n)):
            if v is node:
                return n, (k if k is not None else i)
            if isinstance(v, (Mapping, Sequence)) and not (isinstance(v.ref, CRef) and v.ref.alias):
                todo.append(v)
    raise UsageError("an alias has no place in the document")


def anchors_in(text: str, node: Node) -> list[str]:
    names: list[str] = []
    todo = [node]
    while todo:
        n = todo.pop()
        ref = n.ref
        if isinstance(ref, CRef) and ref.anchor and not ref.alias:
            names.append(ref.anchor)
        elif isinstance(ref, SRef) and ref.body > ref.start:
            names += _ANCHOR.findall(text[ref.start:ref.body])
        if isinstance(ref, CRef) and ref.alias:
            continue
        todo += [v for _, v in items_of(n)]
    return names


def anchor_positions(text: str, doc: DocInfo, name: str) -> list[int]:
    if doc.root is None:
        return []
    out: list[int] = []
    todo: list[Node] = [doc.root]
    while todo:
        n = todo.pop()
        ref = n.ref
        if isinstance(ref, CRef) and not ref.alias:
            if ref.anchor == name:
                out.append(ref.start)
            todo += [v for _, v in items_of(n)]
        elif isinstance(ref, SRef) and name in _ANCHOR.findall(text[ref.start:ref.body]):
            out.append(ref.start)
    return out


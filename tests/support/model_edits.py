"""Edits applied to the document model instead of text: an independent reading of the edit
records' contract (sopsy/edits.py), for checking what the merge plans without any store."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.model import Comment, Mapping, Node, Sequence


def apply(docs: list[Mapping], edits: Seq[Edit]) -> list[Mapping]:
    out = []
    for d, doc in enumerate(docs):
        mine = [e for e in edits if e.doc == d]
        out.append(_rebuild(doc, (), mine))
    return out  # type: ignore[return-value]


def _rebuild(node: Node, path: tuple[Any, ...], edits: list[Edit]) -> Node:
    for e in edits:
        if isinstance(e, Replace) and e.path == path:
            return e.node
    if not isinstance(node, (Mapping, Sequence)):
        return node
    is_map = isinstance(node, Mapping)
    deleted = {e.path[-1] for e in edits if isinstance(e, Delete) and e.path[:-1] == path}
    inserts = [e for e in edits if isinstance(e, Insert) and e.parent == path]
    items: list[Any] = []

    def add(key: str | None, comments: list[str], child: Node) -> None:
        for c in comments:
            items.append((None, Comment(c)) if is_map else Comment(c))
        items.append((key, child) if is_map else child)

    def insert_after(anchor: Any) -> None:
        for ins in inserts:
            if ins.after == anchor:
                add(ins.key, ins.comments, ins.node)

    insert_after(None)
    pending: list[str] = []
    index = 0
    for item in node.items:
        key, child = item if is_map else (None, item)
        if isinstance(child, Comment):
            pending.append(child.text)
            continue
        name = key if is_map else index
        index += 1
        if name not in deleted:
            add(key, pending, _rebuild(child, (*path, name), edits))
        pending = []
        insert_after(name)
    for c in pending:
        items.append((None, Comment(c)) if is_map else Comment(c))
    return Mapping(items) if is_map else Sequence(items)

"""``--extract '["a"]["b"][0]'`` paths, with sops's grammar (exit 91 on anything else)."""

from __future__ import annotations

import re
from typing import Any

from .errors import BadTreePath
from .model import Comment, Mapping, Node, Sequence

_PART = re.compile(r'\[(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|([0-9]+))\]')


def parse_path(text: str) -> list[str | int]:
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _PART.match(text, pos)
        if not m:
            raise BadTreePath(f"invalid tree path {text!r}: expected [\"key\"] or [index] parts")
        dq, sq, idx = m.groups()
        parts.append(int(idx) if idx is not None else (dq if dq is not None else sq))
        pos = m.end()
    if not parts:
        raise BadTreePath("empty tree path")
    return parts


def lookup(data: Any, parts: list[str | int]) -> Any:
    cur = data
    for p in parts:
        if isinstance(p, int):
            if not (isinstance(cur, list) and 0 <= p < len(cur)):
                raise BadTreePath("the tree path does not exist in the file")
            cur = cur[p]
        else:
            if not (isinstance(cur, dict) and p in cur):
                raise BadTreePath("the tree path does not exist in the file")
            cur = cur[p]
    return cur


def lookup_node(node: Node, parts: list[str | int]) -> Node:
    """The node at ``parts``; of duplicate keys, the first (sops's ``GetValue`` stops there)."""
    cur = node
    for p in parts:
        found: Node | None = None
        if isinstance(p, int) and isinstance(cur, Sequence):
            items = [v for v in cur.items if not isinstance(v, Comment)]
            found = items[p] if 0 <= p < len(items) else None
        elif isinstance(p, str) and isinstance(cur, Mapping):
            found = cur.get(p)
        if found is None:
            raise BadTreePath("the tree path does not exist in the file")
        cur = found
    return cur

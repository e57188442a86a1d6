"""``--extract '["a"]["b"][0]'`` paths, with sops's grammar (exit 91 on anything else)."""

from __future__ import annotations

import re
from typing import Any

from .errors import BadTreePath, UsageError

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
    """The value at ``parts``; a path the file does not have is exit 1 with sops's wording
    (tools that shell out to sops match on both)."""
    cur = data
    for p in parts:
        if isinstance(p, int):
            if not isinstance(cur, list):
                raise UsageError(f"error truncating tree: component [{p}] is not in a list")
            if not 0 <= p < len(cur):
                raise UsageError(f"error truncating tree: component [{p}] accesses out of bounds")
            cur = cur[p]
        else:
            if not isinstance(cur, dict):
                raise UsageError(f"error truncating tree: component [{p!r}] is not in a mapping")
            if p not in cur:
                raise UsageError(f"error truncating tree: component [{p!r}] not found")
            cur = cur[p]
    return cur

"""The edits that turn a parsed document into given data (for :func:`sopsy.api.edit`).

Mapping items are matched by key (a removed key is a Delete, a new key an Insert after its
nearest preceding key that was already there), sequences item by item when their lengths agree
and by matching content otherwise; anything else that differs is a Replace. Key order changes
are not edits (sops's data model does not order keys by meaning).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import Any

from .edits import Delete, Edit, Insert, Replace, TreePath
from .model import Comment, Mapping, Node, Sequence, from_data, to_data


def diff(old: Node, new: Any, view: Callable[[Node], Any] = to_data,
         build: Callable[[Any], Any] = lambda v: v, path: TreePath = ()) -> list[Edit]:
    """Edits from ``old`` (a model node) to ``new`` (data). ``view`` turns a model node into the
    form ``new`` is in (to compare), ``build`` turns ``new``'s values into model data."""
    if isinstance(old, Mapping) and isinstance(new, dict):
        return _diff_mapping(old, new, view, build, path)
    if isinstance(old, Sequence) and isinstance(new, list):
        return _diff_sequence(old, new, view, build, path)
    if _same(view(old), new):
        return []
    return [Replace(path, from_data(build(new)))]


def _same(a: Any, b: Any) -> bool:
    # 1, 1.0 and True are equal in Python but not in a sops file
    return type(a) is type(b) and a == b if not isinstance(a, dict | list) else _key(a) == _key(b)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _diff_mapping(old: Mapping, new: dict[str, Any], view: Callable[[Any], Any], build: Callable[[Any], Any],
                  path: TreePath) -> list[Edit]:
    edits: list[Edit] = []
    old_keys = [k for k, _ in old.items if k is not None]
    for key, node in old.items:
        if key is None:
            continue
        if key not in new:
            edits.append(Delete((*path, key)))
        else:
            edits += diff(node, new[key], view, build, (*path, key))
    anchor: str | None = None
    kept = {k for k in old_keys if k in new}
    for key, value in new.items():
        if key in kept:
            anchor = key
        elif key not in old_keys:
            edits.append(Insert(path, anchor, key, from_data(build(value))))
    return edits


def _diff_sequence(old: Sequence, new: list[Any], view: Callable[[Any], Any], build: Callable[[Any], Any],
                   path: TreePath) -> list[Edit]:
    items = [n for n in old.items if not isinstance(n, Comment)]
    if len(items) == len(new):
        out: list[Edit] = []
        for i, (node, value) in enumerate(zip(items, new, strict=True)):
            out += diff(node, value, view, build, (*path, i))
        return out
    before = [_key(view(n)) for n in items]
    after = [_key(v) for v in new]
    edits: list[Edit] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            edits += [Delete((*path, i)) for i in range(i1, i2)]
        if op in ("insert", "replace"):
            after_index = i1 - 1 if i1 > 0 else None
            edits += [Insert(path, after_index, None, from_data(build(v))) for v in new[j1:j2]]
    return edits

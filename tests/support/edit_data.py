"""Edit vectors: reading ``testdata/edits/<format>/<behaviour>.edits.json`` into edit records, and
applying the same edits to plain data (dicts and lists), independently of any store, so that a
store's edited text can be checked against the data it must parse back to.

An ``.edits.json`` file is ``{"about": "...", "edits": [...]}`` (or just the list), each edit one of
    {"op": "replace", "path": [...], "value": <JSON>}
    {"op": "insert", "path" or "parent": [<parent>...], "after": <key|index|null>, "key": <str|null>,
     "value": <JSON>, "comments": ["<comment text>", ...]}
    {"op": "delete", "path": [...]}
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.model import from_data


def load_edits(path: Path) -> list[Edit]:
    raw = json.loads(path.read_text())
    return [to_edit(e) for e in (raw["edits"] if isinstance(raw, dict) else raw)]


def to_edit(e: dict[str, Any]) -> Edit:
    if "parent" in e and "path" not in e:  # an insert may name its container either way
        e = {**e, "path": e["parent"]}
    path = tuple(e["path"])
    doc = e.get("doc", 0)  # a later document of a multi-document file (YAML)
    if e["op"] == "replace":
        return Replace(path, from_data(e["value"]), doc)
    if e["op"] == "delete":
        return Delete(path, doc)
    if e["op"] == "insert":
        return Insert(path, e.get("after"), e.get("key"), from_data(e["value"]), e.get("comments", ()), doc)
    raise ValueError(f"unknown op {e['op']!r}")


class _List:
    """A list whose original items keep their original index (paths name those)."""

    def __init__(self, items: list[Any]) -> None:
        self.slots: list[list[Any]] = [[i, v] for i, v in enumerate(items)]


def _wrap(data: Any) -> Any:
    if isinstance(data, dict):
        return {"__map__": [[k, _wrap(v), True] for k, v in data.items()]}
    if isinstance(data, list):
        lst = _List([_wrap(v) for v in data])
        return lst
    return data


def _unwrap(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _unwrap(v) for k, v, _ in node["__map__"]}
    if isinstance(node, _List):
        return [_unwrap(v) for _, v in node.slots]
    return node


def _slot(container: Any, part: Any) -> list[Any]:
    if isinstance(container, dict):
        for entry in container["__map__"]:
            if entry[0] == part and entry[2]:
                return entry  # type: ignore[no-any-return]
    else:
        for entry in container.slots:
            if entry[0] == part:
                return entry  # type: ignore[no-any-return]
    raise KeyError(part)


def _find(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for part in path:
        node = _slot(node, part)[1]
    return node


def apply_data(data: Any, edits: list[Edit], *, doc: int = 0) -> Any:
    """``data`` (document ``doc`` of a file) with its ``edits`` applied; paths name the original
    items (batch semantics); a new key is the key the edit names."""
    edits = [e for e in edits if e.doc == doc]
    root = _wrap(copy.deepcopy(data))
    placed: dict[tuple[int, Any], int] = {}  # (container id, anchor) -> items inserted there so far
    for e in [e for e in edits if isinstance(e, Replace)]:
        parent, last = _find(root, e.path[:-1]), e.path[-1]
        _slot(parent, last)[1] = _wrap(_plain(e.node))
    for e in [e for e in edits if isinstance(e, Insert)]:
        parent = _find(root, e.parent)
        value = _wrap(_plain(e.node))
        if isinstance(parent, dict):
            entries = parent["__map__"]
            anchor_entry = _slot(parent, e.after) if e.after is not None else None
            key = e.key
            pos = entries.index(anchor_entry) + 1 if anchor_entry else 0
            n = placed.get((id(parent), e.after), 0)
            entries.insert(pos + n, [key, value, False])
        else:
            slots = parent.slots
            pos = slots.index(_slot(parent, e.after)) + 1 if e.after is not None else 0
            n = placed.get((id(parent), e.after), 0)
            slots.insert(pos + n, [None, value])
        placed[(id(parent), e.after)] = placed.get((id(parent), e.after), 0) + 1
    for e in [e for e in edits if isinstance(e, Delete)]:
        parent = _find(root, e.path[:-1])
        entry = _slot(parent, e.path[-1])
        (parent["__map__"] if isinstance(parent, dict) else parent.slots).remove(entry)
    return _unwrap(root)


def _plain(node: Any) -> Any:
    from sopsy.model import to_data

    return to_data(node)



def ordered(x: Any) -> Any:
    """Dicts as lists of pairs, so that comparisons see the order of keys too."""
    if isinstance(x, dict):
        return [(k, ordered(v)) for k, v in x.items()]
    if isinstance(x, list):
        return [ordered(v) for v in x]
    return x

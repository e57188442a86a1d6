"""Edit vectors: reading ``testdata/edits/<format>/<behaviour>.edits.json`` into edit records, and
applying the same edits to plain data (dicts and lists), independently of any store, so that a
store's edited text can be checked against the data it must parse back to.

An ``.edits.json`` file is ``{"about": "...", "edits": [...]}`` (or just the list), each edit one of
    {"op": "replace", "path": [...], "value": <JSON>}
    {"op": "insert", "path": [<parent>...], "after": <key|index|null>, "key": <str|null>,
     "value": <JSON>, "comments": ["<comment text>", ...]}
    {"op": "delete", "path": [...]}
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from sopsy.edits import Delete, Edit, Insert, Replace
from sopsy.model import from_data


def load_edits(path: Path) -> list[Edit]:
    raw = json.loads(path.read_text())
    return [to_edit(e) for e in (raw["edits"] if isinstance(raw, dict) else raw)]


def to_edit(e: dict[str, Any]) -> Edit:
    path = tuple(e["path"])
    if e["op"] == "replace":
        return Replace(path, from_data(e["value"]))
    if e["op"] == "delete":
        return Delete(path)
    if e["op"] == "insert":
        return Insert(path, e.get("after"), e.get("key"), from_data(e["value"]), e.get("comments", ()))
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


def apply_data(data: Any, edits: list[Edit], *, key_of: Any = None) -> Any:
    """``data`` with ``edits`` applied; paths name the original items (batch semantics).
    ``key_of(parent_container_keys, key, anchor_key)`` may adjust a new key (dotenv's export)."""
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
            if key_of is not None:
                anchor_key = anchor_entry[0] if anchor_entry else (entries[0][0] if entries else None)
                key = key_of(key, anchor_key)
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


_EXPORTED = re.compile(r"[ \t]*export[ \t]+")


def dotenv_export(key: str, anchor: str | None) -> str:
    """dotenv's rule for a new key: exported when the entry it is written beside is."""
    return "export " + key if anchor is not None and _EXPORTED.match(anchor) and not _EXPORTED.match(key) else key


def ordered(x: Any) -> Any:
    """Dicts as lists of pairs, so that comparisons see the order of keys too."""
    if isinstance(x, dict):
        return [(k, ordered(v)) for k, v in x.items()]
    if isinstance(x, list):
        return [ordered(v) for v in x]
    return x

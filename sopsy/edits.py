"""Document editing: the one way anything rewrites a document (``set``/``unset``, merge, conflict
resolution).

An edit names a place in a parsed document by *path* and says what changes there. Edits are
computed on the format-neutral model (:mod:`sopsy.model`) and applied by the store that parsed
the text, as splices of that text: everything an edit does not touch stays byte-identical, and
new text is written the way its neighbours are (indentation, quoting, flow or block style, JSON
commas, dotenv ``export``, HCL alignment). Edits work on *plaintext* documents; the caller
re-encrypts the result (:func:`sopsy.core.reencrypt`), where unchanged values keep their IVs.

Paths are tuples of mapping keys (``str``) and sequence indices (``int``) from the root of
document ``doc``. In one batch every path refers to the document **as parsed**, before any edit
of the batch; several inserts at the same anchor are written in the order given.

* :class:`Replace` puts ``node`` (a scalar or a whole subtree) in place of the node at ``path``.
* :class:`Insert` adds an item to the mapping or sequence at ``parent``: after the item named
  by ``after`` (a key for a mapping, an index for a sequence), or first when ``after`` is None.
  ``key`` is the new mapping key (None in a sequence); ``comments`` are comment lines written
  above the new item (their text as :class:`~sopsy.model.Comment` holds it).
* :class:`Delete` removes the item at ``path`` together with its own comments (the comment
  lines directly above it and a comment on its own line).

A store that can edit implements :class:`EditableStore`; the binary store cannot.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Protocol

    from .model import Node
    from .stores import ParsedFile

PathPart = str | int
TreePath = tuple[PathPart, ...]


class Replace:
    """``like``: optionally, a node parsed from another text of the same format that ``node``'s
    value comes from; a store may write the new value the way that one is written (quotes, a
    block), instead of the way the old value was (the merge passes the changed side's node)."""

    __slots__ = ("doc", "path", "node", "like")

    def __init__(self, path: TreePath, node: Node, doc: int = 0, like: Node | None = None) -> None:
        self.doc = doc
        self.path = path
        self.node = node
        self.like = like

    def __repr__(self) -> str:  # paths are keys, never values
        return f"Replace({self.doc}, {self.path!r})"


class Insert:
    __slots__ = ("doc", "parent", "after", "key", "node", "comments")

    def __init__(self, parent: TreePath, after: PathPart | None, key: str | None, node: Node,
                 comments: Sequence[str] = (), doc: int = 0) -> None:
        self.doc = doc
        self.parent = parent
        self.after = after
        self.key = key
        self.node = node
        self.comments = list(comments)

    def __repr__(self) -> str:
        return f"Insert({self.doc}, {self.parent!r}, after={self.after!r}, key={self.key!r})"


class Delete:
    __slots__ = ("doc", "path")

    def __init__(self, path: TreePath, doc: int = 0) -> None:
        self.doc = doc
        self.path = path

    def __repr__(self) -> str:
        return f"Delete({self.doc}, {self.path!r})"


Edit = Replace | Insert | Delete


if TYPE_CHECKING:
    class EditableStore(Protocol):
        def apply_edits(self, parsed: ParsedFile, edits: Sequence[Edit]) -> str:
            """The text of ``parsed`` (a plaintext file) with ``edits`` applied as splices.
            Raises :class:`~sopsy.errors.UsageError` naming the path for an edit the format
            cannot hold (a nested value in dotenv, say) or a path that does not exist."""
            ...


def path_text(path: Sequence[PathPart]) -> str:
    """A path as sops writes it: ``["a"]["b"][0]`` (keys are not secret; values never appear)."""
    import json

    return "".join(f"[{p}]" if isinstance(p, int) else f"[{json.dumps(p, ensure_ascii=False)}]" for p in path)


def child_of(node: Node, part: PathPart) -> Node | None:
    """The item ``part`` of a collection (a key of a mapping, an index of a sequence, comments
    not counted), or None."""
    from .model import Comment, Mapping, Sequence

    if isinstance(node, Mapping) and isinstance(part, str):
        for k, v in node.items:
            if k == part and not isinstance(v, Comment):
                return v
    elif isinstance(node, Sequence) and isinstance(part, int) and part >= 0:
        items = [v for v in node.items if not isinstance(v, Comment)]
        if part < len(items):
            return items[part]
    return None


def find(root: Node, path: Sequence[PathPart]) -> list[Node]:
    """The nodes from ``root`` along ``path`` (``root`` first). Raises UsageError naming the
    path when a part does not exist."""
    from .errors import UsageError

    chain = [root]
    for i, part in enumerate(path):
        child = child_of(chain[-1], part)
        if child is None:
            raise UsageError(f"{path_text(path[:i + 1])} is not in the document")
        chain.append(child)
    return chain


def apply_to_tree(root: Node, edits: Sequence[Edit]) -> None:
    """Apply ``edits`` to a model tree in place, with the batch semantics above: every path is
    looked up before anything changes, and changes are made by node identity."""
    from .errors import UsageError
    from .model import Mapping

    plans: list[tuple[Edit, Node, Node | None]] = []  # (edit, container, item it names)
    for e in edits:
        if isinstance(e, Insert):
            parent = find(root, e.parent)[-1]
            anchor = find(parent, [e.after])[-1] if e.after is not None else None
            plans.append((e, parent, anchor))
        else:
            if not e.path:
                raise UsageError("an edit needs a path inside the document")
            chain = find(root, e.path)
            plans.append((e, chain[-2], chain[-1]))
    last_insert: dict[tuple[int, int], Node] = {}  # (container, anchor) -> the last node put there
    for e, parent, item in plans:
        items: list[Any] = parent.items  # type: ignore[union-attr]
        is_map = isinstance(parent, Mapping)
        if isinstance(e, Insert):
            prev = last_insert.get((id(parent), id(item)), item)
            at = 0 if prev is None else 1 + next(i for i, it in enumerate(items)
                                                 if (it[1] if is_map else it) is prev)
            new = (e.key, e.node) if is_map else e.node
            items.insert(at, new)
            last_insert[(id(parent), id(item))] = e.node
            continue
        at = next(i for i, it in enumerate(items) if (it[1] if is_map else it) is item)
        if isinstance(e, Replace):
            items[at] = (items[at][0], e.node) if is_map else e.node
        else:
            del items[at]


# -- set and unset (sops 3.9+), as edits -------------------------------------------------------

def set_path(root: Node, path: Sequence[PathPart], value: Node, doc: int = 0) -> tuple[list[Edit], bool]:
    """The edits that make ``path`` hold ``value``, as sops's ``TreeBranch.Set`` does, and
    whether anything changes: missing mapping keys are added at the end of their mapping, an
    index at or past a sequence's end appends, and a value where the path goes on is replaced
    by the mappings and sequences the rest of the path names. Unchanged (the same data, types
    included): no edits. A key where a sequence is, or an index where a mapping is, is a
    UsageError (sops crashes on the first and silently ignores the second)."""
    from .errors import UsageError
    from .model import Comment, Mapping, Sequence, to_data

    node = root
    for i, part in enumerate(path):
        here, rest = tuple(path[:i]), tuple(path[i + 1:])
        if isinstance(node, (Mapping, Sequence)):
            if isinstance(node, Mapping) != isinstance(part, str):
                what = "a mapping has keys, not indices" if isinstance(node, Mapping) else "a list has indices, not keys"
                raise UsageError(f"{path_text(path[:i + 1])} cannot be set: {what}")
            child = child_of(node, part)
            if child is None:
                if isinstance(node, Mapping):
                    keys = node.keys()
                    return [Insert(here, keys[-1] if keys else None, str(part), _built(rest, value), doc=doc)], True
                n = sum(1 for v in node.items if not isinstance(v, Comment))
                return [Insert(here, n - 1 if n else None, None, _built(rest, value), doc=doc)], True
            if not rest:
                if same_data(to_data(child), to_data(value)):
                    return [], False
                return [Replace((*here, part), value, doc)], True
            node = child
        else:  # a value where the path goes on
            return [Replace(here, _built((part, *rest), value), doc)], True
    raise UsageError("set needs a path inside the document")


def _built(path: Sequence[PathPart], value: Node) -> Node:
    """The nodes a path names that do not exist yet, holding ``value`` at its end."""
    from .model import Mapping, Sequence

    for part in reversed(path):
        value = Sequence([value]) if isinstance(part, int) else Mapping([(part, value)])
    return value


def unset_path(root: Node, path: Sequence[PathPart], doc: int = 0) -> list[Edit]:
    """The edit that removes ``path``, as sops's ``TreeBranch.Unset``: KeyNotFound for a key or
    index the file does not have, UsageError where the path runs into a value."""
    from .errors import KeyNotFound, UsageError
    from .model import Mapping, Sequence

    if not path:
        raise UsageError("unset needs a path inside the document")
    node = root
    for i, part in enumerate(path):
        if not isinstance(node, (Mapping, Sequence)):
            raise UsageError(f"{path_text(path[:i])} holds a value, not a mapping or a list: "
                             f"{path_text(path)} cannot be unset")
        if isinstance(node, Sequence) and not isinstance(part, int):
            raise UsageError(f"{path_text(path[:i + 1])} cannot be unset: a list has indices, not keys")
        child = child_of(node, part)
        if child is None:
            what = "index out of bounds" if isinstance(node, Sequence) else "key not found"
            raise KeyNotFound(f"{what}: {path_text(path[:i + 1])}")
        node = child
    return [Delete(tuple(path), doc)]


def same_data(a: Any, b: Any) -> bool:
    """Equal data, types included (``5`` is not ``5.0``; mapping order counts), as sops compares."""
    from .values import same_value

    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_data(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_data(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return same_value(a, b)

"""The document model every store parses into, and what the core walks.

A file is a list of documents; a document is a :class:`Mapping`. Nodes keep a ``ref``: an
opaque handle that lets the store that made them find the node in the source text again,
so that it can write the file back with only the changed values spliced in.

Mapping items are ``(key, node)`` pairs; a :class:`Comment` stands as an item of its own
(``(None, Comment)`` in a mapping, the comment itself in a sequence).
"""

from __future__ import annotations

from .values import Value

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any


class Scalar:
    """A leaf.

    ``value`` is the typed plaintext value, ``spelling`` the exact plaintext text to encrypt
    when it differs from the canonical form (always one that sops parses back to ``value``),
    and ``enc`` the ``ENC[...]`` string when the leaf is encrypted in the file.
    """

    __slots__ = ("value", "spelling", "enc", "ref")

    def __init__(self, value: Value, spelling: str | None = None, enc: str | None = None,
                 ref: Any = None) -> None:
        self.value = value
        self.spelling = spelling
        self.enc = enc
        self.ref = ref

    def __repr__(self) -> str:  # never shows the value: reprs end up in logs and tracebacks
        return f"Scalar(<{type(self.value).__name__}>, enc={self.enc is not None})"


class Comment:
    """A comment. ``inline``: it ends the line of the item it stands before (``a: 1 # note``),
    rather than being a line of its own above it."""

    __slots__ = ("text", "enc", "ref", "inline", "depth")

    def __init__(self, text: str, enc: str | None = None, ref: Any = None, inline: bool = False) -> None:
        self.text = text
        self.enc = enc
        self.ref = ref
        self.inline = inline
        # how many keys of its container's path sops puts in the AAD, when a store knows it
        # differs (a comment after a nested block, at an outer block's column): None = all
        self.depth: int | None = None

    def __repr__(self) -> str:
        return "Comment(...)"


class InlineText(str):
    """The text of an inline comment where comments are passed as strings (merge entries, an
    :class:`~sopsy.edits.Insert`'s comments): equal to the plain text, so that moving a comment
    from the end of a line to a line of its own is no change of data, but a store writing it
    puts it at the end of the item's line."""

    __slots__ = ()


def comment_texts(comments: list[Comment]) -> list[str]:
    """Comments as the strings edits and merges pass around (inline ones as :class:`InlineText`)."""
    return [InlineText(c.text) if c.inline else c.text for c in comments]


def comment_node(text: str) -> Comment:
    """A new comment from such a string."""
    return Comment(str(text), inline=isinstance(text, InlineText))


class Mapping:
    __slots__ = ("items", "ref")

    def __init__(self, items: list[tuple[str | None, Node]] | None = None, ref: Any = None) -> None:
        self.items: list[tuple[str | None, Node]] = items if items is not None else []
        self.ref = ref

    def get(self, key: str) -> Node | None:
        for k, v in self.items:
            if k == key:
                return v
        return None

    def keys(self) -> list[str]:
        return [k for k, _ in self.items if k is not None]


class Sequence:
    __slots__ = ("items", "ref")

    def __init__(self, items: list[Node] | None = None, ref: Any = None) -> None:
        self.items: list[Node] = items if items is not None else []
        self.ref = ref


Node = Scalar | Comment | Mapping | Sequence


def to_data(node: Node, leaf: Callable[[Scalar], Any] | None = None) -> Any:
    """Plain Python data (dicts, lists, typed values) for comparisons and format conversion;
    ``leaf`` gives a scalar's data where its value alone will not do. Iterative, so that no
    nesting is too deep for it."""
    if not isinstance(node, (Mapping, Sequence)):
        return (leaf(node) if leaf else node.value) if isinstance(node, Scalar) else None
    root: Any = {} if isinstance(node, Mapping) else []
    work: list[tuple[Mapping | Sequence, Any]] = [(node, root)]
    while work:
        src, dst = work.pop()
        if isinstance(src, Mapping):
            pairs: list[tuple[str | None, Node]] = [(k, v) for k, v in src.items if k is not None]
        else:
            pairs = [(None, v) for v in src.items if not isinstance(v, Comment)]
        for k, v in pairs:
            if isinstance(v, (Mapping, Sequence)):
                out: Any = {} if isinstance(v, Mapping) else []
                work.append((v, out))
            else:
                out = (leaf(v) if leaf else v.value) if isinstance(v, Scalar) else None
            if k is None:
                dst.append(out)
            else:
                dst[k] = out
    return root


def from_data(data: Any) -> Node:
    """Build a tree from plain data (used by format conversion and by ``set``)."""
    if isinstance(data, dict):
        return Mapping([(str(k), from_data(v)) for k, v in data.items()])
    if isinstance(data, list):
        return Sequence([from_data(v) for v in data])
    return Scalar(data)


def iter_leaves(node: Node) -> Iterator[Scalar]:
    """Every leaf in document order (iterative: no nesting is too deep for it)."""
    work: list[Node] = [node]
    while work:
        n = work.pop()
        if isinstance(n, Scalar):
            yield n
        elif isinstance(n, Mapping):
            work.extend(v for _, v in reversed(n.items))
        elif isinstance(n, Sequence):
            work.extend(reversed(n.items))

"""The merge's view of a JSONC file: comments as items of the objects they stand in.

The JSON model holds no comments (they are not data, sops has none), so a merge could not carry
them. The view gives each object member the comments that belong to it by the editing rules of
:mod:`.edit` (the comment lines directly above it, and a comment after it on its line, as an
inline comment), as ``(None, Comment)`` items before it: the merge then moves, adds and deletes
them with their member, and a comment changed on one side is taken. The comment's text is its
whole token (``// note``, ``/* note */``) so that it is written back with its own mark.

Comments the view does not hold (in arrays, in one-line objects, separated from the next member
by a blank line, after the last member) stay where they are; :func:`unmodelled` lists them so
that the merge can say when their side changed one. New containers, the same leaves.
"""

from __future__ import annotations

from ...model import Comment, Mapping, Sequence
from .edit import _block, _Doc
from .scanner import PIECE, ParsedJson, comment_texts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ...model import Node


def merge_view(parsed: ParsedJson) -> tuple[list[Mapping], set[int]]:
    """The documents as the merge reads them, and where the comments it holds start."""
    if not parsed.jsonc:
        return list(parsed.documents), set()
    doc = _Doc(parsed)
    held: set[int] = set()
    root = parsed.documents[0]
    return [_view(doc, root, held) if isinstance(root, Mapping) else root], held  # type: ignore[list-item]


def _view(doc: _Doc, node: Node, held: set[int]) -> Node:
    if isinstance(node, Sequence):
        return Sequence([_view(doc, v, held) for v in node.items], ref=node.ref)
    if not isinstance(node, Mapping):
        return node
    t = doc.target(node)
    lines = bool(t.items) and doc.lines_mode(node, t.items)
    items: list[tuple[str | None, Node]] = []
    for i, (k, v) in enumerate(node.items):
        if lines and k is not None:
            start, end, _ = _block(doc, t, doc._text_index(node, i))
            core = t.items[doc._text_index(node, i)]
            above = [m for m in PIECE.finditer(doc.text, start, doc.line_start(core.core)) if m.group(0)[0] == "/"]
            after = [m for m in PIECE.finditer(doc.text, core.vend, end) if m.group(0)[0] == "/"]
            for m, inline in [*((m, False) for m in above), *((m, True) for m in after)]:
                items.append((None, Comment(m.group(0), ref=m.start(), inline=inline)))
                held.add(m.start())
        items.append((k, _view(doc, v, held)))
    return Mapping(items, ref=node.ref)


def unmodelled(text: str, held: set[int]) -> list[str]:
    """The comments of ``text`` the view does not hold, in order."""
    from .scanner import _STRING_OR_COMMENT

    if not held:
        return comment_texts(text)
    return [m.group(1).strip() for m in _STRING_OR_COMMENT.finditer(text) if m.group(1) and m.start(1) not in held]

"""Where items sit in the YAML text, for edits: an item's first token, its lines with the
comments that belong to it, the end of its value, and the separator between flow items.

Hand-written over the reader's refs because no YAML library reports comment ownership or
item extents; the rules (its own comments are the comment lines directly above it, at its
column or left of it; comment lines below it indented deeper than it are part of it) are the
ones docs/yaml-format.md states for editing.
"""

from __future__ import annotations

import re

from ...errors import UsageError
from ...model import Comment, Mapping, Node, Scalar, Sequence
from .refs import CRef, SRef

_COMMENT_START = re.compile(r"(?:^|[ \t])#")
_KEY_COLON = re.compile(r":(?=[ \t\r\n,\]}]|\Z)")


class Extent:
    """One item of a collection in the text."""

    __slots__ = ("pos", "start", "end", "own_line", "column")

    def __init__(self, pos: int, start: int, end: int, own_line: bool, column: int) -> None:
        self.pos = pos  # the item's first token: its key, or its "-"
        self.start = start  # where deleting it starts (its own comment lines above included)
        self.end = end  # where deleting it ends (after its last line)
        self.own_line = own_line  # False: it follows "- " or "key: " on the line it starts on
        self.column = column


def line_start(text: str, pos: int) -> int:
    start = text.rfind("\n", 0, pos) + 1
    # a byte-order mark is not part of the first line's indentation: columns count from after it
    return 1 if start == 0 and pos > 0 and text.startswith("\ufeff") else start


def after_line(text: str, pos: int) -> int:
    """The position after the line break of the line holding ``pos`` (a position just after a
    line break counts as the end of the line before)."""
    if pos > 0 and text[pos - 1] == "\n":
        return pos
    nl = text.find("\n", pos)
    return len(text) if nl < 0 else nl + 1


def _content(line: str) -> str:
    """A line without its comment and trailing blanks."""
    m = _COMMENT_START.search(line)
    return (line[:m.start()] if m else line).rstrip(" \t\r")


def is_blank(line: str) -> bool:
    return not line.strip(" \t\r\n")


def _comment_column(line: str) -> int | None:
    stripped = line.lstrip(" \t")
    return len(line) - len(stripped) if stripped.startswith("#") else None


def items_of(node: Node) -> list[tuple[str | None, Node]]:
    """A collection's items without its comments (keys None in a sequence)."""
    if isinstance(node, Mapping):
        return [(k, v) for k, v in node.items if k is not None and not isinstance(v, Comment)]
    if isinstance(node, Sequence):
        return [(None, v) for v in node.items if not isinstance(v, Comment)]
    return []


def value_start(node: Node) -> int:
    ref = node.ref
    if isinstance(ref, (SRef, CRef)):
        return ref.start
    raise UsageError("an edit reaches into a part of the document that has no place in its text")


def value_end(text: str, node: Node) -> int:
    """Where a value's own text ends (a block collection: at the end of its last item)."""
    ref = node.ref
    if isinstance(node, Scalar) and isinstance(ref, SRef):
        end = ref.end
        if ref.style in ("|", ">") and end > ref.body and text[end - 1] == "\n":
            end -= 2 if text[end - 2:end] == "\r\n" else 1  # a block scalar: not its last line break
        return end
    if isinstance(ref, CRef):
        if ref.flow or ref.alias:
            return ref.end
        items = items_of(node)
        if items:
            return value_end(text, items[-1][1])
        return ref.end
    raise UsageError("an edit reaches into a part of the document that has no place in its text")


def keeps_trailing_lines(text: str, node: Node) -> bool:
    """A ``|+``/``>+`` block scalar: the blank lines after it are part of its value."""
    ref = node.ref
    if not isinstance(ref, SRef) or ref.style not in ("|", ">"):
        return False
    header_end = text.find("\n", ref.body, ref.end)
    return "+" in text[ref.body:header_end if header_end >= 0 else ref.end].split("#")[0]


def dash_before(text: str, pos: int) -> int:
    """The ``-`` of the block sequence item whose value starts at ``pos`` (lines between that
    hold only a comment are skipped)."""
    i = pos
    while True:
        ls = line_start(text, i)
        content = _content(text[ls:i])
        if content:
            if content.endswith("-"):
                return ls + len(content) - 1
            break
        if ls == 0:
            break
        i = ls - 1
    raise UsageError("cannot find the '-' of a sequence item")


def item_pos(text: str, parent: Node, key: str | None, value: Node) -> int:
    """The first token of an item: its key (mapping) or its ``-`` (block sequence) or its value."""
    ref = parent.ref
    if isinstance(parent, Mapping):
        keys = ref.keys if isinstance(ref, CRef) else None
        if not keys or key not in keys:
            raise UsageError("a mapping key has no place in the text (a complex key?)")
        return keys[key]
    if isinstance(ref, CRef) and not ref.flow:
        return dash_before(text, value_start(value))
    return value_start(value)


def block_extent(text: str, parent: Node, key: str | None, value: Node) -> Extent:
    pos = item_pos(text, parent, key, value)
    ls = line_start(text, pos)
    col = pos - ls
    own_line = not text[ls:pos].strip(" \t")
    start = ls if own_line else pos
    while own_line and start > 0:  # its own comment lines directly above
        prev = line_start(text, start - 1)
        c = _comment_column(text[prev:start - 1])
        if c is None or c > col:
            break
        start = prev
    end = after_line(text, value_end(text, value))
    if keeps_trailing_lines(text, value):
        while end < len(text) and is_blank(text[end:after_line(text, end + 1)]):
            end = after_line(text, end + 1)
    while end < len(text):  # comment lines below it, indented deeper: part of it
        nxt = after_line(text, end + 1)
        c = _comment_column(text[end:nxt])
        if c is None or c <= col:
            break
        end = nxt
    return Extent(pos, start, end, own_line, col)


def flow_bounds(text: str, parent: Node, key: str | None, value: Node) -> tuple[int, int]:
    """A flow item's text: from its key (or value) to the end of its value."""
    return item_pos(text, parent, key, value), value_end(text, value)


def flow_separator(text: str, parent: Node) -> str:
    """How the flow collection separates its items (", " unless its first two say otherwise)."""
    items = items_of(parent)
    if len(items) < 2:
        return ", "
    end = value_end(text, items[0][1])
    nxt = item_pos(text, parent, items[1][0], items[1][1])
    sep = text[end:nxt]
    return sep if sep.strip(" \t\r\n") == "," and "#" not in sep else ", "


def colon_after_key(text: str, key_pos: int) -> int:
    """The position just after the ``:`` that ends the key starting at ``key_pos``."""
    i = key_pos
    if text[i] in "'\"":  # a quoted key may hold a colon
        quote = text[i]
        i += 1
        while i < len(text):
            if text[i] == "\\" and quote == '"':
                i += 2
                continue
            if text[i] == quote:
                if quote == "'" and text[i + 1:i + 2] == "'":
                    i += 2
                    continue
                break
            i += 1
    m = _KEY_COLON.search(text, i)
    if m is None:
        raise UsageError("cannot find the ':' after a mapping key")
    return m.start() + 1

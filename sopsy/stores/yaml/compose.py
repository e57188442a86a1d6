"""Text for what an edit adds, written the way the document around it is written.

:func:`document_style` reads the document's habits from its text: the indentation step, how
far a block sequence's ``-`` sits in from its key (``key:\\n  - a`` or ``key:\\n- a``), which
quote its quoted strings use, whether a mapping's items are set apart by blank lines, block or
flow collections, and its line break. The writers here (which write ``\n``; the caller converts to the file's) then lay out a new item or value with
those habits: plain scalars where they read back as the same value, else quoted as the
neighbours quote; ``|`` blocks for multi-line strings; ``{}``/``[]`` for empty collections.
"""

from __future__ import annotations

from ...model import Comment, InlineText, Mapping, Node, Scalar, Sequence
from ...yamlscalar import (
    double_quoted,
    folded_block,
    literal_block,
    literal_lines_ok,
    plain_ok,
    single_quoted,
    single_quoted_ok,
    typed_text,
)
from .refs import CRef, DocInfo, ParsedYaml, SRef

Lines = list[str]  # lines of new text, without line breaks


class Style:
    """A document's layout habits (see the module docstring)."""

    __slots__ = ("step", "seq_offset", "quote", "nl")

    def __init__(self, step: int = 2, seq_offset: int | None = None, quote: str = '"', nl: str = "\n") -> None:
        self.step = step
        self.seq_offset = step if seq_offset is None else seq_offset
        self.quote = quote
        self.nl = nl


def column(text: str, pos: int) -> int:
    return pos - (text.rfind("\n", 0, pos) + 1)


def document_style(parsed: ParsedYaml, doc: DocInfo) -> Style:
    text = parsed.text
    first_nl = text.find("\n")
    nl = "\r\n" if first_nl > 0 and text[first_nl - 1] == "\r" else "\n"
    step, seq_offset = indent_habits(parsed, doc)
    quotes = {"'": 0, '"': 0}
    todo: list[Node] = [doc.root] if doc.root is not None else []
    while todo:
        node = todo.pop()
        if isinstance(node, Scalar):
            if isinstance(node.ref, SRef) and node.ref.style in quotes and isinstance(node.value, str):
                quotes[node.ref.style] += 1
        elif isinstance(node, Mapping) and isinstance(node.ref, CRef) and not node.ref.alias:
            todo.extend(v for _, v in node.items)
        elif isinstance(node, Sequence) and isinstance(node.ref, CRef) and not node.ref.alias:
            todo.extend(node.items)
    quote = "'" if quotes["'"] > quotes['"'] else '"'
    return Style(step or 2, seq_offset if seq_offset is None or seq_offset >= 0 else None, quote, nl)


def indent_habits(parsed: ParsedYaml, doc: DocInfo) -> tuple[int | None, int | None]:
    """The indentation step and sequence offset the document's block collections show (None
    where nothing tells), stopping as soon as both are known: a cheap look for ``decrypt``."""
    text = parsed.text
    step: int | None = None
    seq_offset: int | None = None
    todo: list[tuple[Node, int | None]] = [(doc.root, None)] if doc.root is not None else []
    i = 0
    # (a budget of nodes: a file's habits show in its first collections, and a file with no
    # sequence would otherwise be walked whole)
    while i < min(len(todo), 2000) and (step is None or seq_offset is None):
        node, key_col = todo[i]
        i += 1
        if not isinstance(node, (Mapping, Sequence)) or not isinstance(node.ref, CRef) or node.ref.alias:
            continue
        if node.ref.flow:
            continue
        if isinstance(node, Mapping):
            first = next(iter((node.ref.keys or {}).values()), None)  # a block mapping's keys share a column
            col = column(text, first) if first is not None else None
            if key_col is not None and col is not None and col > key_col and step is None:
                step = col - key_col
            todo.extend((v, col) for _, v in node.items if not isinstance(v, Scalar))
        else:
            if key_col is not None and seq_offset is None and node.items:
                seq_offset = column(text, node.ref.start) - key_col
            todo.extend((v, None) for v in node.items)
    return step, seq_offset


def key_text(key: str, style: Style) -> str:
    if plain_ok(key):
        return key
    return single_quoted(key) if style.quote == "'" and single_quoted_ok(key) else double_quoted(key)


def scalar_text(node: Scalar, block_indent: int, style: Style, flow: bool = False) -> str:
    """A new scalar: plain where that reads back as the same value, a ``|`` block for a
    multi-line string (outside flow collections), else quoted as the document quotes."""
    value = node.value
    if not isinstance(value, str):
        return typed_text(value, node.spelling)
    if plain_ok(value, flow):
        return value
    if not flow and "\n" in value.rstrip("\n") and literal_lines_ok(value):
        return literal_block(value, block_indent)
    if style.quote == "'" and single_quoted_ok(value):
        return single_quoted(value)
    return double_quoted(value)


def restyled(old: Node, new: Node, block_indent: int, flow: bool, like: Node | None = None) -> str | None:
    """A new string value in the style of the scalar it replaces, as a person editing the value
    keeps it (or of ``like``, the scalar it comes from in another text): the same quotes, or a
    ``|``/``>`` block (outside flow collections). None where that style cannot hold it, or the
    scalar was plain or had an anchor or a tag."""
    src = like if isinstance(like, Scalar) and isinstance(like.ref, SRef) else old
    ref = src.ref
    if not (isinstance(src, Scalar) and isinstance(new, Scalar) and isinstance(new.value, str)
            and isinstance(ref, SRef) and ref.style and ref.start == ref.body):
        return None
    value = new.value
    if ref.style == "'":
        return single_quoted(value) if single_quoted_ok(value) else None
    if ref.style == '"':
        return double_quoted(value)
    if flow:
        return None
    if ref.style == ">" and (folded := folded_block(value, block_indent)) is not None:
        return folded
    return literal_block(value, block_indent) if literal_lines_ok(value) else None


def flow_text(node: Node, style: Style) -> str:
    if isinstance(node, Scalar):
        return scalar_text(node, 0, style, flow=True)
    if isinstance(node, Mapping):
        return "{" + ", ".join(f"{key_text(k, style)}: {flow_text(v, style)}"
                               for k, v in node.items if k is not None) + "}"
    if isinstance(node, Sequence):
        return "[" + ", ".join(flow_text(v, style) for v in node.items if not isinstance(v, Comment)) + "]"
    return ""


def _is_block(node: Node, flow: bool) -> bool:
    """Whether ``node`` is written as a block collection (a non-empty one, outside flow style)."""
    if flow or not isinstance(node, (Mapping, Sequence)):
        return False
    return any(not isinstance(v, Comment) for v in (
        [v for _, v in node.items] if isinstance(node, Mapping) else node.items))


def inline_text(node: Node, block_indent: int, style: Style, flow: bool) -> str:
    """A value written after ``key: `` or ``- `` (a scalar, a flow or empty collection)."""
    if isinstance(node, Scalar):
        return scalar_text(node, block_indent, style, flow)
    return flow_text(node, style)


def _comments(comments: list[str] | None, pad: str) -> tuple[Lines, str]:
    """The comment lines above an item, and what ends its first line: its inline comment (the
    last comment, when it is an :class:`InlineText`)."""
    above = list(comments or ())
    end = " #" + above.pop() if above and isinstance(above[-1], InlineText) else ""
    return [pad + "#" + c for c in above], end


def _end_first_line(text: str, end: str) -> str:
    first, nl, rest = text.partition("\n")
    return first + end + nl + rest


def mapping_item(key: str, node: Node, col: int, style: Style, flow: bool = False,
                 comments: list[str] | None = None) -> Lines:
    """A block mapping item at column ``col``, with its comment lines above it (and its inline
    comment at the end of the key's line)."""
    pad = " " * col
    lines, end = _comments(comments, pad)
    head = pad + key_text(key, style) + ":"
    if _is_block(node, flow):
        lines.append(head + end)
        lines += block_lines(node, col, style, flow)
    else:
        lines.append(_end_first_line(head + " " + inline_text(node, col + style.step, style, flow), end))
    return lines


def sequence_item(node: Node, col: int, style: Style, flow: bool = False, comments: list[str] | None = None) -> Lines:
    """A block sequence item with its ``-`` at column ``col`` (a collection starts on the
    ``-`` line, as people write it)."""
    pad = " " * col
    lines, end = _comments(comments, pad)
    if _is_block(node, flow):
        inner = block_body(node, col + 2, style, flow)
        lines.append(pad + "- " + inner[0][col + 2:])
        lines += inner[1:]
        if end:
            lines.insert(len(lines) - len(inner), pad + end[1:])  # above it: a collection's first line is taken
    else:
        lines.append(_end_first_line(pad + "- " + inline_text(node, col + 2, style, flow), end))
    return lines


def block_lines(node: Node, key_col: int, style: Style, flow: bool = False) -> Lines:
    """The block collection that is the value of a key at ``key_col``."""
    if isinstance(node, Mapping):
        return block_body(node, key_col + style.step, style, flow)
    return block_body(node, key_col + style.seq_offset, style, flow)


def block_body(node: Node, col: int, style: Style, flow: bool = False) -> Lines:
    """A block collection's items at column ``col`` (comments in it kept as comment lines)."""
    lines: Lines = []
    pending: list[str] = []
    if isinstance(node, Mapping):
        for k, v in node.items:
            if isinstance(v, Comment):
                pending.append(InlineText(v.text) if v.inline else v.text)
            elif k is not None:
                lines += mapping_item(k, v, col, style, flow, pending)
                pending = []
    elif isinstance(node, Sequence):
        for v in node.items:
            if isinstance(v, Comment):
                pending.append(InlineText(v.text) if v.inline else v.text)
            else:
                lines += sequence_item(v, col, style, flow, pending)
                pending = []
    lines += [" " * col + "#" + c for c in pending]
    return lines


def value_after_key(node: Node, key_col: int, style: Style, flow: bool = False) -> str:
    """What follows ``key:`` for a new value (a leading space or line break included)."""
    if _is_block(node, flow):
        return "\n" + "\n".join(block_lines(node, key_col, style, flow))
    return " " + inline_text(node, key_col + style.step, style, flow)


def value_at(node: Node, col: int, style: Style, flow: bool = False) -> str:
    """A new value starting at column ``col`` (after ``- ``): a block collection's first item
    there and the others below it."""
    if _is_block(node, flow):
        return "\n".join(block_body(node, col, style, flow))[col:]
    return inline_text(node, col, style, flow)

"""Document edits (:mod:`sopsy.edits`) on a tfvars file, as splices of its HCL source.

Objects and tuples written over several lines are edited a line at a time: a new item is
written on its own line with its neighbour's indentation, ``=`` or ``:`` and trailing comma,
its ``=`` padded to the column where its block of consecutive attributes aligns them (as
``terraform fmt`` does), comment lines above it written with the block's ``#`` or ``//``; a
deleted item takes its line, the comment lines directly above it and its trailing comment
with it; a tuple gets the commas HCL needs between items. A one-line object or tuple (``{ a =
1 }``, ``["a", "b"]``) is rewritten between its first and last items, keeping every item's
text and the gap between items that stay neighbours. A new value is written as ``terraform
fmt`` would (nested objects over several lines, aligned; lists of scalars on one line); a
replaced heredoc stays a heredoc when the new text can be one. Every byte no edit touches
stays as it was.
"""

from __future__ import annotations

import re

from ...errors import DumpError, UsageError
from ...model import Comment, InlineText, Mapping, Scalar, Sequence
from .._editing import apply_splices, check_batch, child_at, data_items, line_end, line_start, path_text, walk
from .emitter import IDENT_FULL, comment_lines, derive, emit_node, key_text, parse_expression
from .lexer import _IDENT
from .scanner import _NUMBER, META_KEY, Parser

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence as Seq
    from typing import Any

    from ...edits import Delete, Edit, Insert, Replace, TreePath
    from ...model import Node
    from . import TfvarsFile

_HEREDOC = re.compile(r"<<(-?)([^\W\d][\w-]*)\r?\n")


def _is_comment_line(line: str) -> bool:
    s = line.strip()
    return s.startswith(("#", "//")) or (s.startswith("/*") and s.endswith("*/"))


class _Doc:
    def __init__(self, parsed: TfvarsFile) -> None:
        self.text = parsed.text
        self.root = parsed.documents[0]
        self.parser = Parser(self.text)
        self.splices: list[tuple[int, int, str]] = []
        first = self.text.find("\n")
        self.eol = "\r\n" if first > 0 and self.text[first - 1] == "\r" else "\n"  # new lines end as the first does
        self.deleted: set[int] = set()  # ids of deleted nodes
        self.inline: dict[int, _Inline] = {}  # one-line containers with items added or removed
        self.groups: dict[tuple[int, int], _Group] = {}  # lines added to a multi-line tuple
        self._cols: dict[int, dict[int, int]] = {}  # per container: item position -> align_col
        self.aligned_file = any(self.align_col(self.root, i) >= 0 for i, _ in self.key_items(self.root))

    # -- positions -----------------------------------------------------------------------------

    def start(self, node: Node) -> int:
        """Where an item starts: its key for a mapping item, else its value."""
        ref: Any = node.ref
        return int(ref.key if ref.key >= 0 else ref.start)

    def tail(self, end: int) -> tuple[int, bool] | None:
        """(end of the line, whether a comma follows) when nothing but a comma and comments
        follows a value on its line; None when more does."""
        text, n = self.text, len(self.text)
        i = self.parser.skip(end, False)
        comma = i < n and text[i] == ","
        if comma:
            i = self.parser.skip(i + 1, False)
        if i >= n:
            return n, comma
        return (i + 1, comma) if text[i] == "\n" else None

    def own_line(self, node: Node) -> bool:
        s = self.start(node)
        return not self.text[line_start(self.text, s):s].strip() and self.tail(node.ref.end) is not None

    def indent_of(self, pos: int) -> str:
        line = self.text[line_start(self.text, pos):pos]
        return line[:len(line) - len(line.lstrip())]

    def block_start(self, pos: int) -> int:
        """The start of ``pos``'s line, or of the comment lines directly above it."""
        ls = line_start(self.text, pos)
        while ls > 0:
            prev = line_start(self.text, ls - 1)
            if not _is_comment_line(self.text[prev:ls - 1]):
                break
            ls = prev
        return ls

    def key_items(self, node: Mapping) -> list[tuple[int, Node]]:
        return [(i, v) for i, (k, v) in enumerate(node.items) if k is not None]

    def children(self, node: Node) -> list[tuple[int, Node]]:
        if isinstance(node, Mapping):
            return self.key_items(node)
        assert isinstance(node, Sequence)
        return [(i, node.items[i]) for i in data_items(node)]

    def multiline(self, node: Node) -> bool:
        """Whether a container is written an item a line (the top-level body always is)."""
        if node is self.root:
            return True
        items = self.children(node)
        if items:
            return all(self.own_line(v) for _, v in items)
        return "\n" in self.text[node.ref.start:node.ref.end]

    def delim(self, node: Node) -> tuple[int, int]:
        """(end of a mapping item's key, position of its ``=`` or ``:``)."""
        text, pos = self.text, int(node.ref.key)
        c = text[pos]
        if c == '"':
            end, _ = self.parser.quoted(pos)
        elif c == "(":
            end = self.parser.expr_end(pos + 1) + 1
        else:
            m = _IDENT.match(text, pos) or _NUMBER.match(text, pos)
            end = m.end() if m else pos
        return end, self.parser.skip(end, False)

    def key_layout(self, node: Node) -> tuple[str, str, str]:
        """(blanks before, delimiter, blanks after) between a mapping item's key and value."""
        end, delim = self.delim(node)
        before, after = self.text[end:delim], self.text[delim + 1:node.ref.start]
        return before if not before.strip() else " ", self.text[delim], after if not after.strip() else " "

    def align_col(self, node: Mapping, pos: int) -> int:
        """The column at which the block of consecutive one-line attributes holding item
        ``pos`` aligns its ``=``, or -1 when it does not align them. As in ``terraform fmt``,
        a blank line, a comment line or a value over several lines ends a block."""
        cols = self._cols.get(id(node))
        if cols is None:  # every block of the container at once: linear, not per item
            cols = self._cols[id(node)] = {}
            items = [(i, v) for i, v in self.key_items(node) if self.own_line(v) and self.one_line(v)]
            lo = 0
            for hi in range(len(items)):
                if hi + 1 < len(items) and self.adjacent(items[hi][1], items[hi + 1][1]):
                    continue
                group = [v for _, v in items[lo:hi + 1]]
                found = {self.delim_col(v) for v in group}
                padded = any(len(self.key_layout(v)[0]) > 1 for v in group)
                col = found.pop() if len(group) > 1 and len(found) == 1 and padded else -1
                cols.update((i, col) for i, _ in items[lo:hi + 1])
                lo = hi + 1
        return cols.get(pos, -1)

    def adjacent(self, a: Node, b: Node) -> bool:
        """Whether ``b`` starts on the line right after ``a``."""
        return line_start(self.text, self.start(b)) == line_end(self.text, a.ref.end)

    def one_line(self, node: Node) -> bool:
        return "\n" not in self.text[self.start(node):node.ref.end]

    def delim_col(self, node: Node) -> int:
        return self.delim(node)[1] - line_start(self.text, node.ref.key)

    # -- writing -------------------------------------------------------------------------------

    def lines_at(self, pos: int, lines: list[str]) -> None:
        eol = self.eol
        lines = [line.replace("\n", eol) for line in lines] if eol != "\n" else lines  # (no heredoc here)
        if pos >= len(self.text) and self.text and not self.text.endswith("\n"):
            self.splices.append((pos, pos, eol + eol.join(lines)))
        else:
            self.splices.append((pos, pos, "".join(line + eol for line in lines)))

    def comment_mark(self, node: Node) -> str:
        """``#`` or ``//``, as the container's comments (else the file's) are written."""
        for where in (node, self.root):
            items = where.items if isinstance(where, Mapping | Sequence) else []
            for item in items:
                v = item[1] if isinstance(item, tuple) else item
                if isinstance(v, Comment) and isinstance(v.ref, tuple) and not self.text.startswith("/*", v.ref[0]):
                    return "//" if self.text.startswith("//", v.ref[0]) else "#"
        return "#"


class _Inline:
    """Items added to or removed from a one-line container."""

    def __init__(self, node: Node, depth: int) -> None:
        self.node = node
        self.depth = depth
        self.first: list[str] = []
        self.after: dict[int, list[str]] = {}


class _Group:
    """Lines added after one item (or first) of a multi-line tuple: commas are settled last."""

    def __init__(self, pos: int, anchor: Node | None, comma: bool) -> None:
        self.pos = pos
        self.anchor = anchor
        self.comma = comma
        self.lines: list[list[str]] = []  # per new item: its comment lines, then its value lines


def apply_edits(parsed: TfvarsFile, edits: Seq[Edit]) -> str:
    from ...edits import Delete, Insert, Replace

    check_batch(parsed, edits, "tfvars")
    doc = _Doc(parsed)
    for e in edits:
        if isinstance(e, Replace):
            _replace(doc, e)
        elif isinstance(e, Delete):
            _delete(doc, e)
        elif isinstance(e, Insert):
            _insert(doc, e)
    _finish(doc)
    return apply_splices(doc.text, doc.splices)


def _target(doc: _Doc, path: TreePath) -> tuple[Node, int, Node]:
    if not path:
        raise UsageError("an edit must name a value inside the file, not the whole file")
    container, pos = walk(doc.root, path)[-1]  # UsageError naming the path if it is not there
    item = container.items[pos]  # type: ignore[union-attr]
    return container, pos, item[1] if isinstance(item, tuple) else item


def _container(doc: _Doc, path: TreePath) -> tuple[Node, int]:
    """The node at ``path`` (the body for ``()``) and its depth."""
    return (_target(doc, path)[2] if path else doc.root), len(path)


def _value_text(doc: _Doc, node: Node, indent: str, path: TreePath, old: str = "", align: bool = False) -> str:
    if isinstance(node, Scalar) and isinstance(node.value, str) and old.startswith("<<"):
        text = _heredoc(old, node.value)
        if text is not None:
            return text
    try:
        return derive(node.value, node.spelling) if isinstance(node, Scalar) else emit_node(node, indent, False, align)
    except DumpError as e:
        raise UsageError(f"cannot write the value at {path_text(path)}: {e}") from None


def _heredoc(old: str, value: str) -> str | None:
    """``value`` as a heredoc with the marker (and, for ``<<-``, the indentation) of ``old``."""
    m = _HEREDOC.match(old)
    if not m or not value.endswith("\n"):
        return None
    closing = old[old.rstrip().rfind("\n") + 1:]
    indent = closing[:len(closing) - len(closing.lstrip())] if m.group(1) else ""
    body = "".join(indent + line if line.strip() else line for line in value.splitlines(keepends=True))
    text = m.group() + body + closing
    return text if parse_expression(text) == value else None


def _replace(doc: _Doc, e: Replace) -> None:
    _, _, node = _target(doc, e.path)
    start, end = node.ref.start, node.ref.end
    indent = doc.indent_of(doc.start(node))
    new = _value_text(doc, e.node, indent, e.path, doc.text[start:end], doc.aligned_file)
    if not new.startswith("<<"):  # a heredoc's line breaks are part of its value
        new = new.replace("\n", doc.eol)
    doc.splices.append((start, end, new))


def _delete(doc: _Doc, e: Delete) -> None:
    container, pos, node = _target(doc, e.path)
    doc.deleted.add(id(node))
    if not doc.multiline(container):
        doc.inline.setdefault(id(container), _Inline(container, len(e.path) - 1))
        return
    tail = doc.tail(node.ref.end)
    assert tail is not None
    doc.splices.append((doc.block_start(doc.start(node)), tail[0], ""))


def _insert(doc: _Doc, e: Insert) -> None:
    container, depth = _container(doc, e.parent)
    where = (*e.parent, e.key) if e.key is not None else e.parent
    if isinstance(container, Mapping):
        _check_key(doc, container, e, where)
        anchor = (container.items[child_at(container, e.after, (*e.parent, e.after))[0]][1] if e.after is not None
                  else next((v for _, v in doc.key_items(container)), None))
    elif isinstance(container, Sequence):
        if e.key is not None:
            raise UsageError(f"cannot insert the key {path_text(where)} into a list")
        anchor = (container.items[child_at(container, e.after, (*e.parent, e.after))[0]] if e.after is not None
                  else next((v for _, v in doc.children(container)), None))
    else:
        raise UsageError(f"cannot insert into {path_text(e.parent)}: it is not an object or a list")
    if not doc.multiline(container):
        plan = doc.inline.setdefault(id(container), _Inline(container, depth))
        text = _item_text(doc, container, anchor, e, where, " ".join(_comments(doc, container, e, "/*", "*/")))
        if e.after is None:
            plan.first.append(text)
        else:
            plan.after.setdefault(id(anchor), []).append(text)
        return
    _insert_lines(doc, container, anchor, e, where)


def _check_key(doc: _Doc, container: Mapping, e: Insert, where: TreePath) -> None:
    key = e.key
    if not isinstance(key, str):
        raise UsageError(f"an item inserted into the object at {path_text(e.parent)} needs a key")
    if container.get(key) is not None:
        raise UsageError(f"the key {path_text(where)} is already in the file")
    if container is doc.root and (not IDENT_FULL.match(key) or key == META_KEY):
        raise UsageError(f"the key {path_text(where)} cannot be a tfvars attribute name")
    if "${" in key or "%{" in key:
        raise UsageError(f"the key {path_text(where)} cannot be written as an HCL object key")


def _comments(doc: _Doc, container: Node, e: Insert, open_: str = "", close: str = "") -> list[str]:
    if open_:  # a one-line container: only /* */ comments fit
        bodies = [re.sub(r"^(?:#|//|/\*)|\*/$", "", t) for c in e.comments for t in comment_lines(c, "")]
        return [f"{open_}{t}{close}" for t in bodies]
    mark = doc.comment_mark(container)
    return [line for c in e.comments for line in comment_lines(c, mark)]


def _item_text(doc: _Doc, container: Node, anchor: Node | None, e: Insert, where: TreePath,
               comment: str = "", indent: str = "", col: int = -1) -> str:
    """A new item: ``key = value`` (in the anchor's layout) or the value alone."""
    value = _value_text(doc, e.node, indent, where, align=col >= 0 or doc.aligned_file)
    head = comment + " " if comment else ""
    if not isinstance(container, Mapping):
        return head + value
    assert e.key is not None
    before, delim, after = doc.key_layout(anchor) if anchor is not None else (" ", "=", " ")
    name = key_text(e.key)
    if col >= 0:
        before = " " * max(1, col - len(indent) - len(name))
    elif before:
        before = " "
    return head + name + before + delim + after + value


def _insert_lines(doc: _Doc, container: Node, anchor: Node | None, e: Insert, where: TreePath) -> None:
    text = doc.text
    if anchor is not None:
        indent = doc.indent_of(doc.start(anchor))
        tail = doc.tail(anchor.ref.end)
        assert tail is not None
        pos = tail[0] if e.after is not None else doc.block_start(doc.start(anchor))
        comma = tail[1]
    elif container is doc.root:
        indent, pos, comma = "", len(text), False
    else:
        indent = doc.indent_of(container.ref.start) + "  "
        pos, comma = line_end(text, container.ref.start), isinstance(container, Sequence)
    col = -1
    if isinstance(container, Mapping) and anchor is not None and not e.comments:  # a comment line ends a block
        anchor_pos = next(i for i, v in doc.key_items(container) if v is anchor)
        col = doc.align_col(container, anchor_pos)
    comments = [indent + c for c in _comments(doc, container, e)]
    item = indent + _item_text(doc, container, anchor, e, where, indent=indent, col=col)
    if comments and isinstance(e.comments[-1], InlineText) and isinstance(container, Mapping) and "\n" not in item:
        end = " " + comments.pop().lstrip()  # an inline comment ends the item's line, after any comma
        doc.lines_at(pos, comments + [item + ("," if comma else "") + end])
        return
    if isinstance(container, Sequence):
        key = (id(container), id(anchor) if e.after is not None else -1)
        group = doc.groups.setdefault(key, _Group(pos, anchor if e.after is not None else None,
                                                  comma or e.after is None))
        group.lines.append(comments + [item])
        return
    doc.lines_at(pos, comments + [item + ("," if comma else "")])


def _finish(doc: _Doc) -> None:
    """Settle the commas of new tuple lines, then rewrite the one-line containers."""
    for group in doc.groups.values():
        items = group.lines
        last_bare = not group.comma
        lines: list[str] = []
        for n, item in enumerate(items):
            lines += item[:-1] + [item[-1] + ("" if last_bare and n == len(items) - 1 else ",")]
        if last_bare and group.anchor is not None and id(group.anchor) not in doc.deleted:
            end = group.anchor.ref.end
            doc.splices.append((end, end, ","))
        doc.lines_at(group.pos, lines)
    for plan in sorted(doc.inline.values(), key=lambda p: -p.depth):
        _rewrite_inline(doc, plan)


def _rewrite_inline(doc: _Doc, plan: _Inline) -> None:
    """Rewrite a one-line container from its first item to its last: the items that stay (with
    the edits inside them), the new ones, and between two items that were neighbours already
    the text that was between them (else the container's separator)."""
    text, node = doc.text, plan.node
    items = [v for _, v in doc.children(node)]
    if items:
        start, end = doc.start(items[0]), items[-1].ref.end
        gap = text[items[0].ref.end:doc.start(items[1])] if len(items) > 1 else ", "
        sep = re.sub(r"[ \t]+", " ", re.sub(r"/\*.*?\*/", "", gap))  # the gap without its comments
        sep = sep if "," in sep else ", "
    else:
        start, end, sep = node.ref.start + 1, node.ref.end - 1, ", "
    inner = [sp for sp in doc.splices if start <= sp[0] and sp[1] <= end]
    doc.splices[:] = [sp for sp in doc.splices if not (start <= sp[0] and sp[1] <= end)]
    order = {id(v): n for n, v in enumerate(items)}
    tokens: list[tuple[str, Node | None]] = [(t, None) for t in plan.first]
    for item in items:
        if id(item) not in doc.deleted:
            s0 = doc.start(item)
            own = [(a - s0, b - s0, t) for a, b, t in inner if s0 <= a and b <= item.ref.end]
            tokens.append((apply_splices(text[s0:item.ref.end], own), item))
        tokens += [(t, None) for t in plan.after.get(id(item), [])]
    out: list[str] = []
    for n, (t, orig) in enumerate(tokens):
        prev = tokens[n - 1][1] if n else None
        if n == 0:
            gap = ""
        elif prev is not None and orig is not None and order[id(orig)] == order[id(prev)] + 1:
            gap = text[prev.ref.end:doc.start(orig)]
        else:
            gap = sep
        out.append(gap + t)
    body = "".join(out)
    if not items and isinstance(node, Mapping) and tokens:  # `{}` gets its first items a line each
        indent = doc.indent_of(doc.start(node))
        body = doc.eol + "".join(f"{indent}  {t}{doc.eol}" for t, _ in tokens) + indent
    doc.splices.append((start, end, body))

"""Editing a parsed JSON file (:mod:`sopsy.edits`): Replace, Insert and Delete as splices.

Every container that gains or loses items has its interior rebuilt from pieces of its own text:
the items that stay (with the leaf splices inside them), the gaps between them, and new items
written like their neighbours. Two layouts are told apart:

* *lines*: every item starts its own line. An item is its block of whole lines: the comment
  lines directly above it, the item, its comma and a comment after it on the same line. Deleting
  takes the block; commas are added or removed inside the blocks that stay.
* *inline* (``{"a": 1, "b": 2}``, and any other layout): an item is its key and value; the text
  between two items (with their comma) stays between them, new items get ``,`` and the
  container's own separator.

A trailing comma (JSONC) stays a trailing comma; an object or array left empty becomes ``{}`` or
``[]``; an empty one that gains items is written as its parent is (``{}`` at the top: sops's
one-tab layout).
"""

from __future__ import annotations

import bisect
import functools
import re

from ...edits import Delete, Insert
from ...errors import UsageError
from ...model import Comment, InlineText, Mapping, Node, Scalar, Sequence
from .emit import Layout, go_quote, value_text
from .scanner import PIECE, Box, ParsedJson
from .splice import Splice, apply_splices, kv_of, layout_of, render_splices, span_of

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence as Seq
    from typing import Any

    from ...edits import Edit, PathPart

_TOKEN = re.compile(r"//[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/")
_COMMENT_LINE = re.compile(r"[ \t]*(?:(?://[^\n]*|/\*(?:[^*\n]|\*(?!/))*\*/)[ \t]*)+\r?\n")


class _Item:
    """One item of a container, in text order: where its key (or value) and value lie."""

    __slots__ = ("core", "vstart", "vend", "gone")

    def __init__(self, core: int, vstart: int, vend: int, gone: bool) -> None:
        self.core = core
        self.vstart = vstart
        self.vend = vend
        self.gone = gone


class _Target:
    """A container being edited: its items, which of them go, and what is inserted where."""

    def __init__(self, node: Mapping | Sequence, items: list[_Item]) -> None:
        self.node = node
        self.items = items
        # index of the item a new one follows (-1: first), key, value, comment lines
        self.inserts: list[tuple[int, str | None, Node, list[str]]] = []
        self.changed = False


def _show(path: Seq[PathPart]) -> str:
    return "".join(f'["{p}"]' if isinstance(p, str) else f"[{p}]" for p in path) or "the top level"


class _Doc:
    """The parsed file, its containers' items, and how new text is laid out."""

    def __init__(self, parsed: ParsedJson) -> None:
        self.parsed = parsed
        self.text = parsed.text
        self.layout = layout_of(parsed)
        self.targets: dict[int, _Target] = {}

    def target(self, node: Mapping | Sequence) -> _Target:
        t = self.targets.get(id(node))
        if t is None:
            t = self.targets[id(node)] = _Target(node, self.items_of(node))
        return t

    def items_of(self, node: Mapping | Sequence) -> list[_Item]:
        parsed = self.parsed
        if node is parsed.documents[0]:  # the sops member is an item too, one that goes
            return [_Item(m.key_start, m.value_start, m.value_end, i == parsed.sops_index)
                    for i, m in enumerate(parsed.members)]
        box = node.ref
        out: list[_Item] = []
        for i, item in enumerate(node.items):
            child = item[1] if isinstance(item, tuple) else item
            start, end = span_of(child)
            core = box.keys[i] if isinstance(node, Mapping) else start
            out.append(_Item(core, start, end, isinstance(child, Comment)))  # sops comments go
        return out

    def resolve(self, path: Seq[PathPart]) -> tuple[Mapping | Sequence, int, tuple[int, ...], Node]:
        """The container holding the node at ``path``, the node's index among its text-order
        items, the path as item indices (for overlap checks), and the node."""
        node: Node = self.parsed.documents[0]
        parent: Mapping | Sequence | None = None
        index = -1
        trail: list[int] = []
        for depth, part in enumerate(path):
            if not isinstance(node, (Mapping, Sequence)) or not isinstance(node.ref, Box):
                raise UsageError(f"no such path in the file: {_show(path[:depth + 1])}")
            parent, index = node, self._index(node, part, path[:depth + 1])
            trail.append(index)
            item = node.items[index]
            node = item[1] if isinstance(item, tuple) else item
        if parent is None:
            raise UsageError("an edit must name an item, not the whole document")
        return parent, self._text_index(parent, index), tuple(trail), node

    def _index(self, node: Mapping | Sequence, part: PathPart, shown: Seq[PathPart]) -> int:
        if isinstance(node, Mapping) and isinstance(part, str):
            for i, (k, _) in enumerate(node.items):
                if k == part:  # the first of duplicate keys, as sops finds it
                    return i
        elif isinstance(node, Sequence) and isinstance(part, int) and not isinstance(part, bool):
            real = [i for i, v in enumerate(node.items) if not isinstance(v, Comment)]
            if 0 <= part < len(real):
                return real[part]
        raise UsageError(f"no such path in the file: {_show(shown)}")

    def _text_index(self, node: Mapping | Sequence, index: int) -> int:
        """Model index → text-order item index (the root's items include the sops member)."""
        sops = self.parsed.sops_index
        if node is self.parsed.documents[0] and sops is not None and index >= sops:
            return index + 1
        return index

    def line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def indent_at(self, pos: int) -> str:
        """The blanks that start the line holding ``pos``."""
        start = self.line_start(pos)
        return re.match(r"[ \t]*", self.text[start:pos]).group(0)  # type: ignore[union-attr]

    def starts_line(self, pos: int) -> bool:
        return self.text[self.line_start(pos):pos].strip(" \t") == ""

    def lines_mode(self, node: Mapping | Sequence, items: list[_Item]) -> bool:
        if items:
            return all(self.starts_line(it.core) for it in items)
        box = node.ref
        if "\n" in self.text[box.start + 1:box.end - 1] or node is self.parsed.documents[0]:
            return True
        parent = self._parent_of(node)
        return parent is not None and self.lines_mode(parent, self.items_of(parent))

    def _parent_of(self, node: Mapping | Sequence) -> Mapping | Sequence | None:
        work: list[Mapping | Sequence] = [self.parsed.documents[0]]
        while work:
            cur = work.pop()
            for item in cur.items:
                child = item[1] if isinstance(item, tuple) else item
                if child is node:
                    return cur
                if isinstance(child, (Mapping, Sequence)):
                    work.append(child)
        return None

    def style(self, node: Mapping | Sequence, items: list[_Item], lines: bool) -> Layout:
        """Layout for new text in ``node``: its items' indentation and separators."""
        text = self.text
        box = node.ref
        base = self.indent_at(box.start)
        unit = self.layout.unit if self.layout.multiline else "\t"
        live = [it for it in items if not it.gone]
        if lines and live:
            own = self.indent_at(live[0].core)
            if own.startswith(base) and len(own) > len(base):
                unit = own[len(base):]
        kv = self.layout.kv
        for it in live if isinstance(node, Mapping) else []:
            found = kv_of(text, it.core, it.vstart)
            if found is not None:
                kv = found
                break
        sep = self.layout.sep
        for a, b in zip(items, items[1:], strict=False):
            m = re.fullmatch(r"[ \t]*,([ \t]*)", text[a.vend:b.core])
            if m:
                sep = m.group(1)
                break
        return Layout(lines, self.layout.nl, base, unit, kv, sep, comments=True)


def apply_edits(parsed: ParsedJson, edits: Seq[Edit], hints: dict[str, Any] | None = None) -> str:
    """The plaintext text of ``parsed`` with ``edits`` applied (see :mod:`sopsy.edits`)."""
    doc = _Doc(parsed)
    replaces: list[tuple[Mapping | Sequence, int, Node, Node]] = []
    claimed: set[tuple[int, ...]] = set()  # item paths deleted or replaced
    touched: list[tuple[tuple[int, ...], Seq[PathPart]]] = []  # paths edits reach into
    for edit in edits:
        if edit.doc != 0:
            raise UsageError("a JSON file has one document")
        if isinstance(edit, Insert):
            _plan_insert(doc, edit, touched)
            continue
        parent, index, trail, old = doc.resolve(edit.path)
        if trail in claimed:
            raise UsageError(f"two edits of the same item: {_show(edit.path)}")
        claimed.add(trail)
        touched.append((trail[:-1], edit.path))
        if isinstance(edit, Delete):
            target = doc.target(parent)
            target.items[index].gone = True
            target.changed = True
        else:
            replaces.append((parent, index, old, edit.node))
    for trail, shown in touched:
        for n in range(len(trail) + 1):
            if trail[:n] in claimed:
                raise UsageError(f"an edit inside an item that another edit deletes or replaces: {_show(shown)}")
    return _write(doc, replaces, hints)


def _plan_insert(doc: _Doc, edit: Insert, touched: list[tuple[tuple[int, ...], Seq[PathPart]]]) -> None:
    node: Node = doc.parsed.documents[0]
    trail: tuple[int, ...] = ()
    if edit.parent:
        _, _, trail, node = doc.resolve(edit.parent)
    if not isinstance(node, (Mapping, Sequence)) or not isinstance(node.ref, Box):
        raise UsageError(f"cannot insert into {_show(edit.parent)}: it is not an object or an array")
    if isinstance(node, Mapping) != (edit.key is not None):
        raise UsageError(f"an item inserted into {_show(edit.parent)} needs "
                         + ("a key" if isinstance(node, Mapping) else "no key"))
    if node is doc.parsed.documents[0] and edit.key == "sops":
        raise UsageError('the top-level key "sops" is reserved for the sops metadata')
    # whole comment tokens come from a merge's view of a side that had them (a JSONC file)
    if edit.comments and not doc.parsed.jsonc and not all(_TOKEN.fullmatch(c) for c in edit.comments):
        raise UsageError(f"cannot write comments into {_show(edit.parent)}: the file is JSON without "
                         "comments, which sops would no longer read")
    target = doc.target(node)
    after = -1
    if edit.after is not None:
        _, after, _, _ = doc.resolve((*edit.parent, edit.after))
    target.inserts.append((after, edit.key, edit.node, list(edit.comments)))
    target.changed = True
    touched.append((trail, edit.parent))


def _write(doc: _Doc, replaces: list[tuple[Mapping | Sequence, int, Node, Node]],
           hints: dict[str, Any] | None) -> str:
    keep = frozenset(k for k, t in doc.targets.items() if t.changed)
    splices = render_splices(doc.parsed, None, hints, keep)  # sorted, none overlapping
    for parent, index, old, node in replaces:
        it = doc.target(parent).items[index]
        _swap(splices, it.vstart, it.vend, _value_text(doc, parent, it, old, node))
    # innermost first: a container's interior is rebuilt from the splices made inside it
    for t in sorted((t for t in doc.targets.values() if t.changed), key=lambda t: -t.node.ref.depth):
        box = t.node.ref
        _swap(splices, box.start + 1, box.end - 1, functools.partial(_interior, doc, t))
    for a, b in zip(splices, splices[1:], strict=False):
        if b[0] < a[1]:
            raise UsageError("the edits overlap")
    return apply_splices(doc.text, splices)


def _swap(splices: list[Splice], lo: int, hi: int, repl: str | Callable[[list[Splice]], str]) -> None:
    """Put one splice over ``lo:hi`` in place of those inside it (handed to ``repl``)."""
    i = bisect.bisect_left(splices, (lo, lo, ""))
    j = i
    while j < len(splices) and splices[j][1] <= hi and splices[j][0] <= hi:
        j += 1
    inner = splices[i:j]
    splices[i:j] = [(lo, hi, repl if isinstance(repl, str) else repl(inner))]


def _value_text(doc: _Doc, parent: Mapping | Sequence, it: _Item, old: Node, node: Node) -> str:
    """A replacement value, written like the value it replaces (or, for a scalar that becomes
    an object or array, like its container)."""
    if isinstance(node, Scalar):
        return value_text(node.value, node.spelling)
    items = doc.items_of(parent)
    style = doc.style(parent, items, doc.lines_mode(parent, items))
    if isinstance(old, (Mapping, Sequence)) and isinstance(old.ref, Box) and old.items:
        style.multiline = doc.lines_mode(old, doc.items_of(old))
    return _dump(style, node, doc.indent_at(it.vstart))


def _dump(style: Layout, node: Node, indent: str) -> str:
    if isinstance(node, Scalar):
        return value_text(node.value, node.spelling)
    if not isinstance(node, (Mapping, Sequence)):
        raise UsageError("only a value, an object or an array can be written into a JSON file")
    return style.dump_at(node, indent)


def _new_item(style: Layout, indent: str, key: str | None, node: Node) -> str:
    value = _dump(style, node, indent)
    return value if key is None else go_quote(key) + style.kv + value


def _comment(text: str, inline: bool) -> str:
    if _TOKEN.fullmatch(text) and not (inline and text.startswith("//")):
        return text  # a whole comment, mark and all (the merge's view passes them so)
    if "*/" in text and (inline or "\n" in text):
        raise UsageError("a comment to insert holds '*/', which would end it early")
    if inline or "\n" in text:
        return "/*" + text + "*/"
    return "//" + text


def _order(t: _Target) -> list[tuple[int, tuple[str | None, Node, list[str]] | None]]:
    """The container's items after the edits: (old index, None) or (-1, new item)."""
    after: dict[int, list[tuple[str | None, Node, list[str]]]] = {}
    for anchor, key, node, comments in t.inserts:
        after.setdefault(anchor, []).append((key, node, comments))
    out: list[tuple[int, tuple[str | None, Node, list[str]] | None]] = [(-1, new) for new in after.get(-1, [])]
    for i, it in enumerate(t.items):
        if not it.gone:
            out.append((i, None))
        out.extend((-1, new) for new in after.get(i, []))
    return out


def _interior(doc: _Doc, t: _Target, inner: list[Splice]) -> str:
    box = t.node.ref
    lo, hi = box.start + 1, box.end - 1
    lines = doc.lines_mode(t.node, t.items)
    style = doc.style(t.node, t.items, lines)
    final = _order(t)
    if not t.items:
        return _fill_empty(t, style, final, apply_splices(doc.text, inner, lo, hi))
    if lines:
        return _interior_lines(doc, t, style, final, inner)
    return _interior_inline(doc, t, style, final, inner)


def _fill_empty(t: _Target, style: Layout, final: list[Any], interior: str) -> str:
    entries = [e for _, e in final if e is not None]
    if not style.multiline:
        body = ("," + style.sep).join("".join(_comment(c, True) + " " for c in comments)
                                      + _new_item(style, "", key, node) for key, node, comments in entries)
        return (interior if interior.strip() else "") + body
    indent = style.key_indent + style.unit
    parts: list[str] = []
    for n, (key, node, comments) in enumerate(entries):
        parts.extend(indent + _comment(c, False) + style.nl for c in comments)
        comma = "," if n < len(entries) - 1 else ""
        parts.append(indent + _new_item(style, indent, key, node) + comma + style.nl)
    head = interior.rstrip(" \t")  # keep comments that were there
    if not head.endswith("\n"):
        head += style.nl
    return head + "".join(parts) + style.key_indent


def _block(doc: _Doc, t: _Target, i: int) -> tuple[int, int, int | None]:
    """An item's block of lines (lines layout): where it starts (the comment lines directly
    above it included), where it ends (its comma, a comment on the same line and the line end
    included), and where its comma is."""
    text = doc.text
    items = t.items
    it = items[i]
    floor = items[i - 1].vend if i > 0 else t.node.ref.start
    start = doc.line_start(it.core)
    while start > 0:
        prev = doc.line_start(start - 1)
        if prev <= floor or not _COMMENT_LINE.fullmatch(text, prev, start):
            break
        start = prev
    limit = items[i + 1].core if i + 1 < len(items) else t.node.ref.end - 1
    comma: int | None = None
    end = pos = it.vend
    for piece in PIECE.finditer(text, pos, limit):
        s = piece.group(0)
        if piece.start() != pos or (s[0] == "/" and "\n" in s):
            break  # not trivia, or a block comment that runs on below
        pos = piece.end()
        if s == ",":
            comma = piece.start()
        if s[0] != " " and s[0] != "\t":
            end = pos  # blanks count only before something that counts
        if s[-1] == "\n":
            break
    return start, end, comma


def _last_char(out: list[str]) -> str:
    return next((s[-1] for s in reversed(out) if s), "")


def _interior_lines(doc: _Doc, t: _Target, style: Layout, final: list[Any], inner: list[Splice]) -> str:
    text = doc.text
    items = t.items
    blocks = [_block(doc, t, i) for i in range(len(items))]
    box = t.node.ref
    trailing = blocks[-1][2] is not None

    def gaps(p: int, j: int) -> list[str]:
        """The text between the blocks of old items p and j, when the items between go: blank
        lines go with them, comments that belong to no item stay."""
        between = [text[blocks[k][1]:blocks[k + 1][0]] for k in range(max(p, 0), j)]
        if j == p + 1:
            return between
        kept = [g for g in between if "/" in g]  # only comments hold a "/" between items
        return kept or (between[-1:] if p >= 0 else [])

    out = [apply_splices(text, inner, box.start + 1, blocks[0][0])]
    prev = -1  # the last old item written
    for n, (old, new) in enumerate(final):
        needs_comma = n < len(final) - 1 or trailing
        if new is None:
            start, end, comma = blocks[old]
            out += gaps(prev, old) if old > 0 else []
            fix = list(inner)
            if needs_comma and comma is None:
                fix.append((items[old].vend, items[old].vend, ","))
            elif comma is not None and not needs_comma:
                fix.append((comma, comma + 1, ""))
            fix.sort(key=lambda e: (e[0], e[1]))
            out.append(apply_splices(text, fix, start, end))
            prev = old
            continue
        key, node, comments = new
        # indented as the item it follows (the first item, when it comes first)
        indent = doc.indent_at(items[max(prev, 0)].core)
        inline = comments[-1] if comments and isinstance(comments[-1], InlineText) else None
        piece = "".join(indent + _comment(c, False) + style.nl for c in comments[:-1 if inline is not None else None])
        piece += indent + _new_item(style, indent, key, node) + ("," if needs_comma else "")
        piece += (" " + _comment(inline, False) if inline is not None else "") + style.nl
        out.append(piece if _last_char(out) == "\n" else style.nl + piece)
    if prev < len(items) - 1:
        out += [g for g in gaps(prev, len(items) - 1) if "/" in g]
    tail = apply_splices(text, inner, blocks[-1][1], box.end - 1)
    if not final:
        return _emptied("".join(out) + tail)
    return "".join(out) + tail


def _interior_inline(doc: _Doc, t: _Target, style: Layout, final: list[Any], inner: list[Splice]) -> str:
    text = doc.text
    items = t.items
    box = t.node.ref
    # a new item is separated as the others are (the first gap that holds only the comma)
    joiner = "," + style.sep
    for a, b in zip(items, items[1:], strict=False):
        if re.fullmatch(r"\s*,\s*", text[a.vend:b.core]):
            joiner = text[a.vend:b.core]
            break
    out = [apply_splices(text, inner, box.start + 1, items[0].core)]
    for n, (old, new) in enumerate(final):
        if new is None:
            if n > 0:  # after another item that stays: the gap before this one (its comma)
                out.append(text[items[old - 1].vend:items[old].core] if final[n - 1][1] is None else joiner)
            out.append(apply_splices(text, inner, items[old].core, items[old].vend))
            continue
        key, node, comments = new
        if n > 0:
            out.append(joiner)
        out.append("".join(_comment(c, True) + " " for c in comments) + _new_item(style, "", key, node))
    tail = apply_splices(text, inner, items[-1].vend, box.end - 1)
    if not final:
        return _emptied(out[0] + tail)
    return "".join(out) + tail


def _emptied(rest: str) -> str:
    """What stays inside a container that lost all its items: comments, without commas."""
    kept = "".join(p.group(0) for p in PIECE.finditer(rest) if p.group(0) != ",")
    return "" if not kept.strip() else kept

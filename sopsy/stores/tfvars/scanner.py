"""The tfvars scanner: an HCL attribute body read with the source position of every value.

Why hand-written: python-hcl2 (the only Python HCL2 parser) builds a data tree without source
positions, drops or relocates comments, and hands back strings as re-serialised source
fragments, so nothing can be spliced back into the original text byte for byte. This scanner
only needs the value grammar (literals, tuples, objects, heredocs, templates) plus the *extent*
of any other expression, which is a small bracket- and string-aware scan (in :mod:`.lexer`, with
comments, strings and heredocs; this module is the grammar over them).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ...errors import InputError
from ...model import Comment, Mapping, Node, Scalar, Sequence
from ...values import INT64_MAX, INT64_MIN, Value, spelling_is_exact
from .lexer import _IDENT, _MAX_DEPTH, Lexer, literal_of

META_KEY = "sops"

_NUMBER = re.compile(r"-?[0-9]+(?:(\.)[0-9]+)?(?:([eE])[+-]?[0-9]+)?")
_FAST_ATTR = re.compile(
    r'([^\W\d][\w-]*)[ \t]*=[ \t]*(?:("[^"\\$%\n]*")|(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(true|false|null))'
    r"(?![\w.])[ \t]*(#[^\n]*|//[^\n]*)?\r?(?=\n|\Z)"
)
_SIMPLE_ITEM = r'(?:"[^"\\$%\n]*"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![\w.])|(?:true|false|null)(?![\w.]))'
# a one-line list of simple literals, e.g. ["a", "b"]: common enough to skip the general path
_FAST_LIST = re.compile(rf"\[[ \t]*(?:{_SIMPLE_ITEM}[ \t]*,[ \t]*)*(?:{_SIMPLE_ITEM}[ \t]*)?\]")
_FAST_ITEM = re.compile(_SIMPLE_ITEM)
_SIMPLE_STRING = re.compile(r'"[^"\\$%\n]*"')
_LITERAL_END = frozenset(("\n", "", ",", "]", "}"))


class Ref:
    """Where a leaf's value expression sits in the source, and what it parsed to; ``key`` is
    where its key starts when it is a mapping item (for editing). (Plain classes, not
    dataclasses: the dataclasses module costs ~8 ms of every start that reads a tfvars file.)"""

    __slots__ = ("start", "end", "orig", "key")

    def __init__(self, start: int, end: int, orig: Value, key: int = -1) -> None:
        self.start = start
        self.end = end
        self.orig = orig
        self.key = key


class CRef:
    """Where an object or tuple sits (``{`` or ``[`` to after its closing bracket; the whole
    text for the top-level body), and where its key starts when it is a mapping item."""

    __slots__ = ("start", "end", "key")

    def __init__(self, start: int, end: int, key: int = -1) -> None:
        self.start = start
        self.end = end
        self.key = key


class Parser(Lexer):
    """The value grammar (attributes, literals, tuples, objects) over the lexer's tokens."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.leaves: list[tuple[Scalar, Ref]] = []

    def after_item(self, items: list[Any], found: list[Node], keyed: bool) -> None:
        """Add the comments found after the last item. A ``#``/``//`` comment on the line a leaf
        item starts on is that item's inline comment: it goes before the item (where YAML's
        reader, and sops, put a line's comment), so that it travels with it in a merge."""
        node = (items[-1][1] if keyed else items[-1]) if items else None
        for c in found:
            ref, span = node.ref if isinstance(node, Scalar) else None, c.ref
            if isinstance(c, Comment) and isinstance(ref, Ref) and not self.text.startswith("/*", span[0]) \
                    and self.text.find("\n", ref.key if ref.key >= 0 else ref.start, span[0]) < 0:
                c.inline, node = True, None  # (one comment ends a line)
                items.insert(len(items) - 1, (None, c) if keyed else c)
            else:
                items.append((None, c) if keyed else c)

    # -- body ---------------------------------------------------------------------------------

    def body(self) -> tuple[Mapping, dict[str, Any] | None, tuple[int, int] | None]:
        doc = Mapping(ref=CRef(-1, self.n))
        meta: dict[str, Any] | None = None
        meta_span: tuple[int, int] | None = None
        text, i = self.text, 0
        while True:
            found: list[Node] = []
            i = self.skip(i, True, found)
            if found:
                doc.items.extend((None, c) for c in found)
            if i >= self.n:
                break
            m = _FAST_ATTR.match(text, i)
            if m and m.group(1) != META_KEY:  # `name = literal [# comment]`: most lines of a real file
                i = self.fast_attr(m, doc)
                continue
            m = _IDENT.match(text, i)
            if not m:
                raise self.fail(i, "expected an attribute name")
            name, name_start = m.group(), i
            i = self.skip(m.end(), False)
            if i >= self.n or text[i] != "=" or text.startswith("==", i):
                if i < self.n and text[i] in '{"' or _IDENT.match(text, i):
                    raise self.fail(name_start, "a block (tfvars files hold attribute assignments only)")
                raise self.fail(i, "expected '=' after the attribute name")
            found = []
            i = self.skip(i + 1, False, found)
            mark = len(self.leaves)
            node, i = self.value(i, 0)
            if name == META_KEY and isinstance(node, Mapping) and meta_span is None:
                del self.leaves[mark:]  # the metadata is not part of the data
                meta = meta_data(node)
                meta_span = (name_start, i)
            else:
                if found:
                    doc.items.extend((None, c) for c in found)
                node.ref.key = name_start
                doc.items.append((name, node))
            found = []
            i = self.skip(i, False, found)
            if found:
                self.after_item(doc.items, found, True)
            if i < self.n and text[i] != "\n":
                raise self.fail(i, "unexpected text after an attribute value")
        self.check_repeats(doc)
        return doc, meta, meta_span

    def check_repeats(self, doc: Mapping) -> None:
        """An attribute set twice is an error for terraform ("Attribute redefined"), and set/unset
        could change only one of the two: refused, naming both lines."""
        seen: dict[str, int | None] = {}  # where each was set (its line is counted only for the error)
        for name, node in doc.items:
            if name is None:
                continue
            at = getattr(node.ref, "key", None)
            if name in seen:
                first, here = (self.line(p) if isinstance(p, int) else 0 for p in (seen[name], at))
                raise InputError(f"tfvars: the attribute {name!r} is set twice (lines {first} and {here}); "
                                 "terraform refuses that too")
            seen[name] = at if isinstance(at, int) else None

    def fast_attr(self, m: re.Match[str], doc: Mapping) -> int:
        name, q, num, word, comment = m.group(1, 2, 3, 4, 5)
        if q is not None:
            start = m.start(2)
            node = self.leaf(q[1:-1], None, start, start + len(q))
        elif num is not None:
            nm = _NUMBER.match(self.text, m.start(3))
            assert nm is not None
            node = self.number(nm, m.start(3)) or self.leaf("${" + num + "}", None, m.start(3), m.end(3))
        else:
            node = self.leaf(None if word == "null" else word == "true", None, m.start(4), m.end(4))
        node.ref.key = m.start(1)
        doc.items.append((name, node))
        if comment is not None:
            self.after_item(doc.items, [Comment(comment[1 if comment[0] == "#" else 2:].rstrip("\r"),
                                                ref=(m.start(5), m.end(5)))], True)
        end = m.end()
        return end + 1 if end < self.n else end  # and the newline

    # -- expressions --------------------------------------------------------------------------

    def value(self, i: int, depth: int) -> tuple[Node, int]:
        """Parse the expression at ``i``: a literal leaf, a collection, or any other expression
        (kept as one leaf whose value is ``${source}``)."""
        if depth > _MAX_DEPTH:
            raise self.fail(i, "values nested too deeply")
        text = self.text
        if i >= self.n or text[i] in "\n,]})":
            raise self.fail(i, "missing value")
        c = text[i]
        mark = len(self.leaves)
        node: Node | None = None
        end = i
        if c == '"':
            m = _SIMPLE_STRING.match(text, i)
            if m:
                end, s = m.end(), m.group()[1:-1]
            else:
                end, s = self.quoted(i)
            node = self.leaf(s, None, i, end)
        elif text.startswith("<<", i):
            end, s = self.heredoc(i)
            node = self.leaf(s, None, i, end)
        elif c == "[" and not self.starts_for(i + 1):
            node, end = self.parse_list(i, depth)
        elif c == "{" and not self.starts_for(i + 1):
            node, end = self.parse_object(i, depth)
        else:
            m = _NUMBER.match(text, i)
            if m:
                end = m.end()
                node = self.number(m, i)
            else:
                m = _IDENT.match(text, i)
                if m and m.group() in ("true", "false", "null"):
                    end = m.end()
                    word = m.group()
                    node = self.leaf(None if word == "null" else word == "true", None, i, end)
        if node is not None and self.peek_end(end) in _LITERAL_END:
            return node, end
        # Not a literal (or a literal followed by an operator, index...): one opaque expression.
        del self.leaves[mark:]
        end = self.expr_end(i)
        return self.leaf("${" + text[i:end] + "}", None, i, end), end

    def leaf(self, value: Value, spelling: str | None, start: int, end: int) -> Scalar:
        ref = Ref(start, end, value)
        s = Scalar(value, spelling, ref=ref)
        self.leaves.append((s, ref))
        return s

    def number(self, m: re.Match[str], start: int) -> Scalar | None:
        src = m.group()
        v: int | float
        if m.group(1) is None and m.group(2) is None and INT64_MIN <= int(src) <= INT64_MAX:
            v = int(src)
        else:
            v = float(src)
            if math.isinf(v):
                return None  # Terraform numbers are arbitrary precision; keep it as an expression
        exact = (type(v) is int and src == str(v)) or spelling_is_exact(src, v)
        return self.leaf(v, src if exact else None, start, m.end())

    def peek_end(self, i: int) -> str:
        """The character that follows a literal on its line (after blanks and comments)."""
        if i < self.n and self.text[i] in "\n,]}":
            return self.text[i]
        i = self.skip(i, False)
        return self.text[i] if i < self.n else ""

    def starts_for(self, i: int) -> bool:
        i = self.skip(i, True)
        m = _IDENT.match(self.text, i)
        return m is not None and m.group() == "for"

    def parse_list(self, i: int, depth: int) -> tuple[Sequence, int]:
        seq, text, start = Sequence(ref=CRef(i, i)), self.text, i
        m = _FAST_LIST.match(text, i)
        if m:
            for item in _FAST_ITEM.finditer(text, i + 1, m.end() - 1):
                node, _ = self.value(item.start(), depth + 1)
                seq.items.append(node)
            seq.ref.end = m.end()
            return seq, m.end()
        i += 1
        while True:
            found: list[Node] = []
            i = self.skip(i, True, found)
            self.after_item(seq.items, found, False)
            if i >= self.n:
                raise self.fail(start, "unterminated list")
            if text[i] == "]":
                seq.ref.end = i + 1
                return seq, i + 1
            node, i = self.value(i, depth + 1)
            seq.items.append(node)
            found = []
            i = self.skip(i, True, found)
            self.after_item(seq.items, found, False)
            if i < self.n and text[i] == ",":
                i += 1
            elif i < self.n and text[i] == "]":
                seq.ref.end = i + 1
                return seq, i + 1
            else:
                raise self.fail(i, "expected ',' or ']' in a list")

    def parse_object(self, i: int, depth: int) -> tuple[Mapping, int]:
        obj, text, start = Mapping(ref=CRef(i, i)), self.text, i
        i += 1
        while True:
            found: list[Node] = []
            i = self.skip(i, True, found)
            self.after_item(obj.items, found, True)
            if i >= self.n:
                raise self.fail(start, "unterminated object")
            c = text[i]
            if c == "}":
                obj.ref.end = i + 1
                return obj, i + 1
            if c == ",":
                i += 1
                continue
            key_start = i
            if c == '"':
                i, key = self.quoted(i)
            elif c == "(":
                j = self.expr_end(i + 1)
                if j >= self.n or text[j] != ")":
                    raise self.fail(i, "unterminated object key expression")
                key, i = "${" + text[i + 1:j] + "}", j + 1
            else:
                m = _IDENT.match(text, i) or _NUMBER.match(text, i)
                if not m:
                    raise self.fail(i, "expected an object key")
                key, i = m.group(), m.end()
            i = self.skip(i, False)
            if i >= self.n or text[i] not in "=:" or text.startswith("==", i):
                raise self.fail(i, "expected '=' or ':' after an object key")
            found = []
            i = self.skip(i + 1, False, found)
            obj.items.extend((None, cm) for cm in found)
            node, i = self.value(i, depth + 1)
            node.ref.key = key_start
            obj.items.append((key, node))

def meta_data(node: Node) -> Any:
    if isinstance(node, Scalar):
        return literal_of(node.value) if isinstance(node.value, str) else node.value
    if isinstance(node, Mapping):
        return {k: meta_data(v) for k, v in node.items if k is not None}
    if isinstance(node, Sequence):
        return [meta_data(v) for v in node.items if not isinstance(v, Comment)]
    return None

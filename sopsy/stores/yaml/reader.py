"""Reading YAML into the document model, with refs into the source text.

libyaml's event parser (PyYAML's C binding) reports where every node starts and ends; the
:class:`_Reader` turns its events into model nodes, one method per event kind, and attributes
comments (which libyaml does not report) from their positions in the text.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ...cipher import is_encrypted_value
from ...errors import InputError
from ...model import Comment, Mapping, Node, Scalar, Sequence, to_data
from ...yamlscalar import NULLS, resolve, resolve_plain
from .hints import exact_spelling
from .refs import CommentRef, CRef, DocInfo, ParsedYaml, SRef, without_comments
from .sopsblock import MAX_DEPTH, MetadataReader, allowed_alias_ratio, count_nodes

try:  # libyaml is what makes this fast; the pure-Python parser gives the same marks
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]

_ScalarEvent = yaml.ScalarEvent
_AliasEvent = yaml.AliasEvent
_MappingStart = yaml.MappingStartEvent
_SequenceStart = yaml.SequenceStartEvent
_MappingEnd = yaml.MappingEndEvent
_SequenceEnd = yaml.SequenceEndEvent
_DocStart = yaml.DocumentStartEvent
_DocEnd = yaml.DocumentEndEvent
_StreamEnd = yaml.StreamEndEvent

_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")
# first characters of plain scalars that may resolve to something other than a string
_MAYBE_TYPED = frozenset("+-.0123456789~nNtTfF") | {""}
_PROP_TOKEN = re.compile(r"[&!]\S*")
_COMMENT = re.compile(r"#")


def read(parsed: ParsedYaml) -> None:
    """Fill ``parsed`` from its text (raises PyYAML's errors, NotResolvable, InputError)."""
    text = parsed.text
    if _ODD_BREAKS.search(text):
        # libyaml (YAML 1.1) reads NEL/LS/PS as line breaks, YAML 1.2 readers such as
        # go-yaml do not: the same file would mean different data to sopsy and sops
        raise InputError("the file contains a raw U+0085/U+2028/U+2029 character, which YAML "
                         "parsers read differently; write it escaped in a double-quoted string")
    if text.startswith("\ufeff"):
        # libyaml leaves a leading byte-order mark out of its marks (the pure parser counts
        # it, as Python's string indexes do): splicing needs the pure parser's marks
        _Reader(parsed, yaml.SafeLoader(text)).run()
        return
    try:
        _Reader(parsed, _Parser(text)).run()
    except yaml.scanner.ScannerError as exc:
        # libyaml is stricter than the YAML spec about tabs in block scalars; PyYAML's
        # pure-Python parser reads those (and reports the same marks, only slower). Any
        # other scanner error stands: the pure parser accepts some YAML sops refuses.
        if "tab character" not in str(exc):
            raise
        fresh = ParsedYaml(text)
        _Reader(fresh, yaml.SafeLoader(text)).run()
        parsed.__dict__.update(fresh.__dict__)


def _props_end(text: str, start: int, limit: int) -> int:
    pos = start
    while pos < limit and text[pos] in "&!":
        m = _PROP_TOKEN.match(text, pos)
        if not m:
            break
        pos = m.end()
        while pos < limit and text[pos] in " \t\r\n":
            pos += 1
    return pos


def _skip(ev: Any) -> None:
    pass  # an event that changes nothing (stream start)


def _block_region_end(text: str, body: int, end: int) -> int:
    """End of the last content line of a block scalar (its trailing blank lines stay outside)."""
    header_end = text.find("\n", body, end)
    if header_end < 0:
        return end
    e = end
    while e > header_end + 1:
        line_start = text.rfind("\n", header_end, e - 1) + 1
        if line_start <= header_end:
            break
        if text[line_start:e].strip(" \t\r\n"):
            break
        e = line_start
    return e


class _Open:
    """A collection being read: its node, the key waiting for its value, that key's column."""

    __slots__ = ("node", "key", "key_at", "column", "flow", "seen", "is_map")

    def __init__(self, node: Mapping | Sequence, column: int, flow: bool) -> None:
        self.node = node
        self.key: str | None = None
        self.key_at = 0  # where that key starts
        self.column = column  # the collection's column, then each key's
        self.flow = flow
        self.seen: dict[str, int] = {}  # key -> where it starts
        self.is_map = type(node) is Mapping


class _Reader:
    """One pass over the parser's events; the loop state lives here, one method per event kind."""

    def __init__(self, parsed: ParsedYaml, parser: Any) -> None:
        self.parsed = parsed
        self.parser = parser
        self.text = text = parsed.text
        self.comment_pos = [m.start() for m in _COMMENT.finditer(text)] if "#" in text else []
        self.cptr = 0
        self.stack: list[_Open] = []
        self.doc: DocInfo | None = None
        self.last_end = 0
        self.last_line_end = -1  # the text index where the line of the last completed value ends
        self.meta: MetadataReader | None = None  # while inside a `sops:` item
        self.pending: list[Comment] = []  # comments for a collection not yet opened
        self.nodes = 0  # nodes read from the text (counted per collection and per value)
        self.expanded = 0  # nodes copied by alias expansion
        self.sizes: dict[int, int] = {}  # node count of anchored nodes, by id

    def run(self) -> None:
        text = self.text
        stack = self.stack
        comment_pos = self.comment_pos
        ncomments = len(comment_pos)
        get_event = self.parser.get_event
        handlers = {_MappingStart: self._open, _SequenceStart: self._open, _MappingEnd: self._close,
                    _SequenceEnd: self._close, _AliasEvent: self._alias, _DocStart: self._document_start,
                    _DocEnd: self._document_end}
        while True:
            ev = get_event()
            cls = type(ev)
            start = ev.start_mark.index
            if self.cptr < ncomments and comment_pos[self.cptr] < start:
                self._comments_before(start, cls is _MappingStart or cls is _SequenceStart)
            if cls is not _ScalarEvent:
                if cls is _StreamEnd:
                    break
                handlers.get(cls, _skip)(ev)
                continue
            top = stack[-1] if stack else None
            if top is None or self.meta is not None:
                self._scalar_not_leaf(ev, top)
                continue
            if top.key is None and top.is_map:
                self._key(ev, top, start)
                continue
            # a leaf value, inline: this runs once per value of the file
            end = ev.end_mark.index
            src = ev.value
            style = ev.style or None  # libyaml reports plain as ""
            tag = ev.tag
            body = _props_end(text, start, end) if (ev.anchor or tag) else start
            region_end = _block_region_end(text, body, end) if style == "|" or style == ">" else end
            ref = SRef(start, body, region_end, style, top.flow, top.column)
            if src.startswith("ENC[AES256_GCM,"):
                ref.enc = src  # as read (a block scalar's keeps its newline); iv_of copes
            if tag is None:
                value = resolve_plain(src) if style is None else src
            else:
                value = resolve(src, tag, style is None)
            if value is src or value is None or style is not None:
                node = Scalar(value, None, None, ref)
            else:
                node = Scalar(value, exact_spelling(src, value), None, ref)
            if top.is_map:  # _add, inlined
                key = top.key
                if key in top.seen:
                    self._duplicate(top)
                top.seen[key] = top.key_at  # type: ignore[index]
                top.node.items.append((key, node))  # type: ignore[arg-type]
                top.key = None
            else:
                top.node.items.append(node)  # type: ignore[arg-type]
                self.nodes += 1  # (a mapping's values are counted with their keys)
            self.last_end = end
            if ncomments:
                # a block scalar's lines end before the next line: no comment can share them
                le = region_end if style == "|" or style == ">" else text.find("\n", end)
                self.last_line_end = le if le >= 0 else len(text)
            if ev.anchor and self.doc is not None:
                self.doc.anchors[ev.anchor] = node

    # -- comments ---------------------------------------------------------------------------

    def _comments_before(self, start: int, opens_collection: bool) -> None:
        """Comments lying in the gap before the event at ``start`` belong to the open container."""
        text = self.text
        comment_pos = self.comment_pos
        ncomments = len(comment_pos)
        while self.cptr < ncomments and comment_pos[self.cptr] < start:
            cpos = comment_pos[self.cptr]
            self.cptr += 1
            if cpos < self.last_end:
                continue  # a '#' inside a value
            eol = text.find("\n", cpos)
            if eol < 0:
                eol = len(text)
            while self.cptr < ncomments and comment_pos[self.cptr] < eol:
                self.cptr += 1  # a '#' inside this comment (`# see http://x/#frag`) starts none
            body_end = eol - 1 if eol > cpos and text[eol - 1] == "\r" else eol
            ctext = text[cpos + 1:body_end]
            comment = Comment(ctext, ctext if is_encrypted_value(ctext) else None,
                              CommentRef(cpos + 1, body_end, ctext))
            if self.meta is not None:
                continue
            if not self.stack or self.doc is None:
                self.pending.append(comment)  # before the root mapping starts
                continue
            self._place_comment(comment, cpos, opens_collection)

    def _place_comment(self, comment: Comment, cpos: int, opens_collection: bool) -> None:
        top = self.stack[-1]
        container = top.node
        if isinstance(container, Mapping):
            if opens_collection and top.key is not None and self.text.find("\n", self.last_end, cpos) >= 0:
                # below `key:` and before its block value's first item: a head comment of that
                # item, inside the new collection (as go-yaml attaches it)
                self.pending.append(comment)
            elif cpos < self.last_line_end and container.items and top.key is None:
                # a comment on the line of the last value: sops puts it before that item
                comment.inline = self._on_line_of(container.items[-1][1], cpos)
                container.items.insert(len(container.items) - 1, (None, comment))
            else:
                self._set_depth(comment, cpos)
                container.items.append((None, comment))
        elif cpos < self.last_line_end and container.items:
            comment.inline = self._on_line_of(container.items[-1], cpos)
            container.items.insert(len(container.items) - 1, comment)
        else:
            self._set_depth(comment, cpos)
            container.items.append(comment)

    def _set_depth(self, comment: Comment, cpos: int) -> None:
        """A comment ending a nested block stays with it here, but go-yaml (so sops) gives it to
        the block its column is in: the keys of that block's path are the comment's AAD when
        sops encrypts it. (A changed comment under the deeper path was unreadable to sops.)"""
        column = cpos - self.text.rfind("\n", 0, cpos) - 1
        level = len(self.stack) - 1
        while level > 0 and not self.stack[level].flow and self.stack[level].column > column:
            level -= 1
        if level < len(self.stack) - 1:
            comment.depth = sum(1 for o in self.stack[:level] if o.is_map)

    def _on_line_of(self, node: Node, cpos: int) -> bool:
        """Whether a comment at ``cpos`` ends the line a scalar starts on (not below a block)."""
        ref = node.ref
        return isinstance(node, Scalar) and isinstance(ref, SRef) and self.text.find("\n", ref.start, cpos) < 0

    # -- scalars ----------------------------------------------------------------------------

    def _scalar_not_leaf(self, ev: Any, top: _Open | None) -> None:
        """A scalar in the metadata block, or a whole document."""
        if self.meta is not None:
            self.last_end = ev.end_mark.index
            if self.meta.scalar(ev):
                self._metadata_done()
        else:
            self._root_scalar(ev)

    def _key(self, ev: Any, top: _Open, start: int) -> None:
        key = ev.value
        # only a plain key that could resolve to a non-string needs the resolver
        if not ev.style and ev.tag is None and key[:1] in _MAYBE_TYPED and key != "<<" and (
                key in NULLS or not isinstance(resolve(key, None, True), str)):
            self.parsed.nonstring_key = True
        top.key = key
        top.key_at = start
        top.column = ev.start_mark.column
        self.last_end = ev.end_mark.index
        self.nodes += 2  # the key and its value
        doc = self.doc
        if len(self.stack) == 1 and key == "sops" and doc is not None:
            self._metadata_start(doc, ev.start_mark.index)

    def _duplicate(self, top: _Open) -> None:
        """A key the mapping already has: refused as sops refuses it, naming both lines."""
        key = top.key
        assert key is not None
        text = self.text
        first = text.count("\n", 0, top.seen[key]) + 1
        again = text.count("\n", 0, top.key_at) + 1
        import json

        raise InputError(f"invalid YAML: line {again}: mapping key {json.dumps(key, ensure_ascii=False)} "
                         f"already defined at line {first}")

    def _root_scalar(self, ev: Any) -> None:
        if ev.value == "" and not ev.style and self.doc is not None:
            # an empty document: an empty mapping that can hold the metadata
            start = ev.start_mark.index
            self.doc.root = Mapping(ref=CRef(start, start, False))
            self.doc.root.items.extend((None, c) for c in self.pending)
            self.pending = []
            self.last_end = ev.end_mark.index
            return
        raise InputError("a YAML document must be a mapping at its top level")

    def _add(self, top: _Open, node: Node) -> None:
        if top.is_map:
            key = top.key
            if key is None:  # `? [a, b]` or `{[a]: v}`: sops cannot read such a key either
                at = getattr(node.ref, "start", 0)
                raise InputError(f"invalid YAML: line {self.text.count(chr(10), 0, at) + 1}: a mapping key "
                                 "must be a plain scalar, not a list or a mapping")
            if key in top.seen:
                self._duplicate(top)
            top.seen[key] = top.key_at
            top.node.items.append((key, node))  # type: ignore[arg-type]
            top.key = None
        else:
            top.node.items.append(node)  # type: ignore[arg-type]

    # -- collections and aliases ------------------------------------------------------------

    def _open(self, ev: Any) -> None:
        is_map = type(ev) is _MappingStart
        if self.meta is not None:
            self.meta.open(ev, is_map)
            return
        flow = bool(ev.flow_style)
        cref = CRef(ev.start_mark.index, ev.start_mark.index, flow, None, ev.anchor)
        coll: Mapping | Sequence = Mapping(ref=cref) if is_map else Sequence(ref=cref)
        doc = self.doc
        assert doc is not None
        if not self.stack:
            if not isinstance(coll, Mapping):
                raise InputError("a YAML document must be a mapping at its top level")
            doc.root = coll
            doc.column = ev.start_mark.column
            doc.flow_root = flow
        else:
            self._add(self.stack[-1], coll)
        if self.pending:
            if isinstance(coll, Mapping):
                coll.items.extend((None, c) for c in self.pending)
            else:
                coll.items.extend(self.pending)
            self.pending = []
        if ev.anchor:
            doc.anchors[ev.anchor] = coll
        self.stack.append(_Open(coll, ev.start_mark.column, flow))
        self.nodes += 1
        if len(self.stack) > self.parsed.depth:
            self.parsed.depth = len(self.stack)
            if self.parsed.depth > MAX_DEPTH:
                # libyaml's own limit; the pure-Python parser (used for a few files) has none
                raise InputError(f"invalid YAML: the document nests deeper than {MAX_DEPTH} levels")

    def _close(self, ev: Any) -> None:
        if self.meta is not None:
            if self.meta.close(ev):
                self._metadata_done()
            return
        entry = self.stack.pop()
        entry.node.ref.end = ev.end_mark.index
        if entry.is_map:
            entry.node.ref.keys = entry.seen
        doc = self.doc
        if not self.stack and doc is not None and doc.flow_root:
            doc.flow_insert = self.last_end
        self.last_end = ev.end_mark.index

    def _alias(self, ev: Any) -> None:
        stack = self.stack
        if stack and stack[-1].is_map and stack[-1].key is None and self.meta is None:
            raise InputError("an alias used as a mapping key is not supported")
        doc = self.doc
        assert doc is not None
        target = doc.anchors.get(ev.anchor)
        if target is None:
            raise InputError("an alias refers to an unknown anchor")
        self._budget_alias(target)
        if self.meta is not None:
            if self.meta.alias(to_data(target)):
                self._metadata_done()
            return
        end = ev.end_mark.index
        copy = without_comments(target, CRef(ev.start_mark.index, end, True, ev.anchor))
        doc.aliases.append(copy)
        self._add(stack[-1], copy)
        self.last_end = end

    def _budget_alias(self, target: Node) -> None:
        """Refuse alias bombs ("billion laughs") before expanding them, with go-yaml's rule (so
        what sops reads, sopsy reads): past 1,000 nodes, at most 99 % of them may come from
        alias expansion in documents up to 400,000 nodes, falling to 10 % at 4,000,000."""
        size = self.sizes.get(id(target))
        if size is None:
            size = self.sizes[id(target)] = count_nodes(target)
        self.expanded += size
        total = self.nodes + self.expanded
        if self.expanded > 100 and total > 1000 and self.expanded / total > allowed_alias_ratio(total):
            raise InputError("invalid YAML: the document contains excessive aliasing (its aliases expand "
                             f"to more than {self.expanded} nodes)")

    # -- documents and the metadata block ---------------------------------------------------

    def _document_start(self, ev: Any) -> None:
        self.doc = DocInfo()
        self.parsed.docs.append(self.doc)

    def _document_end(self, ev: Any) -> None:
        doc = self.doc
        assert doc is not None
        doc.insert_at = ev.start_mark.index
        if doc.root is None:
            if doc.insert_at == 0 and not self.text.strip():
                self.parsed.docs.pop()
            else:
                raise InputError("a YAML document must be a mapping at its top level (found an empty document)")
        else:
            self.parsed.documents.append(doc.root)
        self.last_end = ev.end_mark.index

    def _metadata_start(self, doc: DocInfo, start: int) -> None:
        text = self.text
        if doc.flow_root:  # `{..., sops: {...}}`: the item goes with its comma
            comma = text.rfind(",", 0, start)
            doc.sops_region = (comma if comma >= 0 and not text[comma + 1:start].strip() else start, 0)
        else:
            doc.sops_region = (text.rfind("\n", 0, start) + 1, 0)
        self.meta = MetadataReader()

    def _metadata_done(self) -> None:
        meta, doc, text = self.meta, self.doc, self.text
        assert meta is not None and doc is not None and doc.sops_region is not None
        self.meta = None
        if self.parsed.metadata is None:
            self.parsed.metadata = meta.metadata()
        end = meta.last_end
        if not doc.flow_root and end < len(text) and text[end - 1] != "\n":
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
        doc.sops_region = (doc.sops_region[0], end)
        self.stack[-1].key = None

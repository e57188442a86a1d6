"""The YAML store: byte-exact by construction.

sops re-emits YAML through go-yaml, which re-indents, moves comments, expands anchors and
respells numbers. sopsy never re-emits what it did not change: libyaml's event parser
(PyYAML's C binding) reports where every scalar starts and ends, and encryption splices each
value's ``ENC[...]`` into the original text in the value's own style (plain, quoted, or a
``|``/``>`` block whose header is kept). Decryption splices the plaintext back: derived from
the value and that style, or — where the source spelling cannot be derived (``0777``,
``"\\u00e9"``, folded lines, an alias) — from the encrypted ``sopsy_layout`` hint.

Anchors and aliases: sops expands an alias and decrypts each occurrence under its own path, so
an alias of an encrypted value cannot stay an alias. In the encrypted file such an alias is
written out as a flow-style copy encrypted under its own path; sopsy's decrypt turns it back
into the alias when the copy still equals the anchored node (else keeps the copy, so data is
never changed). See docs/yaml-format.md.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..cipher import is_encrypted_value, iv_of
from ..errors import EncryptTreeError, InputError, NoDocument
from ..model import Comment, Mapping, Node, Scalar, Sequence, to_data
from ..values import Value, same_value, spelling_is_exact, to_bytes
from ..yamlscalar import (
    NULLS,
    NotResolvable,
    double_quoted,
    literal_lines_ok,
    plain_ok,
    resolve,
    resolve_plain,
    scalar_text,
    single_quoted,
    single_quoted_ok,
    typed_text,
)

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

_STR_TAG = "tag:yaml.org,2002:str"
_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")
# first characters of plain scalars that may resolve to something other than a string
_MAYBE_TYPED = frozenset("+-.0123456789~nNtTfF") | {""}
_PROP_TOKEN = re.compile(r"[&!]\S*")
_COMMENT = re.compile(r"#")
_BLOCK_HEADER_INDENT = re.compile(r"([|>])([1-9]?)([+-]?)([1-9]?)")


class SRef:
    """Where a scalar sits in the source."""

    __slots__ = ("start", "body", "end", "style", "flow", "indent", "enc")

    def __init__(self, start: int, body: int, end: int, style: str | None, flow: bool, indent: int) -> None:
        self.start = start  # first character of the node, properties included
        self.body = body  # first character after anchor/tag
        self.end = end  # end of the replaceable region (block scalars: without trailing blank lines)
        self.style = style
        self.flow = flow
        self.indent = indent  # column of the owning key or "-"
        self.enc: str | None = None  # the ENC[...] string the source holds here, if any


class CRef:
    """Where a collection (or an alias) sits in the source."""

    __slots__ = ("start", "end", "flow", "alias", "anchor")

    def __init__(self, start: int, end: int, flow: bool, alias: str | None = None, anchor: str | None = None) -> None:
        self.start = start
        self.end = end
        self.flow = flow
        self.alias = alias
        self.anchor = anchor


class CommentRef:
    __slots__ = ("start", "end", "original")

    def __init__(self, start: int, end: int, original: str) -> None:
        self.start = start
        self.end = end
        self.original = original


class DocInfo:
    __slots__ = ("root", "insert_at", "sops_region", "column", "flow_root", "flow_insert", "anchors", "aliases")

    def __init__(self) -> None:
        self.root: Mapping | None = None
        self.insert_at = 0
        self.sops_region: tuple[int, int] | None = None
        self.column = 0
        self.flow_root = False
        self.flow_insert = 0  # a flow root ({...}): where its last item ends
        self.anchors: dict[str, Node] = {}
        self.aliases: list[Node] = []  # expanded copies standing where the source has an alias


class ParsedYaml:
    def __init__(self, text: str) -> None:
        self.text = text
        self.documents: list[Mapping] = []
        self.metadata: dict[str, Any] | None = None
        self.docs: list[DocInfo] = []
        self.nonstring_key = False
        self.duplicate_key = False


def _clone(node: Node, ref: Any) -> Node:
    if isinstance(node, Scalar):
        return Scalar(node.value, node.spelling, None, ref)
    if isinstance(node, Mapping):
        return Mapping([(k, _clone(v, None)) for k, v in node.items if not isinstance(v, Comment)], ref)
    if isinstance(node, Sequence):
        return Sequence([_clone(v, None) for v in node.items if not isinstance(v, Comment)], ref)
    return node


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


def _block_region_end(text: str, header_end: int, end: int) -> int:
    """End of the last content line of a block scalar (its trailing blank lines stay outside)."""
    e = end
    while e > header_end + 1:
        line_start = text.rfind("\n", header_end, e - 1) + 1
        if line_start <= header_end:
            break
        if text[line_start:e].strip(" \t\r\n"):
            break
        e = line_start
    return e


class YamlStore:
    name = "yaml"

    # -- parsing ---------------------------------------------------------------------------

    def parse(self, text: str) -> ParsedYaml:
        parsed = ParsedYaml(text)
        try:
            self._parse(parsed)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InputError(f"invalid YAML{where}: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise InputError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else 'parse error'}") from None
        except NotResolvable as exc:
            raise InputError(f"invalid YAML value: {exc}") from None
        except UnicodeError:
            # bytes that are not UTF-8 arrive as surrogate escapes, which libyaml cannot take
            raise InputError("invalid YAML: the file is not valid UTF-8") from None
        if not parsed.docs:
            raise NoDocument("the file has no YAML document")
        if parsed.nonstring_key:
            raise EncryptTreeError("the file has a mapping key that is not a string (sops supports only string keys)")
        if parsed.duplicate_key:
            raise EncryptTreeError("the file has a duplicate mapping key")
        return parsed

    def _parse(self, parsed: ParsedYaml) -> None:
        if _ODD_BREAKS.search(parsed.text):
            # libyaml (YAML 1.1) reads NEL/LS/PS as line breaks, YAML 1.2 readers such as
            # go-yaml do not: the same file would mean different data to sopsy and sops
            raise InputError("the file contains a raw U+0085/U+2028/U+2029 character, which YAML "
                             "parsers read differently; write it escaped in a double-quoted string")
        if parsed.text.startswith("\ufeff"):
            # libyaml leaves a leading byte-order mark out of its marks (the pure parser counts
            # it, as Python's string indexes do): splicing needs the pure parser's marks
            self._parse_with(parsed, yaml.SafeLoader(parsed.text))
            return
        try:
            self._parse_with(parsed, _Parser(parsed.text))
        except yaml.scanner.ScannerError as exc:
            # libyaml is stricter than the YAML spec about tabs in block scalars; PyYAML's
            # pure-Python parser reads those (and reports the same marks, only slower). Any
            # other scanner error stands: the pure parser accepts some YAML sops refuses.
            if "tab character" not in str(exc):
                raise
            fresh = ParsedYaml(parsed.text)
            self._parse_with(fresh, yaml.SafeLoader(parsed.text))
            parsed.__dict__.update(fresh.__dict__)

    def _parse_with(self, parsed: ParsedYaml, parser: Any) -> None:
        text = parsed.text
        comment_pos = [m.start() for m in _COMMENT.finditer(text)] if "#" in text else []
        cptr = 0
        ncomments = len(comment_pos)
        # stack entries: [container node, pending key (mappings), key column, flow]
        stack: list[list[Any]] = []
        doc: DocInfo | None = None
        last_end = 0
        last_line_end = -1  # the text index where the line of the last completed value ends
        sops_depth = -1
        sops_last_end = 0
        sops_data_stack: list[Any] = []
        pending_comments: list[Comment] = []

        get_event = parser.get_event
        while True:
            ev = get_event()
            cls = type(ev)
            start = ev.start_mark.index
            # comments lying in the gap before this event belong to the open container
            if cptr < ncomments and comment_pos[cptr] < start:
                while cptr < ncomments and comment_pos[cptr] < start:
                    cpos = comment_pos[cptr]
                    cptr += 1
                    if cpos < last_end:
                        continue
                    eol = text.find("\n", cpos)
                    if eol < 0:
                        eol = len(text)
                    body_end = eol - 1 if eol > cpos and text[eol - 1] == "\r" else eol
                    ctext = text[cpos + 1:body_end]
                    comment = Comment(ctext, ctext if is_encrypted_value(ctext) else None,
                                      CommentRef(cpos + 1, body_end, ctext))
                    if sops_depth >= 0:
                        continue
                    if not stack or doc is None:
                        pending_comments.append(comment)  # before the root mapping starts
                        continue
                    top = stack[-1]
                    container = top[0]
                    if (cls is _MappingStart or cls is _SequenceStart) and isinstance(container, Mapping) \
                            and top[1] is not None and text.find("\n", last_end, cpos) >= 0:
                        # below `key:` and before its block value's first item: a head comment
                        # of that item, inside the new collection (as go-yaml attaches it)
                        pending_comments.append(comment)
                        continue
                    if isinstance(container, Mapping):
                        # a comment on the line of the last value: sops puts it before that item
                        if cpos < last_line_end and container.items and top[1] is None:
                            container.items.insert(len(container.items) - 1, (None, comment))
                        else:
                            container.items.append((None, comment))
                    else:
                        if cpos < last_line_end and container.items:
                            container.items.insert(len(container.items) - 1, comment)
                        else:
                            container.items.append(comment)
            if cls is _ScalarEvent:
                end = ev.end_mark.index
                if sops_depth >= 0 and len(stack) > sops_depth:
                    top_data = sops_data_stack[-1]
                    if isinstance(top_data, dict) and "__key__" not in top_data:
                        top_data["__key__"] = ev.value
                    else:
                        self._sops_add(sops_data_stack, resolve(ev.value, ev.tag, not ev.style))
                    sops_last_end = end
                    last_end = end
                    continue
                if stack and stack[-1][1] is None and stack[-1][5]:
                    top = stack[-1]
                    key = ev.value
                    # only a plain key that could resolve to a non-string needs the resolver
                    if not ev.style and ev.tag is None and key[:1] in _MAYBE_TYPED and key != "<<" and (
                            key in NULLS or not isinstance(resolve(key, None, True), str)):
                        parsed.nonstring_key = True
                    top[1] = key
                    top[2] = ev.start_mark.column
                    if sops_depth < 0 and len(stack) == 1 and key == "sops" and doc is not None:
                        sops_depth = len(stack)
                        if doc.flow_root:  # `{..., sops: {...}}`: the item goes with its comma
                            comma = text.rfind(",", 0, start)
                            doc.sops_region = (comma if comma >= 0 and not text[comma + 1:start].strip()
                                               else start, 0)
                        else:
                            line_start = text.rfind("\n", 0, start) + 1
                            doc.sops_region = (line_start, 0)
                        sops_data_stack = [{}]
                        sops_data_stack[0]["__key__"] = key
                    last_end = end
                    continue
                if sops_depth >= 0:  # `sops:` with a scalar value
                    self._sops_add(sops_data_stack, resolve(ev.value, ev.tag, not ev.style))
                    sops_last_end = end
                    last_end = end
                    self._sops_close(parsed, doc, stack, sops_data_stack, text, sops_last_end)
                    sops_depth = -1
                    continue
                if not stack:
                    if ev.value == "" and not ev.style and doc is not None:
                        # an empty document: an empty mapping that can hold the metadata
                        doc.root = Mapping(ref=CRef(start, start, False))
                        doc.root.items.extend((None, c) for c in pending_comments)
                        pending_comments = []
                        last_end = end
                        continue
                    raise InputError("a YAML document must be a mapping at its top level")
                # a leaf value: _scalar and _add inlined, as this runs once per value
                top = stack[-1]
                src = ev.value
                style = ev.style or None  # libyaml reports plain as ""
                tag = ev.tag
                body = _props_end(text, start, end) if (ev.anchor or tag) else start
                region_end = end
                if style == "|" or style == ">":
                    header_end = text.find("\n", body, end)
                    if header_end >= 0:
                        region_end = _block_region_end(text, header_end, end)
                ref = SRef(start, body, region_end, style, top[3], top[2])
                if src.startswith("ENC[AES256_GCM,"):
                    ref.enc = src  # as read (a block scalar's keeps its newline); iv_of copes
                if tag is None:
                    value = resolve_plain(src) if style is None else src
                else:
                    value = resolve(src, tag, style is None)
                if value is src or value is None or style is not None:
                    node = Scalar(value, None, None, ref)
                else:
                    node = Scalar(value, _exact_spelling(src, value), None, ref)
                if top[5]:
                    key = top[1]
                    seen = top[4]
                    if key in seen:
                        parsed.duplicate_key = True
                    seen.add(key)
                    top[0].items.append((key, node))
                    top[1] = None
                else:
                    top[0].items.append(node)
                last_end = end
                if ncomments:
                    le = text.find("\n", end)
                    last_line_end = le if le >= 0 else len(text)
                if ev.anchor and doc is not None:
                    doc.anchors[ev.anchor] = node
            elif cls is _MappingStart or cls is _SequenceStart:
                flow = bool(ev.flow_style)
                if sops_depth >= 0:
                    sops_data_stack.append({} if cls is _MappingStart else [])
                    stack.append([None, None, 0, flow, None, False])
                    continue
                cref = CRef(start, start, flow, None, ev.anchor)
                coll: Mapping | Sequence = Mapping(ref=cref) if cls is _MappingStart else Sequence(ref=cref)
                if not stack:
                    if not isinstance(coll, Mapping):
                        raise InputError("a YAML document must be a mapping at its top level")
                    assert doc is not None
                    doc.root = coll
                    coll.items.extend((None, c) for c in pending_comments)
                    pending_comments = []
                    doc.column = ev.start_mark.column
                    doc.flow_root = flow
                else:
                    self._add(stack, coll, parsed)
                    if pending_comments:
                        if isinstance(coll, Mapping):
                            coll.items.extend((None, c) for c in pending_comments)
                        else:
                            coll.items.extend(pending_comments)
                        pending_comments = []
                if ev.anchor and doc is not None:
                    doc.anchors[ev.anchor] = coll
                indent = ev.start_mark.column
                stack.append([coll, None, indent, flow, set(), isinstance(coll, Mapping)])
            elif cls is _MappingEnd or cls is _SequenceEnd:
                if sops_depth >= 0:
                    if stack[-1][3]:  # a flow collection ends at its bracket
                        sops_last_end = ev.end_mark.index
                    stack.pop()
                    done = sops_data_stack.pop()
                    if isinstance(done, dict):
                        done.pop("__key__", None)
                    self._sops_add(sops_data_stack, done)
                    if len(stack) == sops_depth:
                        self._sops_close(parsed, doc, stack, sops_data_stack, text, sops_last_end)
                        sops_depth = -1
                    continue
                entry = stack.pop()
                node = entry[0]
                node.ref.end = ev.end_mark.index
                if not stack and doc is not None and doc.flow_root:
                    doc.flow_insert = last_end
                last_end = ev.end_mark.index
            elif cls is _AliasEvent:
                if stack and isinstance(stack[-1][0], Mapping) and stack[-1][1] is None:
                    raise InputError("an alias used as a mapping key is not supported")
                end = ev.end_mark.index
                assert doc is not None
                target = doc.anchors.get(ev.anchor)
                if target is None:
                    raise InputError("an alias refers to an unknown anchor")
                if sops_depth >= 0:
                    self._sops_add(sops_data_stack, to_data(target))
                    continue
                copy = _clone(target, CRef(start, end, True, ev.anchor))
                doc.aliases.append(copy)
                self._add(stack, copy, parsed)
                last_end = end
            elif cls is _DocStart:
                doc = DocInfo()
                parsed.docs.append(doc)
            elif cls is _DocEnd:
                assert doc is not None
                doc.insert_at = ev.start_mark.index
                if doc.root is None:
                    if doc.insert_at == 0 and not text.strip():
                        parsed.docs.pop()
                    else:
                        raise InputError("a YAML document must be a mapping at its top level (found an empty document)")
                else:
                    parsed.documents.append(doc.root)
                last_end = ev.end_mark.index
            elif cls is yaml.StreamEndEvent:
                break

    @staticmethod
    def _sops_add(data_stack: list[Any], value: Any) -> None:
        top = data_stack[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            key = top.pop("__key__", None)
            if key is not None:
                top[key] = value

    def _sops_close(self, parsed: ParsedYaml, doc: DocInfo | None, stack: list[list[Any]],
                    data_stack: list[Any], text: str, last_end: int) -> None:
        assert doc is not None and doc.sops_region is not None
        data = data_stack[0]
        data.pop("__key__", None)
        meta = data.get("sops")
        if parsed.metadata is None and isinstance(meta, dict):
            parsed.metadata = meta
        end = last_end
        if doc.flow_root:
            doc.sops_region = (doc.sops_region[0], end)
            stack[-1][1] = None
            return
        if end < len(text) and text[end - 1] != "\n":
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
        doc.sops_region = (doc.sops_region[0], end)
        stack[-1][1] = None

    @staticmethod
    def _add(stack: list[list[Any]], node: Node, parsed: ParsedYaml) -> None:
        top = stack[-1]
        container = top[0]
        if isinstance(container, Mapping):
            key = top[1]
            seen: set[str] = top[4]
            if key in seen:
                parsed.duplicate_key = True
            seen.add(key)
            container.items.append((key, node))
            top[1] = None
        else:
            container.items.append(node)

    # -- writing ---------------------------------------------------------------------------

    def render(self, parsed: ParsedYaml, metadata: dict[str, Any] | None,
               hints: dict[str, Any] | None = None) -> str:
        text = parsed.text
        first_nl = text.find("\n")
        nl = "\r\n" if first_nl > 0 and text[first_nl - 1] == "\r" else "\n"  # metadata follows the file
        edits: list[tuple[int, int, str]] = []
        for doc in parsed.docs:
            alias_ids: set[int] = set()
            if doc.root is not None:
                self._collect_alias_edits(doc, text, edits, alias_ids, hints)
                self._collect_edits(doc.root, text, edits, alias_ids, hints or {}, doc)
            if doc.flow_root:
                self._flow_root_metadata(doc, metadata, edits)
                continue
            if doc.sops_region is not None:
                s, e = doc.sops_region
                block = "" if metadata is None else self._metadata_text(metadata, doc.column, nl)
                if not block and e >= len(text) and not text.endswith("\n") and s > 0:
                    # the plaintext had no final newline: drop the one encryption added before "sops:"
                    s -= 2 if text[s - 2:s] == "\r\n" else 1
                elif block and e >= len(text) and not text.endswith("\n"):
                    block = block[:-len(nl)]
                edits.append((s, e, block))
            elif metadata is not None:
                block = self._metadata_text(metadata, doc.column, nl)
                at = doc.insert_at
                if at > 0 and text[at - 1] != "\n":
                    block = nl + block[:-len(nl)]
                edits.append((at, at, block))
        if not edits:
            return text
        edits.sort(key=lambda e: (e[0], e[1]))
        out: list[str] = []
        pos = 0
        for s, e, rep in edits:
            if s < pos:
                continue  # inside a region already replaced (an alias copy)
            out.append(text[pos:s])
            out.append(rep)
            pos = e
        out.append(text[pos:])
        return "".join(out)

    def _collect_alias_edits(self, doc: DocInfo, text: str, edits: list[tuple[int, int, str]],
                             alias_ids: set[int], hints: dict[str, Any] | None) -> None:
        for copy in doc.aliases:
            ref = copy.ref
            if any(leaf.enc for leaf in _leaves(copy)):
                edits.append((ref.start, ref.end, self._flow_text(copy)))
            alias_ids.add(id(copy))

    def _collect_edits(self, node: Node, text: str, edits: list[tuple[int, int, str]], alias_ids: set[int],
                       hints: dict[str, Any], doc: DocInfo) -> None:
        items = node.items if isinstance(node, (Mapping, Sequence)) else []
        is_map = type(node) is Mapping
        append = edits.append
        for item in items:
            child: Node = item[1] if is_map else item  # type: ignore[index,assignment]
            if alias_ids and id(child) in alias_ids:
                continue
            if type(child) is Scalar:
                ref = child.ref
                # the common decrypt case, inlined: a plain value that was ENC in the source,
                # no layout hints to consult (files sops wrote, or sopsy files needing none)
                if (not hints and child.enc is None and type(ref) is SRef and ref.enc is not None
                        and ref.style is None and ref.start == ref.body):
                    v = child.value
                    append((ref.start, ref.end, scalar_text(v, ref.indent + 2, ref.flow) if type(v) is str
                            else typed_text(v, child.spelling)))
                else:
                    self._scalar_edit(child, text, edits, hints, doc)
            elif isinstance(child, Comment):
                self._comment_edit(child, text, edits)
            else:
                if hints and isinstance(child.ref, CRef) and child.ref.flow and not child.ref.alias:
                    rep = self._alias_restore(child, text, hints, doc)
                    if rep is not None:
                        edits.append((child.ref.start, child.ref.end, rep))
                        continue
                self._collect_edits(child, text, edits, alias_ids, hints, doc)

    def _comment_edit(self, c: Comment, text: str, edits: list[tuple[int, int, str]]) -> None:
        ref = c.ref
        if isinstance(ref, CommentRef):
            if c.text != ref.original:
                edits.append((ref.start, ref.end, c.text))
        elif isinstance(ref, SRef):
            # a comment sops stored as a sequence element: back to a comment line
            dash = text.rfind("-", 0, ref.start)
            if dash >= 0 and not text[dash + 1:ref.start].strip() and not ref.flow:
                edits.append((dash, ref.end, "#" + c.text))

    def _scalar_edit(self, leaf: Scalar, text: str, edits: list[tuple[int, int, str]],
                     hints: dict[str, Any], doc: DocInfo) -> None:
        ref = leaf.ref
        if not isinstance(ref, SRef):
            return
        if leaf.enc is not None:
            if leaf.enc == "":
                return  # empty strings stay as they are
            enc_form = self._encrypted_form(leaf.enc, ref, text)
            if enc_form != text[ref.start:ref.end]:
                edits.append((ref.start, ref.end, enc_form))
            return
        enc = ref.enc
        if enc is None:
            return  # plaintext in the source and still plaintext: keep its bytes
        hint = hints.get(iv_of(enc) or "") if hints else None
        rep: str | None = None
        if isinstance(hint, str):
            if hint.startswith("*"):
                target = doc.anchors.get(hint[1:])
                if isinstance(target, Scalar) and target is not leaf and same_value(target.value, leaf.value):
                    rep = hint
            elif _hint_matches(hint + _blank_text_after(text, ref.end), leaf.value, ref.indent):
                rep = hint
        if rep is None:
            if ref.style is None and ref.start == ref.body:  # the common case, without a _Form
                v = leaf.value
                rep = scalar_text(v, ref.indent + 2, ref.flow) if type(v) is str else typed_text(v, leaf.spelling)
            else:
                rep = self._derive(leaf, ref, text)
        edits.append((ref.start, ref.end, rep))

    def _alias_restore(self, node: Node, text: str, hints: dict[str, Any], doc: DocInfo) -> str | None:
        """The ``*alias`` an encrypted flow copy came from, if the copy still equals its anchor."""
        first = next((leaf for leaf in _leaves(node) if isinstance(leaf.ref, SRef) and leaf.ref.enc), None)
        if first is None:
            return None
        enc = first.ref.enc
        hint = hints.get(iv_of(enc) or "") if enc else None
        if not isinstance(hint, str) or not hint.startswith("*"):
            return None
        target = doc.anchors.get(hint[1:])
        if target is None or target is node:
            return None
        if _same_data(to_data(target), to_data(node)):
            return hint
        return None

    def _encrypted_form(self, enc: str, ref: SRef, text: str) -> str:
        props = _kept_props(text[ref.start:ref.body])
        style = ref.style
        if style in ("|", ">"):
            header_end = text.find("\n", ref.body, ref.end)
            header = _clean_header(text[ref.body:header_end])
            indent = _content_indent(text, header_end, ref.end, ref.indent)
            tail = "\n" if text[ref.end - 1] == "\n" else ""
            return props + header + "\n" + " " * indent + enc + tail
        if style == "'":
            return props + "'" + enc + "'"
        if style == '"' or ref.flow:
            return props + '"' + enc + '"'
        return props + enc

    def _derive(self, leaf: Scalar, ref: SRef, text: str) -> str:
        """The plaintext spelling of a decrypted value, from the style of its encrypted form."""
        form = _Form(text[ref.start:ref.body], ref.style, ref.flow, ref.indent)
        if ref.style in ("|", ">"):
            header_end = text.find("\n", ref.body, ref.end)
            form.header = text[ref.body:header_end]
            form.content_indent = _content_indent(text, header_end, ref.end, ref.indent)
            form.tail = text[ref.end - 1] == "\n"
            form.blank_after = _blank_lines_after(text, ref.end)
        return _derive(form, leaf.value, leaf.spelling)

    def _flow_text(self, node: Node) -> str:
        if isinstance(node, Scalar):
            if node.enc:
                return '"' + node.enc + '"'
            return scalar_text(node.value, 0, flow=True)
        if isinstance(node, Mapping):
            parts = [f"{double_quoted(k) if not plain_ok(k, True) else k}: {self._flow_text(v)}"
                     for k, v in node.items if k is not None]
            return "{" + ", ".join(parts) + "}"
        if isinstance(node, Sequence):
            return "[" + ", ".join(self._flow_text(v) for v in node.items
                                   if not isinstance(v, Comment)) + "]"
        return ""

    def layout_hints(self, parsed: ParsedYaml) -> dict[str, Any]:
        """Spellings a decrypt cannot derive, keyed by the IV of the value's new ciphertext."""
        text = parsed.text
        hints: dict[str, Any] = {}
        for doc in parsed.docs:
            for copy in doc.aliases:
                first = next((leaf for leaf in _leaves(copy) if leaf.enc), None)
                if first is not None and first.enc:
                    iv = iv_of(first.enc)
                    if iv:
                        hints[iv] = "*" + str(copy.ref.alias)
            if doc.root is None:
                continue
            alias_ids = {id(c) for c in doc.aliases}
            for leaf in _leaves(doc.root, alias_ids):
                ref = leaf.ref
                if not leaf.enc or not isinstance(ref, SRef):
                    continue
                original = text[ref.start:ref.end]
                value = leaf.value
                if ref.style is None and ref.start == ref.body and original == (
                        value if type(value) is str else leaf.spelling):
                    # the common plain value: a string that stays plain, or a number/bool kept in
                    # its own spelling (only sops's "True"/"False" are respelled)
                    if type(value) is str:
                        if plain_ok(value, ref.flow):
                            continue
                    elif original not in ("True", "False"):
                        continue
                form = _Form(_kept_props(text[ref.start:ref.body]), ref.style, ref.flow, ref.indent)
                if ref.style in ("|", ">"):
                    header_end = text.find("\n", ref.body, ref.end)
                    form.header = _clean_header(text[ref.body:header_end])
                    form.content_indent = _content_indent(text, header_end, ref.end, ref.indent)
                    form.tail = text[ref.end - 1] == "\n"
                    form.blank_after = _blank_lines_after(text, ref.end)
                spelling = leaf.spelling
                if spelling is None and not isinstance(leaf.value, str):
                    spelling = to_bytes(leaf.value).decode()
                if _derive(form, leaf.value, spelling) != original:
                    iv = iv_of(leaf.enc)
                    if iv:
                        hints[iv] = original
        return hints

    # -- fresh output ----------------------------------------------------------------------

    @staticmethod
    def _flow_root_metadata(doc: DocInfo, metadata: dict[str, Any] | None,
                            edits: list[tuple[int, int, str]]) -> None:
        """A document written as one flow mapping (JSON-style YAML): the metadata joins it as a
        last JSON item, which YAML reads as a flow mapping too."""
        import json

        text_item = "" if metadata is None else '"sops": ' + json.dumps(metadata, ensure_ascii=False)
        if doc.sops_region is not None:
            s, e = doc.sops_region
            edits.append((s, e, (", " + text_item) if text_item else ""))
        elif text_item:
            assert doc.root is not None
            has_items = any(k is not None for k, _ in doc.root.items)
            at = doc.flow_insert if has_items else doc.root.ref.end - 1
            edits.append((at, at, (", " if has_items else "") + text_item))

    def _metadata_text(self, metadata: dict[str, Any], column: int, nl: str) -> str:
        block = self.metadata_block(metadata, column)
        return block.replace("\n", nl) if nl != "\n" else block

    def metadata_block(self, metadata: dict[str, Any], column: int = 0) -> str:
        return emit_block({"sops": metadata}, column, 4)

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            return "{}\n"
        return "---\n".join(emit_block(to_data(d), 0, 4) or "{}\n" for d in documents)

    def emit_value(self, value: Any) -> str:
        if isinstance(value, (dict, list)):
            return emit_block(value, 0, 4) or ("{}\n" if isinstance(value, dict) else "[]\n")
        return scalar_text(value, 0) + "\n"


class _Form:
    """How a value is written in the encrypted file: what a decrypt derives its spelling from."""

    __slots__ = ("props", "style", "flow", "indent", "header", "content_indent", "tail", "blank_after")

    def __init__(self, props: str, style: str | None, flow: bool, indent: int) -> None:
        self.props = props
        self.style = style
        self.flow = flow
        self.indent = indent
        self.header = ""
        self.content_indent = indent + 2
        self.tail = True
        self.blank_after = 0


def _derive(form: _Form, value: Value, spelling: str | None) -> str:
    props = form.props
    style = form.style
    if not isinstance(value, str):
        if props and _STR_TAG_TEXT.search(props):
            props = ""
        return props + typed_text(value, spelling)
    if style in ("|", ">"):
        m = _BLOCK_HEADER_INDENT.match(form.header)
        chomp = m.group(3) if m else ""
        trailing = len(value) - len(value.rstrip("\n"))
        chomp_ok = ((chomp == "-" and trailing == 0) or (chomp == "" and trailing == 1)
                    or (chomp == "+" and trailing >= 1 and trailing - 1 == form.blank_after))
        if chomp_ok and literal_lines_ok(value) and form.tail and m and not m.group(2) and not m.group(4):
            body = value.rstrip("\n")
            tail = "\n"
            if style == "|":
                lines = [(" " * form.content_indent + ln) if ln else "" for ln in body.split("\n")]
                return props + form.header + "\n" + "\n".join(lines) + tail
            if "\n" not in body and body == body.strip():
                return props + form.header + "\n" + " " * form.content_indent + body + tail
        return props + double_quoted(value) + ("\n" if form.tail else "")
    if style == "'":
        return props + (single_quoted(value) if single_quoted_ok(value) else double_quoted(value))
    if style == '"':
        if form.flow and plain_ok(value, flow=True):
            return props + value
        return props + double_quoted(value)
    return props + scalar_text(value, form.indent + 2, form.flow)


def _same_data(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b, strict=True))
    return same_value(a, b)


_STR_TAG_TEXT = re.compile(r"!!str\b")


def _leaves(node: Node, skip: set[int] | None = None) -> list[Scalar]:
    out: list[Scalar] = []

    def walk(n: Node) -> None:
        if skip and id(n) in skip:
            return
        if isinstance(n, Scalar):
            out.append(n)
        elif isinstance(n, Mapping):
            for _, v in n.items:
                walk(v)
        elif isinstance(n, Sequence):
            for v in n.items:
                walk(v)

    walk(node)
    return out


def _exact_spelling(src: str, value: Value) -> str | None:
    """The source text of a typed value when sops, decrypting it, gets the same value back."""
    if type(value) is int and src.isdigit() and (len(src) == 1 or src[0] != "0"):
        return src  # the common case, without the Go-parser round trip
    if type(value) is bool and src in ("true", "false"):
        return src
    return src if spelling_is_exact(src, value) else None


def _kept_props(props: str) -> str:
    """Anchor and tags that go-yaml still reads as a string tag over an ENC value."""
    if not props:
        return ""
    kept = []
    for tok in _PROP_TOKEN.findall(props):
        if tok.startswith("&") or tok == "!!str" or (tok.startswith("!") and not tok.startswith("!!")
                                                       and not tok.startswith("!<")):
            kept.append(tok)
    return " ".join(kept) + " " if kept else ""


def _clean_header(header: str) -> str:
    """A block header without its indentation indicator (the ENC line sets the indentation)."""
    m = _BLOCK_HEADER_INDENT.match(header)
    if not m:
        return header
    return m.group(1) + (m.group(3) or "") + header[m.end():]


def _content_indent(text: str, header_end: int, end: int, parent: int) -> int:
    pos = header_end + 1
    best: int | None = None
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        line = text[pos:line_end]
        if line.strip(" \t\r"):
            n = len(line) - len(line.lstrip(" "))
            best = n if best is None else min(best, n)
        pos = line_end + 1
    # never at or left of the owner's column (possible only with exotic line breaks such as
    # NEL, which libyaml honours and str.split("\n") does not)
    return max(best, parent + 1) if best is not None else parent + 2


def _blank_text_after(text: str, pos: int) -> str:
    """The blank lines after a block scalar's region (part of a ``|+`` value)."""
    end = pos
    while end < len(text):
        nl = text.find("\n", end)
        if nl < 0 or text[end:nl].strip(" \t\r"):
            break
        end = nl + 1
    return text[pos:end]


def _blank_lines_after(text: str, pos: int) -> int:
    n = 0
    while pos < len(text):
        nl = text.find("\n", pos)
        if nl < 0:
            break
        if text[pos:nl].strip(" \t\r"):
            break
        n += 1
        pos = nl + 1
    return n


def _hint_matches(hint: str, value: Value, indent: int = 0) -> bool:
    """Whether a stored spelling reads back as the decrypted value (a hint never changes data).

    It is read after a key at its owner's column, so that block scalars with an indentation
    indicator (``|2-``) mean what they meant in place."""
    hint = " " * indent + "k: " + hint
    try:
        events = list(yaml.parse(hint, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        try:  # libyaml rejects a few valid spellings (tabs in block indentation)
            events = list(yaml.parse(hint, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            return False
    scalars = [e for e in events if isinstance(e, yaml.ScalarEvent)]
    if len(scalars) != 2:
        return False
    ev = scalars[1]
    try:
        got = resolve(ev.value, ev.tag, not ev.style)
    except NotResolvable:
        return False
    return same_value(got, value)


# -- a small block emitter for metadata and format conversion ---------------------------------


def _key_text(key: str) -> str:
    return key if plain_ok(key) else double_quoted(key)


def emit_block(data: Any, column: int, step: int) -> str:
    lines: list[str] = []
    _emit(data, column, step, lines)
    return "".join(lines)


def _emit(data: Any, col: int, step: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * col
    if isinstance(data, dict):
        first = True
        for k, v in data.items():
            lead = first_prefix if (first and first_prefix is not None) else pad
            first = False
            head = f"{lead}{_key_text(str(k))}:"
            if isinstance(v, dict) and v or isinstance(v, list) and v:
                out.append(head + "\n")
                _emit(v, col + step, step, out)
            elif isinstance(v, dict):
                out.append(head + " {}\n")
            elif isinstance(v, list):
                out.append(head + " []\n")
            else:
                out.append(head + " " + scalar_text(v, col + 2) + "\n")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and item:
                _emit(item, col + 2, step, out, first_prefix=pad + "- ")
            elif isinstance(item, list) and item:
                out.append(pad + "-\n")
                _emit(item, col + step, step, out)
            elif isinstance(item, dict):
                out.append(pad + "- {}\n")
            elif isinstance(item, list):
                out.append(pad + "- []\n")
            else:
                out.append(pad + "- " + scalar_text(item, col + 2) + "\n")
    else:
        out.append(pad + scalar_text(data, col + 2) + "\n")


STORE = YamlStore()

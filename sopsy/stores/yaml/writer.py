"""Writing a parsed YAML file back by splicing: each leaf whose state changed gets new text in
its own style, the metadata block is replaced or inserted, every other byte stays."""

from __future__ import annotations

import re
from typing import Any

from ...cipher import iv_of
from ...model import Comment, Mapping, Node, Scalar, Sequence, to_data
from ...values import Value, same_value
from ...yamlscalar import (
    double_quoted,
    literal_lines_ok,
    plain_ok,
    scalar_text,
    single_quoted,
    single_quoted_ok,
)
from .emit import emit_block
from .goyaml import typed_plaintext, value_text
from .refs import CommentRef, CRef, DocInfo, ParsedYaml, SRef, leaves

_PROP_TOKEN = re.compile(r"[&!]\S*")
_BLOCK_HEADER_INDENT = re.compile(r"([|>])([1-9]?)([+-]?)([1-9]?)")
_STR_TAG_TEXT = re.compile(r"!!str\b")

Splice = tuple[int, int, str]  # (start, end, replacement) in the source text
# the layout hint listing the documents that were empty (`---` and nothing, or only comments):
# sops prints `{}` for each, sopsy puts back what was there (hints are otherwise keyed by IVs)
EMPTY_DOCS = "empty_documents"


def render(parsed: ParsedYaml, metadata: dict[str, Any] | None, hints: dict[str, Any] | None = None,
           extra: list[Splice] | None = None) -> str:
    """The file with leaves per their state and the metadata block (``extra``: more splices)."""
    text = parsed.text
    first_nl = text.find("\n")
    nl = "\r\n" if first_nl > 0 and text[first_nl - 1] == "\r" else "\n"  # metadata follows the file
    edits: list[Splice] = list(extra or ())
    trim = False
    empty_docs = (hints or {}).get(EMPTY_DOCS, ())
    # a file sops wrote (no data-key date of sopsy's) holds its ciphertexts bare, as go-yaml
    # writes them; the quotes of its printed plaintext are sops's, not the file's
    bare = metadata is not None and sops_made(metadata)
    for n, doc in enumerate(parsed.docs):
        alias_ids: set[int] = set()
        if doc.root is not None:
            _collect_alias_edits(doc, edits, alias_ids)
            step = indent_step(doc, text)
            _collect_edits(doc.root, text, edits, alias_ids, hints or {}, doc,
                           (doc.column + step, step), bare)
        trim = _metadata_edit(doc, text, metadata, nl, edits, n in empty_docs) or trim
    out = splice(text, edits)
    # the plaintext had no final newline: drop the one encryption added before "sops:" (after
    # the splices, as a block scalar's region may end with it)
    return out[:-len(nl)] if trim and out.endswith(nl) else out


def splice(text: str, edits: list[Splice]) -> str:
    """``text`` with the splices made. Insertions at a point go in the order given, before a
    replacement starting there; of replacements starting at one point the widest wins, and one
    inside a region already replaced is dropped (an alias copy, an edit inside a deleted item)."""
    if not edits:
        return text
    edits.sort(key=lambda e: (e[0], e[1] != e[0], -e[1]))
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


def metadata_block(metadata: dict[str, Any], column: int = 0) -> str:
    return emit_block({"sops": metadata}, column, 4)


def _metadata_edit(doc: DocInfo, text: str, metadata: dict[str, Any] | None, nl: str,
                   edits: list[Splice], was_empty: bool = False) -> bool:
    """Adds the metadata splice; True when the output's final line break is to go.
    ``was_empty``: the plaintext document was empty (a hint), so no ``{}`` stands for it."""
    if doc.flow_root:
        if metadata is not None and doc.sops_region is None and _bare_braces(doc, text):
            # a document that is just `{}` (what a decrypt prints for sops's metadata-only
            # document): the block takes its place, as sops writes it, and decrypts to `{}`
            assert doc.root is not None and isinstance(doc.root.ref, CRef)
            edits.append((doc.root.ref.start, doc.root.ref.end, _metadata_text(metadata, doc.column, nl)[:-len(nl)]))
            return False
        _flow_root_metadata(doc, metadata, edits)
        return False
    trim = False
    if doc.sops_region is not None:
        s, e = doc.sops_region
        block = "" if metadata is None else _metadata_text(metadata, doc.column, nl)
        if metadata is None and (doc.root is None or not any(k is not None for k, _ in doc.root.items)):
            # nothing but the metadata (sops encrypted `{}`, or a file of comments): sops
            # prints the empty mapping
            block = "" if was_empty else "{}" + nl
        if not block and e >= len(text) and not text.endswith("\n") and s > 0:
            trim = True  # the plaintext had no final newline (see render)
        elif block and e >= len(text) and not text.endswith("\n"):
            block = block[:-len(nl)]
        edits.append((s, e, block))
    elif metadata is not None:
        block = _metadata_text(metadata, doc.column, nl)
        at = doc.insert_at
        if at > 0 and text[at - 1] != "\n":
            block = nl + block[:-len(nl)]
        edits.append((at, at, block))
    return trim


def _bare_braces(doc: DocInfo, text: str) -> bool:
    """The document's root is an empty ``{}`` at the start of a line with nothing after it."""
    root = doc.root
    if root is None or root.items or not isinstance(root.ref, CRef):
        return False
    start, end = root.ref.start, root.ref.end
    line_start = text.rfind("\n", 0, start) + 1
    return text[start:end] == "{}" and not text[line_start:start].strip() and text[end:].strip() in ("", "...") \
        and start == line_start


def _metadata_text(metadata: dict[str, Any], column: int, nl: str) -> str:
    block = metadata_block(metadata, column)
    return block.replace("\n", nl) if nl != "\n" else block


def _flow_root_metadata(doc: DocInfo, metadata: dict[str, Any] | None, edits: list[Splice]) -> None:
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


def _collect_alias_edits(doc: DocInfo, edits: list[Splice], alias_ids: set[int]) -> None:
    for copy in doc.aliases:
        ref = copy.ref
        if any(leaf.enc for leaf in leaves(copy)):
            edits.append((ref.start, ref.end, flow_text(copy)))
        alias_ids.add(id(copy))


def _collect_edits(node: Node, text: str, edits: list[Splice], alias_ids: set[int],
                   hints: dict[str, Any], doc: DocInfo, indents: tuple[int, int], bare: bool = False) -> None:
    """Splices for the leaves under ``node``; ``indents``: (where a block scalar's lines go
    in this collection as go-yaml writes it, the file's indentation step); ``bare``: write
    ciphertexts without the plaintext's quotes (a file sops wrote)."""
    items = node.items if isinstance(node, (Mapping, Sequence)) else []
    is_map = type(node) is Mapping
    append = edits.append
    block, step = indents
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
                append((ref.start, ref.end, value_text(child.value, child.spelling, block, step, ref.flow, ref.indent)))
            else:
                _scalar_edit(child, text, edits, hints, doc, indents, bare)
        elif isinstance(child, Comment):
            _comment_edit(child, text, edits)
        else:
            if is_map and type(child) is Sequence and _comments_only(child):
                empty = _empty_sequence(child, text)
                if empty is not None:
                    edits.append(empty)
                    for c in child.items[len(_elements(child)):]:
                        _comment_edit(c, text, edits)  # type: ignore[arg-type]
                    continue
            if hints and isinstance(child.ref, CRef) and child.ref.flow and not child.ref.alias:
                rep = _alias_restore(child, hints, doc)
                if rep is not None:
                    edits.append((child.ref.start, child.ref.end, rep))
                    continue
            _collect_edits(child, text, edits, alias_ids, hints, doc,
                           _child_indents(child, is_map, text, step), bare)  # type: ignore[arg-type]


def sops_made(metadata: dict[str, Any]) -> bool:
    """Whether sops (not sopsy: no data-key date of sopsy's) wrote the metadata."""
    from ...core import DATAKEY_CREATED_FIELD

    return DATAKEY_CREATED_FIELD not in metadata


def _comments_only(seq: Sequence) -> bool:
    """A sequence sops wrote for ``key: [] # comment``: nothing but comments it stored as
    ``- ENC[...type:comment]`` elements."""
    return all(isinstance(c, Comment) for c in seq.items) and bool(_elements(seq))


def _elements(seq: Sequence) -> list[Comment]:
    """The leading comments of ``seq`` that sops stored as elements (comment lines after them,
    which the reader gives to the block they end, stay where they are)."""
    out: list[Comment] = []
    for c in seq.items:
        if not isinstance(c, Comment) or not isinstance(c.ref, SRef):
            break
        out.append(c)
    return out


def _empty_sequence(seq: Sequence, text: str) -> Splice | None:
    """The block of comment elements under ``key:`` written back as sops prints it: ``key: []``,
    then the comments at the key's column. (As comment lines under ``key:`` they would make the
    value null.) None where the block does not follow its key on a line of its own."""
    ref = seq.ref
    if not isinstance(ref, CRef) or ref.flow:
        return None
    nl = text.rfind("\n", 0, ref.start)
    key_line = text.rfind("\n", 0, nl) + 1
    if nl < 0 or text[nl + 1:ref.start].strip(" \t-") or not text[key_line:nl].rstrip().endswith(":"):
        return None
    eol = "\r\n" if text[nl - 1:nl] == "\r" else "\n"
    line = text[key_line:nl]
    indent = line[:len(line) - len(line.lstrip(" "))]
    at = nl - 1 if eol == "\r\n" else nl
    elements = _elements(seq)
    lines = "".join(f"{eol}{indent}#{c.text}" for c in elements)
    return (at, elements[-1].ref.end, " []" + lines)  # type: ignore[union-attr]


def _comment_edit(c: Comment, text: str, edits: list[Splice]) -> None:
    ref = c.ref
    if isinstance(ref, CommentRef):
        if c.text != ref.original:
            edits.append((ref.start, ref.end, c.text))
    elif isinstance(ref, SRef):
        # a comment sops stored as a sequence element: back to a comment line
        dash = text.rfind("-", 0, ref.start)
        if dash >= 0 and not text[dash + 1:ref.start].strip() and not ref.flow:
            edits.append((dash, ref.end, "#" + c.text))


def _child_indents(child: Mapping | Sequence, in_mapping: bool, text: str, step: int) -> tuple[int, int]:
    """Where go-yaml puts the lines of a block scalar inside ``child``: a mapping's values one
    step in from the mapping (a mapping that is a sequence item starts at its ``-``), a
    sequence's items two columns in from the ``-``."""
    start = child.ref.start if isinstance(child.ref, CRef) else 0
    column = start - (text.rfind("\n", 0, start) + 1)
    if isinstance(child, Sequence):
        return column + (step - 2 if step > 2 else step), step
    if not in_mapping and text[:start].rstrip(" ").endswith("-"):
        column -= 2
    return column + step, step


def indent_step(doc: DocInfo, text: str) -> int:
    """The document's indentation step: how far its first nested block collection is indented
    (4, go-yaml's as sops configures it, where nothing is nested)."""
    root = doc.root
    for key, child in root.items if root is not None else ():
        if key is not None and isinstance(child, (Mapping, Sequence)) and isinstance(child.ref, CRef) \
                and not child.ref.flow and child.items:
            start = child.ref.start
            column = start - (text.rfind("\n", 0, start) + 1)
            if column > doc.column:
                return column - doc.column
    return 4


def _scalar_edit(leaf: Scalar, text: str, edits: list[Splice], hints: dict[str, Any], doc: DocInfo,
                 indents: tuple[int, int], bare: bool = False) -> None:
    ref = leaf.ref
    if not isinstance(ref, SRef):
        return
    if leaf.enc is not None:
        if leaf.enc == "" or leaf.enc == ref.enc:
            return  # empty strings, and ciphertext the source already holds, keep their bytes
        enc_form = encrypted_form(leaf.enc, ref, text, bare)
        if ref.style in ("|", ">") and ref.start == ref.body and not ref.flow:
            # a block written as go-yaml writes it (as sops's decrypt printed it) needs no
            # block form: a decrypt derives it again from a plain ENC, as sops writes it
            source = text[ref.start:ref.end]
            derived = value_text(leaf.value, leaf.spelling, indents[0], indents[1], owner=ref.indent)
            # (no indentation indicator, no keep chomping: the block's first line holds text)
            if source.startswith(derived) and source[len(derived):] == "\n" and (derived[1:2] == "\n" or derived[1:3] == "-\n"):
                enc_form = leaf.enc + source[len(derived):]
        if enc_form != text[ref.start:ref.end]:
            edits.append((ref.start, ref.end, enc_form))
        return
    enc = ref.enc
    if enc is None:
        return  # plaintext in the source and still plaintext: keep its bytes
    hint = hints.get(iv_of(enc) or "") if hints else None
    rep: str | None = None
    if isinstance(hint, str):
        from .hints import hint_matches

        if hint.startswith("*"):
            target = doc.anchors.get(hint[1:])
            if isinstance(target, Scalar) and target is not leaf and same_value(target.value, leaf.value):
                rep = hint
        # a flow scalar's continuation lines need not pass its key's column (only block
        # scalars, which flow collections cannot hold, depend on the owner's column)
        elif hint_matches(hint + blank_text_after(text, ref.end), leaf.value, 0 if ref.flow else ref.indent):
            rep = hint
    if rep is None:
        if ref.style is None and ref.start == ref.body:  # the common case, without a Form
            rep = value_text(leaf.value, leaf.spelling, indents[0], indents[1], ref.flow, ref.indent)
        else:
            rep = derive(form_of(ref, text, clean=False), leaf.value, leaf.spelling, indents)
    edits.append((ref.start, ref.end, rep))


def _alias_restore(node: Node, hints: dict[str, Any], doc: DocInfo) -> str | None:
    """The ``*alias`` an encrypted flow copy came from, if the copy still equals its anchor."""
    first = next((leaf for leaf in leaves(node) if isinstance(leaf.ref, SRef) and leaf.ref.enc), None)
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


def encrypted_form(enc: str, ref: SRef, text: str, bare: bool = False) -> str:
    props = kept_props(text[ref.start:ref.body])
    style = ref.style
    if bare and style in ("'", '"') and not ref.flow:
        return props + enc
    if style in ("|", ">"):
        header_end = text.find("\n", ref.body, ref.end)
        header = clean_header(text[ref.body:header_end])
        indent = content_indent(text, header_end, ref.end, ref.indent)
        tail = "\n" if text[ref.end - 1] == "\n" else ""
        return props + header + "\n" + " " * indent + enc + tail
    if style == "'":
        return props + "'" + enc + "'"
    if style == '"' or ref.flow:
        return props + '"' + enc + '"'
    return props + enc


def flow_text(node: Node) -> str:
    if isinstance(node, Scalar):
        if node.enc:
            return '"' + node.enc + '"'
        return scalar_text(node.value, 0, flow=True)
    if isinstance(node, Mapping):
        parts = [f"{double_quoted(k) if not plain_ok(k, True) else k}: {flow_text(v)}"
                 for k, v in node.items if k is not None]
        return "{" + ", ".join(parts) + "}"
    if isinstance(node, Sequence):
        return "[" + ", ".join(flow_text(v) for v in node.items if not isinstance(v, Comment)) + "]"
    return ""


class Form:
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


def form_of(ref: SRef, text: str, clean: bool) -> Form:
    """The form of the value at ``ref``. ``clean``: as encryption writes it (tags go-yaml would
    not read over an ENC string dropped, the block header without its indentation indicator)."""
    props = text[ref.start:ref.body]
    form = Form(kept_props(props) if clean else props, ref.style, ref.flow, ref.indent)
    if ref.style in ("|", ">"):
        header_end = text.find("\n", ref.body, ref.end)
        header = text[ref.body:header_end]
        form.header = clean_header(header) if clean else header
        form.content_indent = content_indent(text, header_end, ref.end, ref.indent)
        form.tail = text[ref.end - 1] == "\n"
        form.blank_after = _blank_lines_after(text, ref.end)
    return form


def derive(form: Form, value: Value, spelling: str | None, indents: tuple[int, int] | None = None) -> str:
    """The plaintext spelling of a decrypted value, from the style of its encrypted form
    (``indents``: as for :func:`_collect_edits`)."""
    props = form.props
    style = form.style
    if not isinstance(value, str):
        if props and _STR_TAG_TEXT.search(props):
            props = ""
        return props + typed_plaintext(value, spelling)
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
    block, step = indents or (form.indent + 4, 4)
    return props + value_text(value, spelling, block, step, form.flow, form.indent)


def _same_data(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same_data(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_data(x, y) for x, y in zip(a, b, strict=True))
    return same_value(a, b)


def kept_props(props: str) -> str:
    """Anchor and tags that go-yaml still reads as a string tag over an ENC value."""
    if not props:
        return ""
    kept = []
    for tok in _PROP_TOKEN.findall(props):
        if tok.startswith("&") or tok == "!!str" or (tok.startswith("!") and not tok.startswith("!!")
                                                       and not tok.startswith("!<")):
            kept.append(tok)
    return " ".join(kept) + " " if kept else ""


def clean_header(header: str) -> str:
    """A block header without its indentation indicator (the ENC line sets the indentation)."""
    m = _BLOCK_HEADER_INDENT.match(header)
    if not m:
        return header
    return m.group(1) + (m.group(3) or "") + header[m.end():]


def content_indent(text: str, header_end: int, end: int, parent: int) -> int:
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


def blank_text_after(text: str, pos: int) -> str:
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

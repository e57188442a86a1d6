"""Writing a parsed JSON file back by splicing: each leaf whose state changed gets its new token,
the metadata member is put in, replaced or cut out, and every other byte is kept.

A splice is ``(start, end, replacement)`` on the source text; :func:`apply_splices` applies a
sorted list of them.
"""

from __future__ import annotations

import re

from ...cipher import iv_of
from ...errors import DumpError
from ...model import Comment, Mapping, Node, Scalar, Sequence
from ...values import format_float_f, same_value
from .emit import Layout, Raw, Text, go_number, go_quote, json_metadata, value_text
from .scanner import PIECE, TOKEN, Box, Member, ParsedJson, decode_string

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

Splice = tuple[int, int, str]


def apply_splices(text: str, splices: list[Splice], start: int = 0, end: int | None = None) -> str:
    """``text[start:end]`` with the (sorted, non-overlapping) splices that lie inside it applied."""
    end = len(text) if end is None else end
    out: list[str] = []
    pos = start
    for s, e, repl in splices:
        if s < start or e > end:
            continue
        out.append(text[pos:s])
        out.append(repl)
        pos = max(pos, e)
    out.append(text[pos:end])
    return "".join(out)


def layout_of(parsed: ParsedJson) -> Layout:
    """The top-level object's layout (for the metadata member and for new text)."""
    text = parsed.text
    members = [m for i, m in enumerate(parsed.members) if i != parsed.sops_index]
    nl = "\r\n" if "\r\n" in text and ("\n" not in text.replace("\r\n", "") or text.count("\r\n") * 2 >= text.count("\n")) else "\n"
    if not members:
        return Layout(nl=nl)
    last = members[-1]
    kv = kv_of(text, last.key_start, last.value_start) or ": "
    before = text[:last.key_start]
    line_start = before.rfind("\n") + 1
    gap_start = _previous_token_end(parsed, len(members) - 1, members)
    if "\n" in text[gap_start:last.key_start]:
        # the line's leading blanks (a comment may sit between them and the key)
        key_indent = re.match(r"[ \t]*", text[line_start:last.key_start]).group(0)  # type: ignore[union-attr]
        # line ending of the line before the key
        nl = "\r\n" if text[line_start - 2:line_start] == "\r\n" else "\n"
        return Layout(True, nl, key_indent, key_indent or "\t", kv, " ")
    sep = ""
    if len(members) >= 2:
        gap = text[members[-2].value_end:last.key_start]
        mm = re.fullmatch(r"[ \t]*,([ \t]*)", gap)
        sep = mm.group(1) if mm else " "
    elif re.search(r"\s", text[parsed.documents[0].ref.start + 1:last.key_start] + kv):
        sep = " "
    return Layout(False, nl, "", "", kv, sep)


def kv_of(text: str, key_start: int, value_start: int) -> str | None:
    """The text between a key token and its value when it is ``:`` with blanks around it."""
    key_end = TOKEN.match(text, key_start)
    if key_end is None:
        return None
    between = text[key_end.end():value_start]
    return between if re.fullmatch(r"[ \t]*:[ \t]*", between) else None


def _previous_token_end(parsed: ParsedJson, index: int, members: list[Member]) -> int:
    if index > 0:
        return members[index - 1].value_end
    box = parsed.documents[0].ref
    return int(box.start) + 1


def leaf_text(leaf: Scalar, text: str | None, hints: dict[str, Any] | None) -> str:
    """The text of a leaf in its current state."""
    ref = leaf.ref
    if leaf.enc is not None:
        return go_quote(leaf.enc)
    if isinstance(ref, tuple) and text is not None:
        start, end, orig = ref
        if same_value(leaf.value, orig) and (leaf.spelling is None or not isinstance(orig, float)
                                             or leaf.spelling == text[start:end]):
            return text[start:end]
        if hints and isinstance(orig, str):
            iv = iv_of(orig)
            hint = hints.get(iv) if iv else None
            if isinstance(hint, str) and isinstance(leaf.value, str) and _is_string_token(hint) \
                    and decode_string(hint) == leaf.value:
                return hint
            if isinstance(hint, str) and type(leaf.value) is float and hint == leaf.spelling:
                return hint
    if type(leaf.value) is float and leaf.spelling == format_float_f(leaf.value):
        # sops's plaintext of every float (Go's 'f' form): printed as sops prints it (1e-7); a
        # sopsy source spelled so is kept by a hint (layout_hints)
        return go_number(leaf.value)
    return value_text(leaf.value, leaf.spelling)


def _is_string_token(s: str) -> bool:
    m = TOKEN.match(s)
    return m is not None and m.start(0) == 0 and m.lastindex == 1 and m.start(1) == 0 and m.end() == len(s)


def render_splices(parsed: ParsedJson, metadata: dict[str, Any] | None, hints: dict[str, Any] | None,
                   keep: frozenset[int] = frozenset()) -> list[Splice]:
    """The splices that write ``parsed`` back with leaves per their state and ``metadata``.
    Containers whose ``id`` is in ``keep`` keep their elements (the caller handles them)."""
    text = parsed.text
    layout = layout_of(parsed)
    splices: list[Splice] = []
    _collect(parsed.documents[0], text, hints, layout, splices, keep)
    if id(parsed.documents[0]) not in keep:
        _metadata_splices(parsed, metadata, layout, splices)
    splices.sort(key=lambda e: (e[0], e[1]))
    return splices


def render(parsed: ParsedJson, metadata: dict[str, Any] | None, hints: dict[str, Any] | None) -> str:
    return apply_splices(parsed.text, render_splices(parsed, metadata, hints))


def _collect(root: Mapping, text: str, hints: dict[str, Any] | None, layout: Layout,
             splices: list[Splice], keep: frozenset[int]) -> None:
    work: list[Mapping | Sequence] = [root]
    while work:
        node = work.pop()
        box = node.ref
        if not isinstance(box, Box) or not _same_shape(node, box):
            if node is root:
                raise DumpError("the JSON store cannot splice a document whose top level was rebuilt")
            if isinstance(box, Box):
                splices.append((box.start, box.end, layout.dump(_resolve(node, text, hints), box.depth)))
            continue
        children = [item[1] if isinstance(item, tuple) else item for item in node.items]
        if id(node) not in keep:
            dropped = [i for i, c in enumerate(children) if isinstance(c, Comment)]
            if dropped:
                _drop_elements(box, dropped, splices)
        for child in children:
            if isinstance(child, Scalar):
                ref = child.ref
                if not isinstance(ref, tuple):
                    continue
                new = leaf_text(child, text, hints)
                if new != text[ref[0]:ref[1]]:
                    splices.append((ref[0], ref[1], new))
            elif isinstance(child, (Mapping, Sequence)):
                work.append(child)


def _same_shape(node: Mapping | Sequence, box: Box) -> bool:
    """Whether the container still holds the items it was parsed with (comments that the
    core made from ``type:comment`` leaves count as the same item)."""
    now = node.items
    was = box.snapshot
    if len(now) != len(was):
        return False
    for a, b in zip(now, was, strict=True):
        if isinstance(a, tuple):
            if a[0] != b[0]:
                return False
            a, b = a[1], b[1]
        if a is b:
            continue
        if isinstance(a, Comment) and isinstance(b, Scalar) and a.ref is b.ref:
            continue
        return False
    return True


def span_of(node: Node) -> tuple[int, int]:
    ref = node.ref
    return (ref.start, ref.end) if isinstance(ref, Box) else (ref[0], ref[1])


def _drop_elements(box: Box, dropped: list[int], splices: list[Splice]) -> None:
    """Remove comment elements (sops drops sequence comments when writing JSON)."""
    spans = [span_of(item[1] if isinstance(item, tuple) else item) for item in box.snapshot]
    n = len(spans)
    gone = set(dropped)
    if len(gone) == n:
        splices.append((box.start + 1, box.end - 1, ""))
        return
    i = 0
    while i < n:
        if i not in gone:
            i += 1
            continue
        j = i
        while j + 1 < n and j + 1 in gone:
            j += 1
        if j + 1 < n:
            splices.append((spans[i][0], spans[j + 1][0], ""))
        else:
            splices.append((spans[i - 1][1], spans[j][1], ""))
        i = j + 1


def _metadata_splices(parsed: ParsedJson, metadata: dict[str, Any] | None, layout: Layout,
                      splices: list[Splice]) -> None:
    members = parsed.members
    if metadata is not None:
        metadata = json_metadata(metadata)
    idx = parsed.sops_index
    if idx is not None:
        mem = members[idx]
        if metadata is not None:
            splices.append((mem.value_start, mem.value_end, layout.dump(metadata, 1)))
        else:
            _cut_member(parsed, idx, splices)
        return
    if metadata is not None:
        _add_member(parsed, '"sops"' + layout.kv + layout.dump(metadata, 1), layout, splices)


def _cut_member(parsed: ParsedJson, idx: int, splices: list[Splice]) -> None:
    """Remove a top-level member: the blanks before its key, the member, and one comma."""
    text = parsed.text
    members = parsed.members
    mem = members[idx]
    limit = members[idx - 1].value_end if idx > 0 else parsed.documents[0].ref.start + 1
    between = text[limit:mem.key_start]
    comma_before = _comma_in(between)
    w = mem.key_start
    floor = limit + (comma_before + 1 if comma_before is not None else 0)
    floor = max(floor, _last_comment_end(text, limit, mem.key_start))
    while w > floor and text[w - 1] in " \t\r\n":
        w -= 1
    after_limit = members[idx + 1].key_start if idx + 1 < len(members) else parsed.close
    comma_after = _comma_in(text[mem.value_end:after_limit])
    if comma_after is not None:
        splices.append((w, mem.value_end + comma_after + 1, ""))
        return
    end = mem.value_end
    if comma_before is not None:
        splices.append((limit + comma_before, limit + comma_before + 1, ""))
    elif text.startswith("\r\n", end):
        end += 2
    elif text.startswith("\n", end):
        end += 1
    splices.append((w, end, ""))


def _add_member(parsed: ParsedJson, block: str, layout: Layout, splices: list[Splice]) -> None:
    """Add a member after the last one (or into the empty object)."""
    text = parsed.text
    members = parsed.members
    lead = layout.nl + layout.key_indent if layout.multiline else layout.sep
    if not members:
        after = parsed.documents[0].ref.start + 1
        splices.append((after, after, lead + block + layout.nl if layout.multiline else block))
        return
    p = members[-1].value_end
    q = p
    trailing_comma: int | None = None
    seen_newline = after_line_comment = False
    for piece in PIECE.finditer(text, p, parsed.close):
        s = piece.group(0)
        if s == ",":
            trailing_comma = piece.start()
            if not seen_newline:
                q = piece.end()
                after_line_comment = False
        elif s.endswith("\n"):
            seen_newline = True
        elif s[0] == "/" and not seen_newline:
            q = piece.end()
            after_line_comment = s[1] == "/"
    if after_line_comment and not layout.multiline:
        lead = layout.nl  # a // comment runs to the end of its line
    if trailing_comma is not None:
        q = max(q, trailing_comma + 1)
        splices.append((q, q, lead + block + ","))
    elif q == p:
        splices.append((p, p, "," + lead + block))
    else:
        splices.append((p, p, ","))
        splices.append((q, q, lead + block))


def layout_hints(parsed: ParsedJson) -> dict[str, Any]:
    """The source spelling of every encrypted string that Go would write differently, and of
    every float spelled as sops's plaintext that Go would print otherwise (``0.0000001``)."""
    text = parsed.text
    hints: dict[str, Any] = {}
    for doc in parsed.documents:
        for leaf in leaves(doc):
            if not leaf.enc or not isinstance(leaf.ref, tuple):
                continue
            start, end, orig = leaf.ref
            source = text[start:end]
            if type(leaf.value) is float and source == format_float_f(leaf.value) != go_number(leaf.value):
                iv = iv_of(leaf.enc)
                if iv:
                    hints[iv] = source
                continue
            if not isinstance(orig, str) or not isinstance(leaf.value, str):
                continue
            if source != go_quote(leaf.value):
                iv = iv_of(leaf.enc)
                if iv:
                    hints[iv] = source
    return hints


def leaves(node: Node) -> list[Scalar]:
    out: list[Scalar] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Scalar):
            out.append(n)
        elif isinstance(n, Mapping):
            stack.extend(v for _, v in n.items)
        elif isinstance(n, Sequence):
            stack.extend(n.items)
    return out


def _resolve(node: Node, text: str, hints: dict[str, Any] | None) -> Any:
    """A rebuilt container's content: leaves as their final text (source text when unchanged)."""
    if isinstance(node, Mapping):
        return Raw({k: _resolve(v, text, hints) for k, v in node.items if k is not None},
                   [(k, _resolve(v, text, hints)) for k, v in node.items if k is not None])
    if isinstance(node, Sequence):
        return [_resolve(v, text, hints) for v in node.items if not isinstance(v, Comment)]
    if isinstance(node, Scalar):
        return Text(leaf_text(node, text, hints))
    return None


def _comma_in(gap: str) -> int | None:
    for piece in PIECE.finditer(gap):
        if piece.group(0) == ",":
            return piece.start()
    return None


def _last_comment_end(text: str, start: int, end: int) -> int:
    last = start
    for piece in PIECE.finditer(text, start, end):
        if piece.group(0)[0] == "/":
            last = piece.end()
    return last

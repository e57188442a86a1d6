"""Document edits (:mod:`sopsy.edits`) on an INI file, as splices of its lines.

Paths are ``(section,)`` or ``(section, key)``; keys before the first header are in section
``DEFAULT``. A new key is written the way the section's keys are: their indentation, the
spacing around the ``=`` or ``:`` (padded to the column where the section aligns them), the
quote style of its neighbour when go-ini reads it back the same; comment lines above it take
the neighbours' ``;`` or ``#``. A new section is a ``[name]`` block, apart from the others by a
blank line when the file does so. A key is deleted with the comment lines directly above it, a
section with its header's comment lines. Values are strings (others are written as sops's INI
emitter writes them); a value or name go-ini would not read back the same is a UsageError
naming the path. Every line no edit touches stays as it was.
"""

from __future__ import annotations

from ...errors import SopsyError, UsageError
from ...model import Comment, Mapping, Scalar
from .._editing import apply_splices, check_batch, line_end, path_text
from . import DEFAULT, META_SECTION, STORE, IniFile, _has_surrounded_quote, _scalar_text, _Val, go_ini_quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...edits import Edit, Insert, TreePath
    from ...model import Node


class _Doc:
    """The parsed file seen as sections of lines."""

    def __init__(self, parsed: IniFile) -> None:
        self.text = parsed.text
        self.root = parsed.documents[0]
        self.sections: list[tuple[str, Mapping]] = [(k, v) for k, v in self.root.items
                                                     if k is not None and isinstance(v, Mapping)]
        self.stop = parsed.meta_span[0] if parsed.meta_span else len(self.text)
        self.splices: list[tuple[int, int, str]] = []
        first = self.text.find("\n")
        self.eol = "\r\n" if first > 0 and self.text[first - 1] == "\r" else "\n"  # new lines end as the first does

    # -- lines ----------------------------------------------------------------------------------

    def prev_line(self, pos: int) -> int:
        """Start of the line before the one starting at ``pos`` (-1 at the top)."""
        return -1 if pos <= 0 else self.text.rfind("\n", 0, pos - 1) + 1

    def is_comment(self, start: int) -> bool:
        return self.text[start:line_end(self.text, start)].lstrip()[:1] in ("#", ";")

    def block_start(self, pos: int) -> int:
        """Where the comment lines directly above the line at ``pos`` begin."""
        while (p := self.prev_line(pos)) >= 0 and self.is_comment(p):
            pos = p
        return pos

    def section(self, path: TreePath) -> tuple[int, Mapping]:
        name = path[0]
        for i, (k, v) in enumerate(self.sections):
            if k == name:
                return i, v
        raise UsageError(f"the path {path_text(path[:1])} does not exist in the file")

    def key(self, path: TreePath) -> tuple[Mapping, Scalar, _Val]:
        if len(path) != 2:
            raise UsageError(f"the path {path_text(path)} does not exist in the file (INI: section, key)")
        _, sec = self.section(path)
        leaf = sec.get(str(path[1]))
        if not isinstance(leaf, Scalar) or not isinstance(leaf.ref, _Val):
            raise UsageError(f"the path {path_text(path)} does not exist in the file")
        return sec, leaf, leaf.ref

    def leaves(self, sec: Mapping) -> list[tuple[str, _Val]]:
        return [(k, v.ref) for k, v in sec.items if k is not None and isinstance(v, Scalar) and isinstance(v.ref, _Val)]

    def region(self, n: int) -> tuple[int, int]:
        """Section ``n``: from its header's comment lines (or the top) to where the next
        section's comment lines begin (or the [sops] section, or the end)."""
        head = self.sections[n][1].ref
        start = self.block_start(head[0]) if head else 0
        nxt = self.sections[n + 1][1].ref if n + 1 < len(self.sections) else None
        return start, self.block_start(nxt[0]) if nxt else self.stop

    def content_end(self, n: int) -> int:
        """The end of section ``n``'s last non-blank line."""
        start, end = self.region(n)
        body = self.text[start:end]
        return start + len(body.rstrip(" \t\r\n")) if body.strip() else start

    def at_line_end(self, pos: int, lines: list[str]) -> None:
        """Insert whole lines at ``pos``, a line start (or the end of a file without a final
        line break, which then stays without one)."""
        if not lines:
            return
        eol = self.eol
        if pos >= len(self.text) and self.text and not self.text.endswith("\n"):
            self.splices.append((pos, pos, eol + eol.join(lines)))
        else:
            self.splices.append((pos, pos, "".join(line + eol for line in lines)))


def apply_edits(parsed: IniFile, edits: Sequence[Edit]) -> str:
    from ...edits import Delete, Insert, Replace

    check_batch(parsed, edits, "INI")
    doc = _Doc(parsed)
    for e in edits:
        if isinstance(e, Replace):
            _replace(doc, e.path, e.node)
        elif isinstance(e, Delete):
            _delete(doc, e.path)
        elif isinstance(e, Insert):
            if e.parent == ():
                _insert_section(doc, e)
            else:
                _insert_key(doc, e)
    return apply_splices(doc.text, doc.splices)


def _replace(doc: _Doc, path: TreePath, node: Node) -> None:
    if len(path) == 1:
        n, sec = doc.section(path)
        if not isinstance(node, Mapping):
            raise UsageError(f"cannot write {path_text(path)} as other than a section of key = value lines")
        head = sec.ref
        start = head[1] if head else 0
        lines = _key_lines(doc, sec, node, path)
        end = doc.content_end(n)  # the end of the last line with text, before its line break
        if end <= start:  # nothing under the header yet
            doc.at_line_end(start, lines)
        elif lines:
            doc.splices.append((start, end, doc.eol.join(lines)))
        else:
            doc.splices.append((start, line_end(doc.text, end), ""))
        return
    _, _, ref = doc.key(path)
    if not isinstance(node, Scalar):
        raise UsageError(f"cannot write a nested value at {path_text(path)}: INI values are flat")
    value = _scalar_text(node.value)
    end = ref.end
    for q in ('"""', "`"):  # a quoted value: what follows its closing quote stays (a comment)
        if ref.raw.startswith(q) and ref.raw[len(q) + len(ref.value0):].startswith(q):
            end = ref.start + 2 * len(q) + len(ref.value0)
            break
    doc.splices.append((ref.start, end, _value_text(value, ref.raw, path)))


def _delete(doc: _Doc, path: TreePath) -> None:
    if len(path) == 1:
        n, _ = doc.section(path)
        start, end = doc.region(n)
        if end >= doc.stop:  # the last section: the blank lines before it go too
            body = doc.text[:start]
            start = len(body.rstrip(" \t\r\n"))
            start = line_end(doc.text, start) if start else 0
            if start > 0 and not doc.text[:start].endswith("\n"):
                start = len(body.rstrip(" \t\r\n"))
        doc.splices.append((start, end, ""))
        return
    _, _, ref = doc.key(path)
    doc.splices.append((doc.block_start(ref.line0), ref.line1, ""))


def _insert_key(doc: _Doc, e: Insert) -> None:
    path = (*e.parent, e.key if e.key is not None else "")
    if len(e.parent) != 1 or not isinstance(e.key, str):
        raise UsageError(f"cannot insert at {path_text(path)}: an INI file holds sections of keys")
    n, sec = doc.section(e.parent)
    if sec.get(e.key) is not None:
        raise UsageError(f"the key {path_text(path)} is already in the file")
    keys = doc.leaves(sec)
    if e.after is not None:
        _, _, anchor = doc.key((*e.parent, e.after))
        pos = anchor.line1
    elif keys:
        anchor = keys[0][1]
        pos = doc.block_start(anchor.line0)
    else:
        anchor = None
        head = sec.ref
        pos = head[1] if head else 0
    lines = _comment_lines(doc, sec, e.comments) + [_key_line(doc, sec, e.key, e.node, anchor, path)]
    if anchor is None and sec.ref is None and doc.text.strip():
        lines.append("")  # keys now before the first section: a blank line between
    doc.at_line_end(pos, lines)


def _insert_section(doc: _Doc, e: Insert) -> None:
    name = e.key
    if not isinstance(name, str) or not isinstance(e.node, Mapping):
        raise UsageError(f"cannot insert at {path_text((str(name),))}: the top level of an INI file holds sections")
    if name in (DEFAULT, META_SECTION) or any(k == name for k, _ in doc.sections):
        raise UsageError(f"the section {path_text((name,))} is already in the file or reserved")
    if name != name.strip() or not name or any(c in name for c in "\n\r]") or name[0] in "#;":
        raise UsageError(f"the section name {path_text((name,))} cannot be written in an INI file")
    blank = _blank_between_sections(doc)
    lines = _comment_lines(doc, None, e.comments) + [f"[{name}]"] + _key_lines(doc, None, e.node, (name,))
    if e.after is not None:
        n, _ = doc.section((e.after,))
    else:  # before the first section (after the keys of DEFAULT, which have no header)
        n = 0
    pos = doc.region(n)[1] if n + 1 < len(doc.sections) or e.after is None else doc.stop
    if pos < doc.stop:
        doc.at_line_end(pos, lines + ([""] if blank else []))
        return
    lead = [""] if blank and doc.text[:pos].strip() else []
    body = doc.text[:pos]
    if blank and body.endswith("\n\n"):
        lead = []
    doc.at_line_end(pos, lead + lines)


# -- writing ----------------------------------------------------------------------------------


def _blank_between_sections(doc: _Doc) -> bool:
    """Whether the file puts a blank line before its section headers (go-ini does)."""
    heads = [sec.ref for _, sec in doc.sections if sec.ref]
    if not heads:
        return True
    start = doc.block_start(heads[-1][0])
    return start == 0 or doc.text[:start].endswith("\n\n") or doc.text[:start].endswith("\n\r\n")


def _style(doc: _Doc, sec: Mapping | None, anchor: _Val | None) -> tuple[str, str, str, str, int]:
    """How the neighbour writes a key line: (indentation, blanks before the delimiter, the
    delimiter, blanks after it, the column the section aligns its delimiters at or -1)."""
    keys = doc.leaves(sec) if sec is not None else []
    if anchor is None:
        anchor = keys[0][1] if keys else next((ref for _, s in doc.sections for _, ref in doc.leaves(s)), None)
    if anchor is None:
        return "", " ", "=", " ", -1
    text = doc.text
    line = text[anchor.line0:anchor.delim]
    indent = line[:len(line) - len(line.lstrip())]
    before = line[len(line.rstrip()):]
    after = text[anchor.delim + 1:anchor.start]
    cols = {ref.delim - ref.line0 for _, ref in keys}
    padded = any(text[ref.delim - 2:ref.delim] == "  " for _, ref in keys)
    col = cols.pop() if len(cols) == 1 and len(keys) > 1 and padded else -1
    return indent, before, text[anchor.delim], after if not after.strip() else " ", col


def _key_line(doc: _Doc, sec: Mapping | None, key: str, node: Node, anchor: _Val | None, path: TreePath,
              width: int = -1) -> str:
    if not isinstance(node, Scalar):
        raise UsageError(f"cannot write a nested value at {path_text(path)}: INI values are flat")
    indent, before, delim, after, col = _style(doc, sec, anchor)
    name = _key_text(key, path)
    head = indent + name
    if width >= 0:  # a block of new keys where the file aligns: aligned like go-ini, to the longest
        col, delim, after = len(indent) + width + 1, "=", " "
    if col > len(head):
        before = " " * (col - len(head))
    elif col >= 0:
        before = " "
    value = _value_text(_scalar_text(node.value), anchor.raw if anchor else "", path)
    return head + before + delim + (after if value else "") + value


def _key_lines(doc: _Doc, sec: Mapping | None, node: Mapping, path: TreePath) -> list[str]:
    """The lines of a new section's keys, each with the comments above it that come before it
    in ``node`` (a node the merge built from its view, :meth:`IniStore.merge_view`; a parsed
    INI section keeps a key's comments after it instead)."""
    items = node.items
    keys = [k for k, v in items if k is not None]
    aligned = _style(doc, sec, None)[4] >= 0 if sec is not None and doc.leaves(sec) else _aligned_file(doc)
    width = max((len(_key_text(k, (*path, k))) for k in keys), default=0) if aligned else -1
    lines: list[str] = []
    above: list[str] = []
    for k, v in items:
        if k is None:
            above += [v.text] if isinstance(v, Comment) else []
            continue
        lines += _comment_lines(doc, sec, above) + [_key_line(doc, sec, k, v, None, (*path, k), width)]
        above = []
    return lines + _comment_lines(doc, sec, above)


def _aligned_file(doc: _Doc) -> bool:
    """Whether some section of the file aligns its delimiters (as go-ini writes them)."""
    return any(_style(doc, sec, None)[4] >= 0 for _, sec in doc.sections)


def _comment_lines(doc: _Doc, sec: Mapping | None, texts: Sequence[str]) -> list[str]:
    """Comment lines written as the section's (else the file's) first comment is: ``;`` or
    ``#``, with or without a blank after it."""
    if not texts:
        return []
    prefix = "; "
    for s in ([sec] if sec is not None else []) + [x for _, x in doc.sections]:
        found = [doc.text[v.ref[0]:v.ref[1]] for _, v in s.items if isinstance(v, Comment) and isinstance(v.ref, tuple)]
        if found:
            line = found[0]
            marks = len(line) - len(line.lstrip("#;"))
            prefix = line[:marks] + (" " if line[marks:marks + 1] in (" ", "\t") else "")
            break
    # a block's later lines keep their own marks (as go-ini reads a block: see the store)
    return [line if n and line[:1] in ("#", ";") else prefix + line
            for t in texts for n, line in enumerate(t.split("\n"))]


def _key_text(key: str, path: TreePath) -> str:
    """A key as go-ini reads it back: bare, else in quotes."""
    for cand in (key, f'"{key}"', f"`{key}`"):
        if _reads_back(f"{cand} = x", key, "x"):
            return cand
    raise UsageError(f"the key {path_text(path)} cannot be written in an INI file")


def _value_text(value: str, neighbour: str, path: TreePath) -> str:
    """The value's text: the neighbour's quotes if go-ini reads it back the same, else bare,
    else go-ini's own quoting."""
    cands = [q + value + q for q in "\"'" if _has_surrounded_quote(neighbour, q)]
    cands += [value, go_ini_quote(value), '"""' + value + '"""', "`" + value + "`"]
    for cand in cands:
        if _reads_back("k = " + cand, "k", value):
            return cand
    raise UsageError(f"the value at {path_text(path)} cannot be written so that go-ini reads it back the same")


def _reads_back(line: str, key: str, value: str) -> bool:
    try:
        doc = STORE.parse(f"[x]\n{line}\nzz = 1\n").documents[0]
    except SopsyError:
        return False
    sec = doc.get("x")
    if not isinstance(sec, Mapping):
        return False
    got = [(k, v.value) for k, v in sec.items if k is not None and isinstance(v, Scalar)]
    return got == [(key, value), ("zz", "1")]

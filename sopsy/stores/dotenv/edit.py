"""Document edits (:mod:`sopsy.edits`) on a dotenv file: whole lines in, out or replaced.

A dotenv document is one flat mapping, so paths have one part: the key as written before the
``=`` (``export A``), or the bare variable name (``A``) when no key is written that way. A new
line has the key exactly as the path names it (sops's keys: ``export A`` and ``A`` differ), and
takes after its neighbour (the entry it follows, or the first entry) in one thing only: real
line breaks inside a quoted value when the file already holds such values
(otherwise ``\\n``, as sops writes). The value is the text sops reads after the ``=`` (quotes
are part of it), so it is written as given; a value the format cannot hold so that it reads
back the same (a nested one, a literal backslash-n, a quote opened and never closed) is a
UsageError naming the path. Every line no edit touches stays as it was.
"""

from __future__ import annotations

import re

from ...errors import SopsyError, UsageError
from ...model import Scalar
from .._editing import check_batch, path_text
from . import _OPENERS, STORE, DotenvFile, _opens_multiline, _Seg, scalar_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...edits import Edit, TreePath
    from ...model import Node

_EXPORT = re.compile(r"[ \t]*export[ \t]+")
# a line that closes a quote of any kind: if a written value swallows it, the value is not closed
_SENTINEL = "Z\"'`"


def _name(key: str) -> str:
    return _EXPORT.sub("", key, count=1).strip(" \t")


class _Plan:
    """What the batch does to each segment (by index) of the parsed file."""

    def __init__(self, parsed: DotenvFile) -> None:
        self.segs = parsed.segs
        self.keys: dict[str, int] = {}
        self.names: dict[str, int] = {}
        for i, seg in enumerate(self.segs):
            if seg.kind == "entry":
                self.keys.setdefault(seg.text, i)
                self.names.setdefault(_name(seg.text), i)
        self.entries = [i for i, seg in enumerate(self.segs) if seg.kind == "entry"]
        self.multiline = any(seg.kind == "entry" and "\n" in seg.raw for seg in self.segs)
        self.replace: dict[int, str] = {}
        self.delete: set[int] = set()
        self.before: dict[int, list[str]] = {}
        self.after: dict[int, list[str]] = {}
        self.end: list[str] = []

    def find(self, path: TreePath) -> int:
        if len(path) != 1 or not isinstance(path[0], str):
            raise UsageError(f"the path {path_text(path)} does not exist in the file (a dotenv file is flat)")
        i = self.keys.get(path[0], self.names.get(_name(path[0]), -1))
        if i < 0:
            raise UsageError(f"the path {path_text(path)} does not exist in the file")
        return i

    def comment_block(self, i: int) -> int:
        """The first of the comment lines directly above segment ``i`` (``i`` if none)."""
        while i > 0 and (self.segs[i - 1].kind == "comment"
                         or (self.segs[i - 1].kind == "raw" and self.segs[i - 1].text.strip())):
            i -= 1
        return i


def apply_edits(parsed: DotenvFile, edits: Sequence[Edit]) -> str:
    from ...edits import Delete, Insert, Replace

    check_batch(parsed, edits, "dotenv")
    plan = _Plan(parsed)
    for e in edits:
        if isinstance(e, Replace):
            i = plan.find(e.path)
            seg = plan.segs[i]
            plan.replace[i] = _entry(seg.text, e.node, "\n" in seg.raw, e.path)
        elif isinstance(e, Delete):
            i = plan.find(e.path)
            plan.delete.update(range(plan.comment_block(i), i + 1))
        elif isinstance(e, Insert):
            _insert(plan, e)
    if set(plan.replace) & plan.delete:
        raise UsageError("the batch both replaces and deletes the same key")
    out: list[str] = []
    for i, seg in enumerate(plan.segs):
        out.extend(plan.before.get(i, ()))
        if i not in plan.delete:
            out.append(plan.replace.get(i) or _text(seg))
        out.extend(plan.after.get(i, ()))
    out.extend(plan.end)
    body = "\n".join(out)
    if out and (parsed.final_newline or not plan.segs):
        body += "\n"  # an empty file gets the usual final line break
    return body


def _text(seg: _Seg) -> str:
    return seg.text + "=" + seg.raw if seg.kind == "entry" else seg.text


def _insert(plan: _Plan, e: Edit) -> None:
    from ...edits import Insert

    assert isinstance(e, Insert)
    where = (*e.parent, e.key if e.key is not None else "")
    if e.parent != () or not isinstance(e.key, str):
        raise UsageError(f"cannot insert at {path_text(where)}: a dotenv file is one flat list of keys")
    anchor = (plan.entries[0] if plan.entries else -1) if e.after is None else plan.find((e.after,))
    # the key as the path names it: sops reads `export A` and `A` as two keys, so a prefix
    # added here would make a key the path (and --extract) does not find
    key = e.key
    if key in plan.keys:
        raise UsageError(f"the key {path_text((key,))} is already in the file")
    multiline = plan.multiline or (anchor >= 0 and "\n" in plan.segs[anchor].raw)
    lines = ["#" + line for c in e.comments for line in c.split("\n")]
    lines.append(_entry(key, e.node, multiline, where))
    if anchor < 0:
        plan.end.extend(lines)
    elif e.after is None:
        plan.before.setdefault(plan.comment_block(anchor), []).extend(lines)
    else:
        plan.after.setdefault(anchor, []).extend(lines)


def _entry(key: str, node: Node, multiline: bool, path: TreePath) -> str:
    """The line(s) ``key=value`` for a new or replaced entry, checked to read back as written."""
    if not isinstance(node, Scalar):
        raise UsageError(f"cannot write a nested value at {path_text(path)}: dotenv values are flat")
    if "=" in key or "\n" in key or not _name(key) or key.lstrip(" \t").startswith("#") or key.startswith("sops_"):
        raise UsageError(f"the key {path_text(path)} cannot be written in a dotenv file")
    value = scalar_text(node.value)
    if "\\n" in value:
        raise UsageError(f"the value at {path_text(path)} holds a backslash followed by n, which dotenv "
                         "reads as a line break")
    tries = [value, value.replace("\n", "\\n")] if multiline and "\n" in value else [value.replace("\n", "\\n")]
    for raw in tries:
        line = key + "=" + raw
        # a quote left open could take in later lines of the file (a PEM body below): refused
        # whatever the lines below are now
        if _reads_back(line, key, value) and not (raw[:1] in _OPENERS and _opens_multiline(raw)):
            return line
    raise UsageError(f"the value at {path_text(path)} opens a quote it does not close, which dotenv "
                     "cannot hold without taking in the lines after it")


def _reads_back(line: str, key: str, value: str) -> bool:
    """Whether ``line`` parses as the one entry ``key`` = ``value``, and leaves the next line
    alone whatever quote it holds."""
    try:
        segs = STORE.parse(line + "\n" + _SENTINEL + "=1\n").segs
    except SopsyError:
        return False
    entries = [s for s in segs if s.kind == "entry"]
    return (len(segs) == 2 and len(entries) == 2 and entries[0].text == key
            and isinstance(entries[0].node, Scalar) and entries[0].node.value == value)

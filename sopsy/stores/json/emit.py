"""Writing JSON text: values as Go's encoding/json writes them (sops's JSON), and whole values
laid out like their surroundings (:class:`Layout`)."""

from __future__ import annotations

import math
import re

from ...errors import DumpError
from ...model import Comment, Mapping, Scalar, Sequence
from ...values import GoTime, format_float_f, format_float_g, same_value
from .scanner import NUMBER

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')


def _go_escape_one(m: re.Match[str]) -> str:
    c = m.group(0)
    e = _GO_ESCAPES.get(c)
    if e is not None:
        return e
    if "\ud800" <= c <= "\udfff":  # invalid UTF-8 (surrogate-escaped bytes): Go writes U+FFFD
        return "\\ufffd"
    return f"\\u{ord(c):04x}"


def go_quote(s: str) -> str:
    """A string as Go's encoding/json writes it (HTML-safe escaping)."""
    return '"' + _GO_ESCAPE_RE.sub(_go_escape_one, s) + '"'


def go_number(v: float) -> str:
    """A float as Go's encoding/json writes it: the 'f' form, but 'e' below 1e-6 and from 1e21."""
    if math.isnan(v) or math.isinf(v):
        raise DumpError("JSON cannot hold NaN or infinite numbers")
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        return format_float_g(v).replace("e-0", "e-")
    return format_float_f(v)


def value_text(value: Any, spelling: str | None = None) -> str:
    """One scalar value as JSON text (a number in its own spelling when that is JSON)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if spelling is not None and NUMBER.match(spelling) and same_value(float(spelling), value):
            return spelling
        return go_number(value)
    if isinstance(value, GoTime):
        return go_quote(value.text)
    if isinstance(value, str):
        return go_quote(value)
    raise DumpError(f"cannot write a {type(value).__name__} value as JSON")


class Text(str):
    """Already-rendered JSON text."""


class Raw(dict):  # type: ignore[type-arg]
    """A mapping that may hold duplicate keys (kept as ordered pairs)."""

    def __init__(self, d: dict[str, Any], pairs: list[tuple[str, Any]]) -> None:
        super().__init__(d)
        self.pairs = pairs


def _entries(value: Any) -> tuple[str, str, list[tuple[str | None, Any]]] | None:
    """A container's brackets and (key or None, child) entries; None for a scalar."""
    if isinstance(value, Text):
        return None
    if isinstance(value, Raw):
        return "{", "}", list(value.pairs)
    if isinstance(value, Mapping):  # (comment items are sorted out by the caller)
        return "{", "}", [(k, v) for k, v in value.items if k is not None or isinstance(v, Comment)]
    if isinstance(value, Sequence):
        return "[", "]", [(None, v) for v in value.items if not isinstance(v, Comment)]
    if isinstance(value, dict):
        return "{", "}", [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):
        return "[", "]", [(None, v) for v in value]
    return None


def _scalar_text(value: Any) -> str:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, Scalar):
        return go_quote(value.enc) if value.enc is not None else value_text(value.value, value.spelling)
    return value_text(value)


class Layout:
    """How a file lays out its objects, so that added text looks like the rest."""

    __slots__ = ("multiline", "nl", "key_indent", "unit", "kv", "sep", "comments")

    def __init__(self, multiline: bool = True, nl: str = "\n", key_indent: str = "\t", unit: str = "\t",
                 kv: str = ": ", sep: str = " ", comments: bool = False) -> None:
        self.comments = comments  # write the whole-comment items of a merge's JSONC view (edits only)
        self.multiline = multiline
        self.nl = nl
        self.key_indent = key_indent  # indentation of a top-level key
        self.unit = unit  # one level of nesting
        self.kv = kv  # between a key and its value
        self.sep = sep  # after a comma (single-line layout)

    def dump(self, value: Any, depth: int) -> str:
        """``value`` (plain data or model nodes) at nesting ``depth`` (0 = the top-level object)."""
        return self.dump_at(value, self.unit * depth)

    def dump_at(self, value: Any, indent: str) -> str:
        """``value`` written where a line starts with ``indent``: nested lines are indented one
        unit more. Iterative, so that no nesting depth is too deep for it."""
        out: list[str] = []
        work: list[Any] = [(value, indent)]
        while work:
            item = work.pop()
            if isinstance(item, str):
                out.append(item)
                continue
            v, ind = item
            shape = _entries(v)
            if shape is None:
                out.append(_scalar_text(v))
                continue
            open_, close, all_entries = shape
            entries, above, inline = _with_comments(all_entries, self.multiline and self.comments)
            if not entries:
                out.append(open_ + close)
                continue
            inner_ind = ind + self.unit
            inner = self.nl + inner_ind if self.multiline else ""
            between = "," + (inner if self.multiline else self.sep)
            work.append(inline[-1] + (self.nl + ind if self.multiline else "") + close)
            for i in range(len(entries) - 1, -1, -1):
                key, child = entries[i]
                work.append((child, inner_ind))
                lead = open_ + inner if i == 0 else "," + inline[i - 1] + between[1:]
                lead += "".join(c + inner for c in above[i])
                work.append(lead if key is None else lead + go_quote(key) + self.kv)
        return "".join(out)


def _with_comments(entries: list[tuple[str | None, Any]], lines: bool) -> tuple[
        list[tuple[str | None, Any]], list[list[str]], list[str]]:
    """An object's entries without its comments (model Comment items, which the merge's view of
    a JSONC file has), the comment lines above each entry, and the comment after each on its
    line (" // c", or ""; in the model it stands before its entry). Comments are written only
    where items take lines of their own; those after the last entry are not."""
    out: list[tuple[str | None, Any]] = []
    above: list[list[str]] = []
    inline: list[str] = []
    pending: list[str] = []
    pending_inline = ""
    for k, v in entries:
        if isinstance(v, Comment):
            if lines and _TOKEN.fullmatch(v.text.strip()):  # (a comment that came from JSON)
                if v.inline:
                    pending_inline += " " + v.text.strip()
                else:
                    pending.append(v.text.strip())
            continue
        out.append((k, v))
        above.append(pending)
        inline.append(pending_inline)
        pending, pending_inline = [], ""
    return out, above, inline or [""]


_TOKEN = re.compile(r"//[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/")


def json_metadata(md: dict[str, Any]) -> dict[str, Any]:
    """sops writes an empty ``hc_vault``/``age`` list inside a key group as JSON null (§4.3)."""
    groups = md.get("key_groups")
    if not isinstance(groups, list):
        return md
    out = dict(md)
    out["key_groups"] = [
        {k: (None if k in ("hc_vault", "age") and v == [] else v) for k, v in g.items()} if isinstance(g, dict) else g
        for g in groups
    ]
    return out

"""Writing tfvars values: HCL string quoting, the source of a decrypted leaf, fresh blocks."""

from __future__ import annotations

import math
import re
from typing import Any

from ...errors import DumpError, InputError
from ...model import Comment, Mapping, Node, Scalar, Sequence
from ...values import GoTime, Value
from .lexer import template_parts
from .scanner import META_KEY, Parser

IDENT_FULL = re.compile(r"[^\W\d][\w-]*\Z")
_NUMBER_FULL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_NEEDS_CARE = re.compile(r'[\x00-\x1f\x7f"\\$%\ud800-\udfff]')


def _escape_literal(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch < " " or ch == "\x7f" or "\ud800" <= ch <= "\udfff":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


def quote_template(value: str) -> str:
    """A quoted HCL string whose template-form value is ``value``."""
    if not _NEEDS_CARE.search(value):
        return '"' + value + '"'  # the common case: nothing to escape
    parts = template_parts(value)
    if parts is None:  # an unclosed ${ cannot be template syntax: write it as literal text
        return quote_literal(value)
    return '"' + "".join(t if syntax else _escape_literal(t) for syntax, t in parts) + '"'


def quote_literal(s: str) -> str:
    """A quoted HCL string whose Terraform value is exactly ``s`` (template syntax escaped)."""
    return '"' + _escape_literal(s).replace("${", "$${").replace("%{", "%%{") + '"'


def derive(value: Value, spelling: str | None) -> str:
    """The HCL source a decrypted leaf gets when no layout hint says otherwise."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if spelling is not None and _NUMBER_FULL.match(spelling):
            return spelling  # a leaf's spelling always parses back to its value (model.Scalar)
        if isinstance(value, int):
            return str(value)
        if math.isnan(value) or math.isinf(value):
            raise DumpError("tfvars cannot hold NaN or infinite numbers")
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value)) if value != 0 or math.copysign(1, value) > 0 else "-0"
        return repr(value)
    if isinstance(value, GoTime):
        return quote_literal(value.text)
    return quote_template(value)


def key_text(k: str) -> str:
    return k if IDENT_FULL.match(k) else quote_literal(k)


def emit_node(node: Node, indent: str, literal: bool, align: bool = False) -> str:
    """A value written fresh at ``indent``; ``align`` pads the keys of consecutive one-line
    items of an object so that their ``=`` line up (as ``terraform fmt`` does)."""
    if isinstance(node, Scalar):
        if literal and isinstance(node.value, str):
            return quote_literal(node.value)
        return derive(node.value, None)
    inner = indent + "  "
    if isinstance(node, Sequence):
        items = [v for v in node.items if not isinstance(v, Comment)]
        if not items:
            return "[]"
        if all(isinstance(v, Scalar) for v in items):
            return "[" + ", ".join(emit_node(v, inner, literal) for v in items) + "]"
        lines = [f"{inner}{emit_node(v, inner, literal, align)}," for v in items]
        return "[\n" + "\n".join(lines) + "\n" + indent + "]"
    if isinstance(node, Mapping):
        rows: list[tuple[str, str, str] | str] = []
        end = ""  # an inline comment: it stands before its item in the model, ends its line here
        for k, v in node.items:
            if k is None:
                if isinstance(v, Comment) and v.inline and "\n" not in v.text:
                    end = " " + comment_lines(v.text)[0]
                elif isinstance(v, Comment):
                    rows.extend(inner + c for c in comment_lines(v.text))
                continue
            rows.append((key_text(k), emit_node(v, inner, literal, align), end))
            end = ""
        if not rows:
            return "{}"
        return "{\n" + "\n".join(_rows(rows, inner, align)) + "\n" + indent + "}"
    return "null"


_TOKEN = re.compile(r"(?:#|//)[^\n]*|/\*(?:[^*]|\*(?!/))*\*/")


def comment_lines(text: str, mark: str = "#") -> list[str]:
    """A comment's lines: its text as it is when it is a whole comment with its mark (the
    merge's view passes them so), else each line after ``mark``."""
    if _TOKEN.fullmatch(text):
        return [text]
    return [mark + t for t in text.split("\n")]


def marked_view(node: Node, text: str) -> Node:
    """``node`` with every comment that has its source span as a comment holding its whole
    source text, mark included (new containers, the same leaves)."""
    def marked(c: Comment) -> Comment:
        if isinstance(c.ref, tuple):
            return Comment(text[c.ref[0]:c.ref[1]].rstrip("\r"), ref=c.ref, inline=c.inline)
        return c

    if isinstance(node, Mapping):
        items: list[tuple[str | None, Node]] = []
        for k, v in node.items:
            if not isinstance(v, Comment):
                items.append((k, marked_view(v, text)))
            elif _ends_line_of(text, v, items[-1][1] if items and items[-1][0] is not None else None):
                c = marked(v)  # a /* */ after a one-line value, on its line: part of that line, as the
                items.insert(len(items) - 1, (None, Comment(c.text, ref=c.ref, inline=True)))  # editor has it
            else:
                items.append((None, marked(v)))
        return Mapping(items, ref=node.ref)
    if isinstance(node, Sequence):
        return Sequence([marked(v) if isinstance(v, Comment) else marked_view(v, text) for v in node.items],
                        ref=node.ref)
    return node


def _ends_line_of(text: str, c: Comment, leaf: Node | None) -> bool:
    """Whether a block comment the scanner left after ``leaf`` stands on the leaf's one line."""
    if c.inline or not isinstance(c.ref, tuple) or not isinstance(leaf, Scalar):
        return False
    ref = leaf.ref
    start = getattr(ref, "key", -1)
    start = start if isinstance(start, int) and start >= 0 else getattr(ref, "start", -1)
    return isinstance(start, int) and start >= 0 and text.find("\n", start, c.ref[0]) < 0


def _rows(rows: list[tuple[str, str, str] | str], indent: str, align: bool) -> list[str]:
    """Object lines ``key = value`` (and an inline comment); aligned per run of one-line values
    when asked (a value over several lines, or a comment line, ends a run and is not aligned)."""
    out: list[str] = []
    run: list[tuple[str, str, str]] = []

    def flush() -> None:
        width = max((len(k) for k, _, _ in run), default=0) if align else 0
        out.extend(f"{indent}{k.ljust(width)} = {v}{end}" for k, v, end in run)
        run.clear()

    for row in rows:
        if isinstance(row, str):
            flush()
            out.append(row)
            continue
        if "\n" in row[1]:
            flush()
            out.append(f"{indent}{row[0]} = {row[1]}{row[2]}")
            continue
        run.append(row)
    flush()
    return out


def from_plain(data: Any) -> Node:
    if isinstance(data, dict):
        return Mapping([(str(k), from_plain(v)) for k, v in data.items()])
    if isinstance(data, list):
        return Sequence([from_plain(v) for v in data])
    return Scalar(data)


def meta_block(metadata: dict[str, Any]) -> str:
    return META_KEY + " = " + emit_node(from_plain(metadata), "", literal=True)


def parse_expression(text: str) -> Value | None:
    """The value of one standalone leaf expression (a layout hint), or None if it is not one."""
    try:
        p = Parser(text)
        i = p.skip(0, False)
        node, end = p.value(i, 0)
    except InputError:
        return None
    if end != len(text) or i != 0 or not isinstance(node, Scalar):
        return None
    return node.value

"""The text sops prints for a value: go-yaml v3's choice of style and spelling.

A decrypt writes a value where the encrypted file has a plain ``ENC[...]`` and no layout hint
says otherwise: a file sops wrote (or one whose hints sops dropped). Such a file is laid out by
go-yaml, so the value is written as go-yaml writes it, and sopsy's output is what sops's is:
the scalar style go-yaml's encoder and emitter pick (plain, single or double quoted, literal
block), its escapes, block indentation and chomping, ``!!binary`` base64 for bytes that are
not UTF-8, and floats in Go's shortest ``%g`` form (``1e-07``, ``-0``). Hand-written because no
Python YAML library emits as go-yaml does; the rules follow go-yaml's ``encode.go``
(``stringv``, ``floatv``) and ``emitterc.go`` (``analyze_scalar``, ``select_scalar_style``,
the scalar writers), checked against the real sops in tests/test_yaml_hardening.py.
"""

from __future__ import annotations

import math
import re

from ...values import Value, format_float_f, format_float_g
from ...yamlscalar import NULLS, resolve_plain, scalar_text, typed_text

_SIMPLE_PLAIN = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_./ -]*[A-Za-z0-9_./-])?\Z")
_OLD_BOOLS = frozenset(["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                        "on", "On", "ON", "off", "Off", "OFF"])
_RESERVED = NULLS | {"true", "True", "TRUE", "false", "False", "FALSE"} | _OLD_BOOLS
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?\Z")
_NOT_UTF8 = re.compile("[\ud800-\udfff]")  # bytes that were not UTF-8 (surrogateescape)
_ODD_BREAKS = re.compile("[\x85\u2028\u2029]")
_BINARY_LINE = 70  # go-yaml's encodeBase64 line length
_ESCAPES = {"\0": "0", "\x07": "a", "\b": "b", "\t": "t", "\n": "n", "\x0b": "v", "\x0c": "f", "\r": "r",
            "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\u2028": "L", "\u2029": "P"}


def float_text(value: float) -> str:
    """go-yaml's float: ``strconv.FormatFloat(v, 'g', -1, 64)`` with YAML's inf/nan words."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return format_float_g(value)


def typed_plaintext(value: Value, spelling: str | None) -> str:
    """A decrypted non-string value. sopsy encrypts a number's own spelling, so a spelling other
    than sops's canonical plaintext is the source's; the canonical one (every float sops wrote,
    and sopsy's where they agree) prints as sops prints it."""
    if type(value) is float and (spelling is None or spelling == format_float_f(value)):
        return float_text(value)
    return typed_text(value, spelling)


def value_text(value: Value, spelling: str | None, block_indent: int, step: int = 4, flow: bool = False,
               owner: int | None = None) -> str:
    """What sops prints for a decrypted value at a plain position (``block_indent``: where the
    lines of a block scalar go; ``step``: the file's indentation step; ``flow``: inside a flow
    collection; ``owner``: the column of the value's key or ``-``, see :func:`_literal`)."""
    if type(value) is not str:
        return typed_plaintext(value, spelling)
    if _SIMPLE_PLAIN.match(value):  # the common case, decided without the analysis (flow too)
        return value if value not in _RESERVED else '"' + value + '"'
    if flow:  # sops writes no flow collections: these are sopsy's, kept in sopsy's style
        return _binary(value, 0, True) if _NOT_UTF8.search(value) else scalar_text(value, 0, True)
    if not value:
        return '""'
    if _NOT_UTF8.search(value):
        return _binary(value, block_indent, flow)
    if value == "<<":
        return "!!merge <<"  # go-yaml's encoder writes it plain, and its reader then tags it
    plain_ok, single_ok, block_ok = _analyze(value)
    if "\n" in value:
        if block_ok and not _ODD_BREAKS.search(value):
            return _literal(value, block_indent, step, owner)
        return double_quoted(value)
    if isinstance(resolve_plain(value), str) and value not in _OLD_BOOLS and not _BASE60_FLOAT.match(value):
        if plain_ok:
            return value
        if single_ok and not _ODD_BREAKS.search(value):
            return "'" + value.replace("'", "''") + "'"
    return double_quoted(value)


def _printable(ch: str) -> bool:
    c = ord(ch)
    return (c == 0x0A or 0x20 <= c <= 0x7E or 0xA0 <= c <= 0xD7FF
            or (0xE000 <= c <= 0xFFFD and c != 0xFEFF))


def _analyze(value: str) -> tuple[bool, bool, bool]:
    """go-yaml's ``analyze_scalar`` in block context: (plain, single quoted, block) allowed."""
    n = len(value)
    block_ind = value.startswith(("---", "..."))
    first = value[0]
    after_first = n == 1 or value[1] in " \t"
    if first in "#,[]{}&*!|>'\"%@`" or (first in "?:" and after_first) or (first == "-" and after_first):
        block_ind = True
    special = tabs = space_break = break_space = False
    prev_space = prev_break = False
    for i, ch in enumerate(value):
        if i and ((ch == ":" and (i + 1 == n or value[i + 1] in " \t"))
                  or (ch == "#" and value[i - 1] in " \t\n\r\x85\u2028\u2029")):
            block_ind = True
        if ch == "\t":
            tabs = True
        elif not _printable(ch):
            special = True
        if ch == " ":
            break_space = break_space or prev_break
            prev_space, prev_break = True, False
        elif ch in "\r\n\x85\u2028\u2029":
            space_break = space_break or prev_space
            prev_space, prev_break = False, True
        else:
            prev_space = prev_break = False
    edge = value[0] in " \r\n\x85\u2028\u2029" or value[-1] in " \r\n\x85\u2028\u2029"
    breaks = any(ch in value for ch in "\r\n\x85\u2028\u2029")
    plain = not (edge or break_space or space_break or tabs or special or breaks or block_ind)
    single = not (break_space or space_break or tabs or special)
    block = not (value[-1] == " " or space_break or special)
    return plain, single, block


def double_quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in _ESCAPES:
            out.append("\\" + _ESCAPES[ch])
        elif not _printable(ch):
            c = ord(ch)
            out.append(f"\\x{c:02X}" if c <= 0xFF else f"\\u{c:04X}" if c <= 0xFFFF else f"\\U{c:08X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _literal(value: str, indent: int, step: int, owner: int | None = None) -> str:
    """A ``|`` block as go-yaml writes it, without the line break that ends it (the file's own
    line break follows the spliced value).

    A block whose first line starts with a blank needs an indentation indicator, which YAML
    counts from the owner's column (the key's, or the ``-``'s). go-yaml writes its indentation
    step there even where its lines are not that far in (under a ``-``): YAML no reader, sops
    included, can read back. Given ``owner``, the indicator is the real distance."""
    trailing = len(value) - len(value.rstrip("\n"))
    shift = indent - owner if owner is not None and 0 < indent - owner < 10 else step
    header = "|" + (str(shift) if value[0] in " \n" else "") + ("-" if trailing == 0 else "+" if trailing > 1 or
                                                                trailing == len(value) else "")
    lines = value.split("\n")
    if trailing:
        lines.pop()
    pad = " " * indent
    return header + "\n" + "\n".join(pad + ln if ln else "" for ln in lines)


def _binary(value: str, indent: int, flow: bool) -> str:
    """Bytes that are not UTF-8: go-yaml writes them as ``!!binary`` base64, in lines of 70."""
    import base64

    b64 = base64.b64encode(value.encode("utf-8", "surrogateescape")).decode("ascii")
    if len(b64) < _BINARY_LINE or flow:
        return "!!binary " + b64
    pad = " " * indent
    return "!!binary |\n" + "\n".join(pad + b64[i:i + _BINARY_LINE] for i in range(0, len(b64), _BINARY_LINE))

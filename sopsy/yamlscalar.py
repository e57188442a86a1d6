"""YAML scalars as go-yaml v3 (and so sops) reads them, and safe ways to write them back.

The resolver mirrors go-yaml v3's ``resolve``: it decides whether a plain scalar is a null,
bool, int, float, timestamp or string, because that type decides the sops type tag and the
MAC bytes. PyYAML resolves YAML 1.1 (``yes`` is a bool there, ``0777`` is 511 in both), so it
cannot be used for this.
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from .values import GoTime, Value, canonical_time, format_float_g, go_parse_float, same_value

NULLS = frozenset({"", "~", "null", "Null", "NULL"})
BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_GO_INT_BASE0 = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_TS = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:(?:([Tt])|( ))([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?)?\Z"
)
TAG_PREFIX = "tag:yaml.org,2002:"
UINT64_MAX = 2**64 - 1


class NotResolvable(ValueError):
    pass


def _parse_go_int(text: str) -> int | None:
    """Go ``strconv.ParseInt(s, 0, 64)`` / ParseUint, without the range check."""
    m = _GO_INT_BASE0.match(text)
    if not m:
        return None
    sign, body = m.groups()
    v = int(body, 8) if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB" else int(body, 0)
    return -v if sign == "-" else v


def parse_timestamp(text: str) -> GoTime | None:
    m = _TS.match(text)
    if not m:
        return None
    y, mo, d, t_sep, sp_sep, h, mi, s, frac, tz = m.groups()
    if sp_sep and tz:
        return None  # go-yaml's space-separated layout has no zone
    if t_sep is None and sp_sep is None:
        h = mi = s = "0"
    off = 0
    if tz and tz != "Z":
        off = int(tz[1:3]) * 60 + int(tz[4:6])
        if tz[0] == "-":
            off = -off
    try:
        return canonical_time(int(y), int(mo), int(d), int(h), int(mi), int(s), frac or "", off)
    except ValueError:
        return None


def resolve_plain(text: str) -> Value:
    """The value of an untagged plain scalar, as go-yaml v3 resolves it.

    Integers beyond int64 come back as Python ints (sops rejects them when encrypting).
    """
    c = text[:1]
    if c.isalpha() and c not in "nNtTfF":
        return text  # the common case (and every ENC[...] value): only null/bool words start so
    if text in NULLS:
        return None
    b = BOOLS.get(text)
    if b is not None:
        return b
    f = SPECIAL_FLOATS.get(text)
    if f is not None:
        return f
    c = text[0]
    if c == ".":
        try:
            return go_parse_float(text)
        except ValueError:
            return text
    if c in "+-0123456789":
        if c in "0123456789" and len(text) >= 5 and text[4] == "-":
            ts = parse_timestamp(text)
            if ts is not None:
                return ts
        plain = text.replace("_", "")
        iv = _parse_go_int(plain)
        if iv is not None and (-(2**63) <= iv <= UINT64_MAX):
            return iv
        if _YAML_STYLE_FLOAT.match(plain):
            try:
                return go_parse_float(plain)
            except ValueError:
                pass
    return text


def resolve(text: str, tag: str | None, plain: bool) -> Value:
    """A scalar's value from its text, tag and style (quoted and block scalars are strings)."""
    if tag is None or tag == "!":
        return resolve_plain(text) if plain else text
    if not tag.startswith(TAG_PREFIX):
        return text  # a local tag such as CloudFormation's !Ref: go-yaml gives the string
    kind = tag[len(TAG_PREFIX):]
    if kind == "str":
        return text
    if kind == "binary":
        try:
            raw = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise NotResolvable("!!binary value is not valid base64") from None
        return raw.decode("utf-8", "surrogateescape")
    v = resolve_plain(text)
    if kind == "null":
        return None
    if kind == "bool" and isinstance(v, bool):
        return v
    if kind == "int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if kind == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if kind == "timestamp":
        ts = v if isinstance(v, GoTime) else parse_timestamp(text)
        if ts is not None:
            return ts
    if kind in ("merge",):
        return text
    raise NotResolvable(f"a !!{kind} value cannot be read as {kind}")


# -- writing scalars ---------------------------------------------------------------------------

_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
_FLOW_CHARS = set(",[]{}")
# YAML 1.1 readers (PyYAML, older tools) read these as booleans; keep them quoted.
_YAML11_BOOLS = frozenset(["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"])
_PRINTABLE_EXTRA = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff\u2028\u2029]")
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?\Z")


# Words that read as something else than a string somewhere in YAML 1.1 or 1.2.
_RESERVED = NULLS | set(BOOLS) | _YAML11_BOOLS
# The common case, decided without the resolver: a letter first, then word characters and
# inner spaces (no ": " or " #" can occur without ":" or "#").
_SIMPLE_PLAIN = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_./ -]*[A-Za-z0-9_./-])?\Z")


def plain_ok(value: str, flow: bool = False) -> bool:
    """Whether ``value`` can be written as a plain scalar and read back as the same string."""
    if _SIMPLE_PLAIN.match(value):
        return value not in _RESERVED
    if not value or value != value.strip(" \t") or "\n" in value or "\r" in value:
        return False
    if _PRINTABLE_EXTRA.search(value) or "\t" in value:
        return False
    first = value[0]
    if first in _INDICATORS and (first not in "-?:" or len(value) == 1 or value[1] in " \t" or flow):
        return False
    if ": " in value or " #" in value or value.endswith(":"):
        return False
    if flow and any(ch in _FLOW_CHARS for ch in value):
        return False
    if value.startswith(("---", "...")):
        return False
    if value in _YAML11_BOOLS or _SEXAGESIMAL.match(value):
        return False
    return isinstance(resolve_plain(value), str)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0",
            "\x07": "\\a", "\b": "\\b", "\x0b": "\\v", "\x0c": "\\f", "\x1b": "\\e",
            "\x85": "\\N", "\xa0": "\\_", "\u2028": "\\L", "\u2029": "\\P"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]')


def double_quoted(value: str) -> str:
    def esc(m: re.Match[str]) -> str:
        ch = m.group(0)
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            return f"\\x{code - 0xDC00:02X}"
        return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"

    return '"' + _NEEDS_ESCAPE.sub(esc, value) + '"'


def single_quoted_ok(value: str) -> bool:
    return "\n" not in value and "\r" not in value and not _PRINTABLE_EXTRA.search(value)


def single_quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def literal_lines_ok(value: str) -> bool:
    """Whether a literal block scalar (auto-detected indentation) can hold ``value``."""
    if not value or _PRINTABLE_EXTRA.search(value) or "\r" in value:
        return False
    body = value.rstrip("\n")
    if not body:
        return False
    lines = body.split("\n")
    first = next((ln for ln in lines if ln.strip(" ")), "")
    # leading spaces on the first content line would need an indentation indicator
    if first[:1] in (" ", "\t") or not first:
        return False
    # a leading line made only of spaces would change the detected indentation
    return not any(ln and not ln.strip(" ") for ln in lines[: lines.index(first)])


def literal_block(value: str, indent: int, header_extra: str = "") -> str:
    """``|`` block text (header, newline, indented lines; no trailing newline after the last line)."""
    stripped = value.rstrip("\n")
    trailing = len(value) - len(stripped)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    pad = " " * indent
    lines = [pad + ln if ln else "" for ln in stripped.split("\n")]
    out = "|" + chomp + header_extra + "\n" + "\n".join(lines)
    if trailing > 1:
        out += "\n" * (trailing - 1)
    return out


def folded_block(value: str, indent: int) -> str | None:
    """``>`` block text for ``value`` (each line break written as a blank line, so nothing is
    folded away), or None where a folded block cannot hold it (a tab, or a line starting with
    a space: it would be "more indented")."""
    if not literal_lines_ok(value) or "\t" in value:
        return None
    stripped = value.rstrip("\n")
    if any(ln[:1] == " " for ln in stripped.split("\n")):
        return None
    trailing = len(value) - len(stripped)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    body = re.sub(r"\n+", lambda m: m.group() + "\n", stripped)
    pad = " " * indent
    out = ">" + chomp + "\n" + "\n".join(pad + ln if ln else "" for ln in body.split("\n"))
    return out + "\n" * (trailing - 1) if trailing > 1 else out


def typed_text(value: Value, spelling: str | None) -> str:
    """Plain text for a non-string value: its own spelling when YAML reads it back the same."""
    if spelling is not None and spelling and same_value(resolve_plain(spelling), value):
        # sops's canonical bools are "True"/"False"; YAML files (and sops's output) say true/false
        return spelling.lower() if spelling in ("True", "False") else spelling
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        g = format_float_g(value)
        return g if isinstance(resolve_plain(g), float) else g + ".0"
    if isinstance(value, GoTime):
        return value.text
    raise TypeError(type(value).__name__)


def scalar_text(value: Value, indent: int, flow: bool = False) -> str:
    """A fresh, safe spelling of any value (used where no source spelling exists)."""
    if not isinstance(value, str):
        return typed_text(value, None)
    if plain_ok(value, flow):
        return value
    if not flow and "\n" in value.rstrip("\n") and literal_lines_ok(value):
        return literal_block(value, indent)
    return double_quoted(value)

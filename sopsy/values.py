"""Typed leaf values and their byte forms, exactly as sops 3 (Go) serialises and parses them.

sops encrypts the *bytes* of a typed value (``ToBytes``) and feeds the same bytes to the MAC.
Decryption parses them back with Go's ``strconv`` functions, which accept more spellings than
they produce (``+5``, ``TRUE``, ``6.85e+5``). sopsy uses that: when a value's own spelling
parses back to the same value, the spelling is what gets encrypted (so the file comes back
byte-exact), while the MAC always uses the canonical form (so sops agrees on it).
"""

from __future__ import annotations

import math
import re

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Final

# sops type tags
STR: Final = "str"
INT: Final = "int"
FLOAT: Final = "float"
BOOL: Final = "bool"
TIME: Final = "time"
COMMENT: Final = "comment"
BYTES: Final = "bytes"
NULL: Final = "null"  # not a sops tag: null leaves are never encrypted nor MACed

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


class GoTime:
    """A timestamp kept as its canonical RFC 3339 text (Go ``time.MarshalText``).

    Python's datetime has no nanoseconds, and nothing here needs arithmetic on times,
    so the canonical text *is* the value.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoTime) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"GoTime({self.text!r})"


Value = str | int | float | bool | GoTime | None


def type_tag(value: Value) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, GoTime):
        return TIME
    return STR


def format_float_f(v: float) -> str:
    """Go ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    if "e" not in r:
        # Python's repr is the shortest round-trip form too, and fixed-point below 1e16
        return r[:-2] if r.endswith(".0") else r
    from decimal import Decimal  # only exponent forms need it (and it costs ~2 ms to import)

    return format(Decimal(r).normalize(), "f")


def format_float_g(v: float) -> str:
    """Go ``strconv.FormatFloat(v, 'g', -1, 64)`` (what go-yaml writes for floats)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    from decimal import Decimal

    d = Decimal(repr(v)).normalize()
    exp = d.adjusted()
    # Go: with the shortest precision, %e is used when the exponent is < -4 or >= 6.
    if exp < -4 or exp >= 6:
        digits = "".join(map(str, d.as_tuple().digits))
        sign = "-" if v < 0 else ""
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return format_float_f(v)


def to_bytes(value: Value) -> bytes:
    """sops ToBytes: the plaintext (and MAC) byte form of a typed leaf."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return format_float_f(value).encode()
    if isinstance(value, GoTime):
        return value.text.encode()
    raise TypeError(f"cannot serialise a {type(value).__name__} value")


# --- Go strconv parsers, used on decrypt -------------------------------------------------------

_GO_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9]+)?\Z")
_GO_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+\Z")
_GO_SPECIAL = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf,
               "+infinity": math.inf, "-infinity": -math.inf, "nan": math.nan, "+nan": math.nan, "-nan": math.nan}
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_GO_ATOI = re.compile(r"[+-]?[0-9]+\Z")


def go_atoi(s: str) -> int:
    if not _GO_ATOI.match(s):
        raise ValueError("invalid syntax")
    v = int(s)
    if not INT64_MIN <= v <= INT64_MAX:
        raise ValueError("value out of range")
    return v


def go_parse_float(s: str) -> float:
    special = _GO_SPECIAL.get(s.lower())
    if special is not None:
        return special
    if _GO_DEC_FLOAT.match(s):
        # Go allows underscores only after a base prefix; a decimal string with "_" is invalid.
        if "_" in s:
            raise ValueError("invalid syntax")
        v = float(s)
    elif _GO_HEX_FLOAT.match(s):
        v = float.fromhex(s)
    else:
        raise ValueError("invalid syntax")
    if math.isinf(v):
        raise ValueError("value out of range")
    return v


def go_parse_bool(s: str) -> bool:
    if s in _GO_TRUE:
        return True
    if s in _GO_FALSE:
        return False
    raise ValueError("invalid syntax")


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|z|[+-][0-9]{2}:[0-9]{2})\Z"
)


def canonical_time(year: int, month: int, day: int, hour: int, minute: int, second: int,
                   frac: str, offset_minutes: int) -> GoTime:
    import calendar

    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 60):
        raise ValueError("time out of range")
    frac = frac[:9].rstrip("0")
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if frac:
        text += "." + frac
    if offset_minutes == 0:
        text += "Z"
    else:
        sign = "+" if offset_minutes > 0 else "-"
        h, m = divmod(abs(offset_minutes), 60)
        text += f"{sign}{h:02d}:{m:02d}"
    return GoTime(text)


def go_parse_rfc3339(s: str) -> GoTime:
    m = _RFC3339.match(s)
    if not m:
        raise ValueError("cannot parse as RFC 3339")
    y, mo, d, h, mi, se, frac, tz = m.groups()
    off = 0
    if tz not in ("Z", "z"):
        off = int(tz[1:3]) * 60 + int(tz[4:6])
        if tz[0] == "-":
            off = -off
    return canonical_time(int(y), int(mo), int(d), int(h), int(mi), int(se), frac or "", off)


def from_bytes(plaintext: bytes, tag: str) -> Value:
    """Parse decrypted bytes back into a typed value (sops's decrypt side). Raises ValueError."""
    if tag in (STR, COMMENT, BYTES):
        return plaintext.decode("utf-8", "surrogateescape")
    text = plaintext.decode("utf-8", "surrogateescape")
    if tag == INT:
        return go_atoi(text)
    if tag == FLOAT:
        return go_parse_float(text)
    if tag == BOOL:
        return go_parse_bool(text)
    if tag == TIME:
        return go_parse_rfc3339(text)
    raise ValueError(f"unknown type tag {tag!r}")


def spelling_is_exact(spelling: str, value: Value) -> bool:
    """Whether sops, decrypting ``spelling`` under ``value``'s type tag, gets ``value`` back."""
    try:
        back = from_bytes(spelling.encode("utf-8", "surrogateescape"), type_tag(value))
    except ValueError:
        return False
    if isinstance(value, float) and isinstance(back, float):
        if math.isnan(value):
            return math.isnan(back)
        return back == value and math.copysign(1, back) == math.copysign(1, value)
    return type(back) is type(value) and back == value


def same_value(a: Value, b: Value) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b

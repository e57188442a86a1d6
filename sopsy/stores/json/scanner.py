"""Reading JSON: a position-tracking scanner that turns the text into the :mod:`sopsy.model`
tree, every node remembering where it sits in the source.

It tokenises with one compiled regex per token (no per-character Python loop) and parses
iteratively (no recursion limit on nesting; the depth is capped at sops's own limit instead).
Scalar refs are ``(start, end, value as parsed)``; container refs are :class:`Box`.
"""

from __future__ import annotations

import math
import re

from ...errors import InputError, NoDocument
from ...model import Mapping, Node, Scalar, Sequence
from ...values import format_float_f, format_float_g

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

# Go's encoding/json, which sops writes with, refuses to write deeper nesting (sops exits 4);
# sops reads deeper files but cannot write them, so no sops-made file is deeper.
MAX_DEPTH = 10_000

# Trivia (whitespace and JSONC comments) followed by one token; the group tells the token kind.
# Possessive runs (*+, ++): the alternatives start with different characters, so they match the
# same text, but a 130-character ENC string is one step instead of one per character.
TRIVIA_RE = r'(?:[ \t\r\n]++|//[^\r\n]*+|/\*(?:[^*]|\*(?!/))*\*/)*+'
STRING_RE = r'"(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+"'
TOKEN = re.compile(
    TRIVIA_RE
    + r'(?:(' + STRING_RE + r')'  # 1 string
    r'|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)'  # 2 number
    r'|([{}\[\],:])'  # 3 punctuation
    r'|(true|false|null))'  # 4 literal
)
# the common case of a key: string, blanks, colon (one match instead of two tokens)
_KEY = re.compile(TRIVIA_RE + r'(' + STRING_RE + r')' + TRIVIA_RE + ':')
TRIVIA = re.compile(TRIVIA_RE)
# pieces of trivia between tokens, for finding commas and line ends when splicing
PIECE = re.compile(r'//[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/|,|\r?\n|[ \t]+')
NUMBER = re.compile(r'-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z')
_ESCAPE = re.compile(
    r'\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(["\\/bfnrt]))'
)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
# bytes that are not UTF-8 arrive as lone surrogates (the text was decoded with surrogateescape)
_NOT_UTF8 = re.compile("[\ud800-\udfff]")
# in a file that parsed, a "/" outside every string starts a comment
_SLASH_OUTSIDE_STRINGS = re.compile(r'(?:[^"/]++|"(?:[^"\\]++|\\.)*+")*+/', re.S)

_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}


def _unescape_match(m: re.Match[str]) -> str:
    hi, lo, single, simple = m.groups()
    if hi:
        return chr(0x10000 + ((int(hi, 16) - 0xD800) << 10) + (int(lo, 16) - 0xDC00))
    if single:
        cp = int(single, 16)
        # Go decodes a lone surrogate escape to U+FFFD (and UTF-8 cannot carry one anyway)
        return "\ufffd" if 0xD800 <= cp <= 0xDFFF else chr(cp)
    return _SIMPLE_ESCAPES[simple]


def decode_string(token: str) -> str:
    """The value of a scanned string token (quotes included)."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape_match, body)


def line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


class Box:
    """Source position of a container: span, depth, the items it was parsed with and, for a
    mapping, where each item's key token starts."""

    __slots__ = ("start", "end", "depth", "snapshot", "keys")

    def __init__(self, start: int, depth: int) -> None:
        self.start = start
        self.end = start
        self.depth = depth
        self.snapshot: list[Any] = []
        self.keys: list[int] = []


class Member:
    """A top-level member's positions (for placing and removing the metadata)."""

    __slots__ = ("key", "key_start", "value_start", "value_end")

    def __init__(self, key: str, key_start: int, value_start: int, value_end: int) -> None:
        self.key = key
        self.key_start = key_start
        self.value_start = value_start
        self.value_end = value_end


class ParsedJson:
    """A parsed JSON file: the document tree, the raw metadata, and the source for splicing."""

    def __init__(self, text: str, document: Mapping, metadata: dict[str, Any] | None,
                 members: list[Member], sops_index: int | None, close: int) -> None:
        self.text = text
        self.documents: list[Mapping] = [document]
        self.metadata = metadata
        self.members = members  # every top-level member, the sops one included
        self.sops_index = sops_index
        self.close = close  # position of the top-level "}"
        self._jsonc: bool | None = None

    @property
    def jsonc(self) -> bool:
        """Whether the file has comments (sops cannot read it). Found when first asked: a
        decrypt never asks, and the search costs a pass over the text."""
        if self._jsonc is None:
            self._jsonc = has_comments(self.text)
        return self._jsonc

    @property
    def notice(self) -> str | None:
        """A warning for whoever encrypts this file (see :func:`sopsy.core.encrypt_parsed`)."""
        if self.jsonc:
            return ("the JSON file has comments (JSONC): sopsy keeps them, but sops will not be able to "
                    "read the encrypted result")
        return None


def has_comments(text: str) -> bool:
    """In text that parsed, whether a comment is present (a "/" outside every string)."""
    return "/" in text and _SLASH_OUTSIDE_STRINGS.match(text) is not None


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\]++|\\.)*+"|(//[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/)', re.S)


def comment_texts(text: str) -> list[str]:
    """The comments of a JSONC text, in order (the document model does not hold them)."""
    if not has_comments(text):
        return []
    return [m.group(1).strip() for m in _STRING_OR_COMMENT.finditer(text) if m.group(1)]


def fail(text: str, pos: int, what: str) -> InputError:
    return InputError(f"invalid JSON at {line_col(text, pos)}: {what}")


def parse(text: str) -> ParsedJson:
    root, pos = _start(text)
    tok = TOKEN.match
    key_match = _KEY.match
    members: list[Member] = []
    # parser stack: containers; for mappings, the pending key
    stack: list[Mapping | Sequence] = [root]
    keys: list[tuple[str, int] | None] = [None]
    # expecting: 0 = key or "}" (after "{"), 1 = value, 2 = "," or close, 3 = key (after ","),
    # 4 = value or "]" (after "["), 5 = ":", 6 = value or "]" after "," ("]" there closes after
    # a trailing comma); -1: close the current container
    state = 0
    trailing: list[int] = []  # where the first container closed after a trailing comma
    while True:
        if state == 0 or state == 3:  # the common case of a key: one match for key and colon
            mk = key_match(text, pos)
            if mk is not None:
                keys[-1] = (decode_string(mk.group(1)), mk.start(1))
                pos = mk.end()
                state = 1
                continue
        m = tok(text, pos)
        if m is None:
            at = TRIVIA.match(text, pos).end()  # type: ignore[union-attr]
            raise fail(text, at, "unexpected end of file" if at >= len(text) else "unexpected character")
        pos = m.end()
        kind = m.lastindex
        container = stack[-1]
        if state == 2 and kind == 3 and m.group(3) == ",":  # the common case, inline
            state = 3 if type(container) is Mapping else 6
            continue
        if (state != 1 and state != 4 and state != 6) or (kind == 3 and m.group(3) in ",]}:"):
            state = _step(text, state, m, container, keys, trailing)
            if state != -1:
                continue
            box = container.ref  # close the container
            box.end = pos
            box.snapshot = list(container.items)
            stack.pop()
            keys.pop()
            if not stack:
                break
            node: Node = container
            value_start = box.start
        else:  # a value: scalars inline, the hot path
            value_start = start = m.start(kind or 0)
            if kind == 1:
                value = decode_string(m.group(1))
                node = Scalar(value, None, None, (start, pos, value))
            elif kind == 2:
                spelling = m.group(2)
                f = float(spelling)
                if math.isinf(f):
                    raise fail(text, start, "a number too large for a 64-bit float")
                # every JSON number parses back exactly (Go ParseFloat), so the spelling is kept;
                # but where it is what decrypting sops's plaintext prints (1e-7 for 0.0000001),
                # that plaintext is the spelling: a sops-made value keeps its ciphertext
                a = abs(f)
                if a and (a < 1e-6 or a >= 1e21) and spelling == format_float_g(f).replace("e-0", "e-"):
                    spelling = format_float_f(f)  # (emit.go_number's text, in its range)
                node = Scalar(f, spelling, None, (start, pos, f))
            elif kind == 4:
                lit = _LITERALS[m.group(4)]
                node = Scalar(lit, None, None, (start, pos, lit))
            else:
                new = _open(text, m.group(3), start, len(stack))
                _attach(container, keys, new, members, len(stack), start, -1)
                stack.append(new)
                keys.append(None)
                state = 0 if isinstance(new, Mapping) else 4
                continue
        state = 2
        # a finished value: attach it (containers were attached when opened)
        if isinstance(node, Scalar):
            _attach(stack[-1], keys, node, members, len(stack), value_start, pos)
        elif len(stack) == 1:
            members[-1].value_end = pos
    return _finish(text, root, members, pos, trailing)


def _start(text: str) -> tuple[Mapping, int]:
    """The top-level object's opening: the root container and where its content starts."""
    bad = None if text.isascii() else _NOT_UTF8.search(text)
    if bad is not None:
        # sops would replace the bytes with U+FFFD and so change the data
        raise fail(text, bad.start(), "the file is not valid UTF-8 (JSON text must be)")
    pos = 1 if text.startswith("\ufeff") else 0
    m = TOKEN.match(text, pos)
    if m is None:
        at = TRIVIA.match(text, pos).end()  # type: ignore[union-attr]
        if at == len(text):
            raise NoDocument("the JSON file is empty")
        raise fail(text, at, "unexpected character")
    if m.group(3) != "{":
        raise InputError("a JSON file must hold an object at the top level"
                         f" (this one holds {_kind_of(m)}); sops cannot encrypt it either")
    return Mapping(ref=Box(m.start(3), 0)), m.end()


def _step(text: str, state: int, m: re.Match[str], container: Mapping | Sequence,
          keys: list[tuple[str, int] | None], trailing: list[int]) -> int:
    """The next state after a key or punctuation token other than a comma after a value (-1:
    close the container)."""
    kind = m.lastindex
    p = m.group(3) if kind == 3 else None
    if state == 5:
        if p == ":":
            return 1
        raise fail(text, m.start(kind or 0), "expected ':'")
    if state == 0 or state == 3:
        if kind == 1:
            keys[-1] = (decode_string(m.group(1)), m.start(1))
            return 5
        if p == "}":
            if state == 3 and not trailing:
                trailing.append(m.start(3))
            return -1
        raise fail(text, m.start(kind or 0), "expected a string key")
    if state == 2:
        if p == ",":
            return 3 if isinstance(container, Mapping) else 6
        if p == "]" or p == "}":
            if (p == "}") == isinstance(container, Mapping):
                return -1
            raise fail(text, m.start(3), f"unexpected '{p}'")
        raise fail(text, m.start(kind or 0), "expected ',' or a closing bracket")
    if p == "]" and state != 1:  # after "[" or ","
        if state == 6 and not trailing:
            trailing.append(m.start(3))
        return -1
    raise fail(text, m.start(3), f"unexpected '{p}'")


def _open(text: str, p: str, start: int, depth: int) -> Mapping | Sequence:
    if p != "{" and p != "[":
        raise fail(text, start, f"unexpected '{p}'")
    if depth >= MAX_DEPTH:
        raise fail(text, start, f"nested more than {MAX_DEPTH:,} levels deep (sops cannot write deeper JSON either)")
    return Mapping(ref=Box(start, depth)) if p == "{" else Sequence(ref=Box(start, depth))


def _finish(text: str, root: Mapping, members: list[Member], pos: int, trailing: list[int]) -> ParsedJson:
    """After the top-level object: nothing but trivia, then the metadata split off."""
    rest = TRIVIA.match(text, pos).end()  # type: ignore[union-attr]
    if rest != len(text):
        raise fail(text, rest, "data after the top-level object")
    parsed = _split_metadata(text, root, members, pos - 1)
    if trailing and parsed.metadata is None and not parsed.jsonc:
        # without comments only blanks lie between that comma and the bracket
        raise fail(text, text.rfind(",", 0, trailing[0]), "a trailing comma (sopsy accepts one only in JSON with comments, "
                                   "JSONC; sops accepts neither)")
    return parsed


def _attach(parent: Mapping | Sequence, keys: list[tuple[str, int] | None], node: Node,
            members: list[Member], depth: int, value_start: int, value_end: int) -> None:
    if isinstance(parent, Mapping):
        pending = keys[-1]
        assert pending is not None
        parent.items.append((pending[0], node))
        parent.ref.keys.append(pending[1])
        if depth == 1:
            members.append(Member(pending[0], pending[1], value_start, value_end))
    else:
        parent.items.append(node)


def _kind_of(m: re.Match[str]) -> str:
    if m.lastindex == 1:
        return "a string"
    if m.lastindex == 2:
        return "a number"
    if m.lastindex == 4:
        return "null" if m.group(4) == "null" else "a boolean"
    return "an array" if m.group(3) == "[" else "no value"


def _split_metadata(text: str, root: Mapping, members: list[Member], close: int) -> ParsedJson:
    found = [i for i, mem in enumerate(members) if mem.key == "sops"]
    if not found:
        return ParsedJson(text, root, None, members, None, close)
    if len(found) > 1:
        raise InputError('the file has more than one top-level "sops" key')
    index = found[0]
    node = root.items[index][1]
    if not isinstance(node, Mapping):
        raise InputError('the top-level key "sops" is reserved for sops metadata and must be an object')
    del root.items[index]
    box = root.ref
    box.snapshot = list(root.items)
    del box.keys[index]
    return ParsedJson(text, root, plain_data(node), members, index, close)


def plain_data(node: Node) -> Any:
    """Metadata as plain data; numbers as int when written as integers (shamir_threshold).
    Iterative: the metadata object may be as deep as any other."""
    def leaf(n: Node) -> Any:
        if isinstance(n, Scalar):
            v = n.value
            if isinstance(v, float) and n.spelling is not None and n.spelling.lstrip("-").isdigit():
                return int(n.spelling)
            return v
        return None

    if not isinstance(node, (Mapping, Sequence)):
        return leaf(node)
    root: Any = {} if isinstance(node, Mapping) else []
    work: list[tuple[Mapping | Sequence, Any]] = [(node, root)]
    while work:
        src, dst = work.pop()
        pairs = [(k, v) for k, v in src.items if k is not None] if isinstance(src, Mapping) \
            else [(None, v) for v in src.items]
        for k, v in pairs:
            if isinstance(v, (Mapping, Sequence)):
                out: Any = {} if isinstance(v, Mapping) else []
                work.append((v, out))
            else:
                out = leaf(v)
            if k is None:
                dst.append(out)
            else:
                dst[k] = out
    return root

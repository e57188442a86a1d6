"""The JSON store: sops-compatible JSON (and JSONC) that round-trips byte for byte.

Reading: a small position-tracking scanner turns the text into the :mod:`sopsy.model` tree,
every node remembering where it sits in the source. The stdlib ``json`` module cannot be used
for that: it gives no source positions (so nothing could be spliced back in place), it turns
``1.0``/``1E2``/``12345678901234567890`` into Python numbers whose spelling is lost, it merges
duplicate keys, and it rejects comments. The scanner tokenises with one compiled regex per
token (no per-character Python loop) and parses iteratively (no recursion limit on nesting).

Typing follows sops (reference §7.2): every number is a ``float`` leaf whose *spelling* is the
source text, so ``12345678901234567890`` is encrypted as written and comes back unchanged
(sops itself would read it as a double and give back ``12345678901234567000``); strings,
booleans and nulls are what they look like. Duplicate keys are kept, as sops keeps them.

JSONC: ``//`` and ``/* */`` comments (VS Code settings, devcontainer.json, tsconfig.json) and
trailing commas are accepted. Comments are not data: they stay in place as plaintext, are not
encrypted and are not part of the MAC. Such a file is not JSON to the real sops, which refuses
it, both plain and encrypted.

Writing is splicing: each encrypted (or decrypted) leaf's token is replaced and every other
byte is kept. The metadata goes in as the last top-level key ``"sops": {...}``, laid out in the
file's own indentation, line ending and separators, and is taken out again exactly on decrypt.
A decrypted string is written in Go's escaping (as sops writes it) unless a layout hint holds
the source spelling (``\\u00e9``, ``\\/``, a literal ``<``...).
"""

from __future__ import annotations

import math
import re

from ..cipher import iv_of
from ..errors import DumpError, InputError, NoDocument
from ..model import Comment, Mapping, Node, Scalar, Sequence
from ..values import GoTime, format_float_f, format_float_g, same_value
from . import FastScan, native

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

# -- scanner ------------------------------------------------------------------------------------

# Trivia (whitespace and JSONC comments) followed by one token; the group tells the token kind.
# Possessive runs (*+, ++): the alternatives start with different characters, so they match the
# same text, but a 130-character ENC string is one step instead of one per character.
_TOKEN = re.compile(
    r'(?:[ \t\r\n]++|//[^\r\n]*+|/\*(?:[^*]|\*(?!/))*\*/)*+'
    r'(?:("(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+")'  # 1 string
    r'|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)'  # 2 number
    r'|([{}\[\],:])'  # 3 punctuation
    r'|(true|false|null))'  # 4 literal
)
# the common case of a key: string, blanks, colon (one match instead of two tokens)
_KEY = re.compile(
    r'(?:[ \t\r\n]++|//[^\r\n]*+|/\*(?:[^*]|\*(?!/))*\*/)*+'
    r'("(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+")'
    r'(?:[ \t\r\n]++|//[^\r\n]*+|/\*(?:[^*]|\*(?!/))*\*/)*+:'
)
_TRIVIA = re.compile(r'(?:[ \t\r\n]++|//[^\r\n]*+|/\*(?:[^*]|\*(?!/))*\*/)*+')
# pieces of trivia between tokens, for finding commas and line ends when splicing
_PIECE = re.compile(r'//[^\r\n]*|/\*(?:[^*]|\*(?!/))*\*/|,|\r?\n|[ \t]+')
_NUMBER = re.compile(r'-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z')
_ESCAPE = re.compile(
    r'\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(["\\/bfnrt]))'
)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

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


def _decode_string(token: str) -> str:
    """The value of a scanned string token (quotes included)."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    return _ESCAPE.sub(_unescape_match, body)


def _line_col(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


class _Box:
    """Source position of a container: span, depth, and the items it was parsed with."""

    __slots__ = ("start", "end", "depth", "snapshot")

    def __init__(self, start: int, depth: int) -> None:
        self.start = start
        self.end = start
        self.depth = depth
        self.snapshot: list[Any] = []


class _Member:
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
                 members: list[_Member], sops_index: int | None, close: int) -> None:
        self.text = text
        self.documents: list[Mapping] = [document]
        self.metadata = metadata
        self.members = members  # every top-level member, the sops one included
        self.sops_index = sops_index
        self.close = close  # position of the top-level "}"



def _fail(text: str, pos: int, what: str) -> InputError:
    return InputError(f"invalid JSON at {_line_col(text, pos)}: {what}")


def _parse(text: str) -> ParsedJson:
    tok = _TOKEN.match
    n = len(text)
    pos = 1 if text.startswith("\ufeff") else 0
    m = tok(text, pos)
    if m is None:
        if _TRIVIA.match(text, pos).end() == n:  # type: ignore[union-attr]
            raise NoDocument("the JSON file is empty")
        raise _fail(text, _TRIVIA.match(text, pos).end(), "unexpected character")  # type: ignore[union-attr]
    if m.group(3) != "{":
        raise InputError("a JSON file must hold an object at the top level"
                         f" (this one holds {_kind_of(m)}); sops cannot encrypt it either")
    root = Mapping(ref=_Box(m.start(3), 0))
    members: list[_Member] = []
    # parser stack: containers; for mappings, the pending key
    stack: list[Mapping | Sequence] = [root]
    keys: list[tuple[str, int] | None] = [None]
    pos = m.end()
    # expecting: 0 = key or "}" (after "{"), 1 = value, 2 = "," or close, 3 = key (after ","),
    # 4 = value or "]" (after "["), 5 = ":"
    state = 0
    key_match = _KEY.match
    while True:
        if state == 0 or state == 3:
            mk = key_match(text, pos)
            if mk is not None:
                keys[-1] = (_decode_string(mk.group(1)), mk.start(1))
                pos = mk.end()
                state = 1
                continue
        m = tok(text, pos)
        if m is None:
            at = _TRIVIA.match(text, pos).end()  # type: ignore[union-attr]
            raise _fail(text, at, "unexpected end of file" if at >= n else "unexpected character")
        pos = m.end()
        kind = m.lastindex
        container = stack[-1]
        if state == 5:
            if kind == 3 and m.group(3) == ":":
                state = 1
                continue
            raise _fail(text, m.start(kind or 0), "expected ':'")
        if state in (0, 3):
            if kind == 1:
                token = m.group(1)
                keys[-1] = (_decode_string(token), m.start(1))
                state = 5
                continue
            if kind == 3 and m.group(3) == "}":
                # "{}" or a trailing comma: JSONC allows the latter
                state = -1
            else:
                raise _fail(text, m.start(kind or 0), "expected a string key")
        elif kind == 3 and m.group(3) in ",]}":
            p = m.group(3)
            start = m.start(3)
            if state == 4 and p == "]":
                state = -1
            elif state == 2 and p == ",":
                state = 3 if isinstance(container, Mapping) else 4
                continue
            elif state == 2 and (p == "}") == isinstance(container, Mapping):
                state = -1
            else:
                raise _fail(text, start, f"unexpected '{p}'")
        if state == -1:
            # close the current container
            box = container.ref
            box.end = pos
            box.snapshot = list(container.items)
            stack.pop()
            keys.pop()
            if not stack:
                break
            node: Node = container
            value_start = box.start
            state = 2
        elif state in (1, 4):
            start = m.start(kind or 0)
            if kind == 1:
                token = m.group(1)
                value = _decode_string(token)
                node = Scalar(value, None, None, (start, pos, value))
            elif kind == 2:
                spelling = m.group(2)
                f = float(spelling)
                if math.isinf(f):
                    raise _fail(text, start, "a number too large for a 64-bit float")
                # every JSON number parses back exactly (Go ParseFloat), so the spelling is kept
                node = Scalar(f, spelling, None, (start, pos, f))
            elif kind == 4:
                lit = _LITERALS[m.group(4)]
                node = Scalar(lit, None, None, (start, pos, lit))
            else:
                p = m.group(3)
                if p == "{":
                    new: Mapping | Sequence = Mapping(ref=_Box(start, len(stack)))
                    state = 0
                elif p == "[":
                    new = Sequence(ref=_Box(start, len(stack)))
                    state = 4
                else:
                    raise _fail(text, start, f"unexpected '{p}'")
                _attach(container, keys, new, text, members, len(stack), start, -1)
                stack.append(new)
                keys.append(None)
                continue
            value_start = start
            state = 2
        else:
            raise _fail(text, m.start(kind or 0), "expected ',' or a closing bracket")
        # a finished value: attach it (containers were attached when opened)
        parent = stack[-1]
        if isinstance(node, Scalar):
            _attach(parent, keys, node, text, members, len(stack), value_start, pos)
        elif len(stack) == 1:
            members[-1].value_end = pos
    close = pos - 1
    rest = _TRIVIA.match(text, pos).end()  # type: ignore[union-attr]
    if rest != n:
        raise _fail(text, rest, "data after the top-level object")
    return _split_metadata(text, root, members, close)


def _attach(parent: Mapping | Sequence, keys: list[tuple[str, int] | None], node: Node, text: str,
            members: list[_Member], depth: int, value_start: int, value_end: int) -> None:
    if isinstance(parent, Mapping):
        pending = keys[-1]
        assert pending is not None
        parent.items.append((pending[0], node))
        if depth == 1:
            members.append(_Member(pending[0], pending[1], value_start, value_end))
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


def _split_metadata(text: str, root: Mapping, members: list[_Member], close: int) -> ParsedJson:
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
    return ParsedJson(text, root, _plain(node, text), members, index, close)


def _plain(node: Node, text: str) -> Any:
    """Metadata as plain data; numbers as int when written as integers (shamir_threshold)."""
    if isinstance(node, Mapping):
        return {k: _plain(v, text) for k, v in node.items if k is not None}
    if isinstance(node, Sequence):
        return [_plain(v, text) for v in node.items]
    if isinstance(node, Scalar):
        if isinstance(node.value, float) and node.spelling is not None and node.spelling.lstrip("-").isdigit():
            return int(node.spelling)
        return node.value
    return None


# -- Go-compatible value text -------------------------------------------------------------------

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


def _value_text(value: Any, spelling: str | None = None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if spelling is not None and _NUMBER.match(spelling) and same_value(float(spelling), value):
            return spelling
        return go_number(value)
    if isinstance(value, GoTime):
        return go_quote(value.text)
    if isinstance(value, str):
        return go_quote(value)
    raise DumpError(f"cannot write a {type(value).__name__} value as JSON")


# -- layout -------------------------------------------------------------------------------------


class _Layout:
    """How the file lays out its top-level object, so added text looks like the rest."""

    __slots__ = ("multiline", "nl", "key_indent", "unit", "kv", "sep")

    def __init__(self, multiline: bool = True, nl: str = "\n", key_indent: str = "\t", unit: str = "\t",
                 kv: str = ": ", sep: str = " ") -> None:
        self.multiline = multiline
        self.nl = nl
        self.key_indent = key_indent  # indentation of a top-level key
        self.unit = unit  # one level of nesting
        self.kv = kv  # between a key and its value
        self.sep = sep  # after a comma (single-line layout)

    def dump(self, value: Any, depth: int) -> str:
        """``value`` (plain data or model nodes) at nesting ``depth`` (0 = the top-level object)."""
        if isinstance(value, _Text):
            return str(value)
        if isinstance(value, _Raw):
            return self._wrap("{", "}", [go_quote(k) + self.kv + self.dump(v, depth + 1) for k, v in value.pairs],
                              depth)
        if isinstance(value, Mapping):
            pairs: list[tuple[str, Any]] = [(k, v) for k, v in value.items if k is not None]
            return self._wrap("{", "}", [go_quote(k) + self.kv + self.dump(v, depth + 1) for k, v in pairs], depth)
        if isinstance(value, Sequence):
            items = [self.dump(v, depth + 1) for v in value.items if not isinstance(v, Comment)]
            return self._wrap("[", "]", items, depth)
        if isinstance(value, dict):
            return self._wrap("{", "}", [go_quote(str(k)) + self.kv + self.dump(v, depth + 1)
                                         for k, v in value.items()], depth)
        if isinstance(value, list):
            return self._wrap("[", "]", [self.dump(v, depth + 1) for v in value], depth)
        if isinstance(value, Scalar):
            return _leaf_text(value, None, None)
        return _value_text(value)

    def _wrap(self, open_: str, close: str, items: list[str], depth: int) -> str:
        if not items:
            return open_ + close
        if not self.multiline:
            return open_ + ("," + self.sep).join(items) + close
        inner = self.nl + self.unit * (depth + 1)
        outer = self.nl + self.unit * depth
        return open_ + inner + ("," + inner).join(items) + outer + close


def _layout_of(parsed: ParsedJson) -> _Layout:
    text = parsed.text
    members = [m for i, m in enumerate(parsed.members) if i != parsed.sops_index]
    nl = "\r\n" if "\r\n" in text and ("\n" not in text.replace("\r\n", "") or text.count("\r\n") * 2 >= text.count("\n")) else "\n"
    if not members:
        return _Layout(nl=nl)
    last = members[-1]
    # the text between the key token and the value: ":" with optional blanks around it
    key_end = _TOKEN.match(text, last.key_start)
    kv = ": "
    if key_end is not None:
        between = text[key_end.end():last.value_start]
        if re.fullmatch(r"[ \t]*:[ \t]*", between):
            kv = between
    before = text[:last.key_start]
    line_start = before.rfind("\n") + 1
    gap_start = _previous_token_end(parsed, len(members) - 1, members)
    if "\n" in text[gap_start:last.key_start]:
        # the line's leading blanks (a comment may sit between them and the key)
        key_indent = re.match(r"[ \t]*", text[line_start:last.key_start]).group(0)  # type: ignore[union-attr]
        # line ending of the line before the key
        nl = "\r\n" if text[line_start - 2:line_start] == "\r\n" else "\n"
        return _Layout(True, nl, key_indent, key_indent or "\t", kv, " ")
    sep = ""
    if len(members) >= 2:
        gap = text[members[-2].value_end:last.key_start]
        mm = re.fullmatch(r"[ \t]*,([ \t]*)", gap)
        sep = mm.group(1) if mm else " "
    elif re.search(r"\s", text[parsed.documents[0].ref.start + 1:last.key_start] + kv):
        sep = " "
    return _Layout(False, nl, "", "", kv, sep)


def _previous_token_end(parsed: ParsedJson, index: int, members: list[_Member]) -> int:
    if index > 0:
        return members[index - 1].value_end
    box = parsed.documents[0].ref
    return int(box.start) + 1


# -- rendering ----------------------------------------------------------------------------------


def _leaf_text(leaf: Scalar, text: str | None, hints: dict[str, Any] | None) -> str:
    """The text of a leaf in its current state."""
    ref = leaf.ref
    if leaf.enc is not None:
        return go_quote(leaf.enc)
    if isinstance(ref, tuple) and text is not None:
        start, end, orig = ref
        if same_value(leaf.value, orig) and (leaf.spelling is None or not isinstance(orig, float)
                                             or leaf.spelling == text[start:end]):
            return text[start:end]
        if isinstance(leaf.value, str) and hints and isinstance(orig, str):
            iv = iv_of(orig)
            hint = hints.get(iv) if iv else None
            if isinstance(hint, str) and _is_string_token(hint) and _decode_string(hint) == leaf.value:
                return hint
    return _value_text(leaf.value, leaf.spelling)


def _is_string_token(s: str) -> bool:
    m = _TOKEN.match(s)
    return m is not None and m.start(0) == 0 and m.lastindex == 1 and m.start(1) == 0 and m.end() == len(s)


class JsonStore:
    name = "json"

    def parse(self, text: str) -> ParsedJson:
        return _parse(text)

    def fast_scan(self, data: bytes) -> FastScan | None:
        """Plain JSON (no comments, no trailing commas, no escapes in keys) with one top-level
        "sops" object: the native accelerator decrypts it whole (see sopsy/_native.c)."""
        mod = native()
        member = mod.json_locate(data) if mod is not None else None
        if mod is None or member is None:
            return None
        import json

        try:
            metadata = json.loads(data[member[2]:member[3]])
        except ValueError:
            return None

        def decrypt(key: bytes, suffix: bytes, encrypted_suffix: bool, mac_only: bool,
                    prefix: bytes) -> tuple[bytes, str] | None:
            return mod.json_decrypt(data, key, suffix, encrypted_suffix, mac_only, prefix, member)  # type: ignore[no-any-return]

        return FastScan(metadata, decrypt) if isinstance(metadata, dict) else None

    def render(self, parsed: Any, metadata: dict[str, Any] | None, hints: dict[str, Any] | None = None) -> str:
        if not isinstance(parsed, ParsedJson):
            raise TypeError("the JSON store renders only files it parsed")
        text = parsed.text
        layout = _layout_of(parsed)
        edits: list[tuple[int, int, str]] = []
        self._collect(parsed.documents[0], text, hints, layout, edits, is_root=True)
        self._metadata_edits(parsed, metadata, layout, edits)
        edits.sort(key=lambda e: (e[0], e[1]))
        out: list[str] = []
        pos = 0
        for start, end, repl in edits:
            out.append(text[pos:start])
            out.append(repl)
            pos = max(pos, end)
        out.append(text[pos:])
        return "".join(out)

    def _collect(self, node: Mapping | Sequence, text: str, hints: dict[str, Any] | None,
                 layout: _Layout, edits: list[tuple[int, int, str]], is_root: bool = False) -> None:
        box = node.ref
        children = [item[1] if isinstance(item, tuple) else item for item in node.items]
        if not isinstance(box, _Box) or not self._same_shape(node, box):
            if is_root:
                raise DumpError("the JSON store cannot splice a document whose top level was rebuilt")
            if isinstance(box, _Box):
                edits.append((box.start, box.end, layout.dump(_resolve(node, text, hints), box.depth)))
            return
        dropped = [i for i, c in enumerate(children) if isinstance(c, Comment)]
        if dropped:
            self._drop_elements(node, box, dropped, text, edits)
        for child in children:
            if isinstance(child, Scalar):
                ref = child.ref
                if not isinstance(ref, tuple):
                    continue
                new = _leaf_text(child, text, hints)
                if new != text[ref[0]:ref[1]]:
                    edits.append((ref[0], ref[1], new))
            elif isinstance(child, (Mapping, Sequence)):
                self._collect(child, text, hints, layout, edits)

    @staticmethod
    def _same_shape(node: Mapping | Sequence, box: _Box) -> bool:
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

    @staticmethod
    def _drop_elements(node: Mapping | Sequence, box: _Box, dropped: list[int], text: str,
                       edits: list[tuple[int, int, str]]) -> None:
        """Remove comment elements (sops drops sequence comments when writing JSON)."""
        spans: list[tuple[int, int]] = []
        for item in box.snapshot:
            child = item[1] if isinstance(item, tuple) else item
            ref = child.ref
            spans.append((ref.start, ref.end) if isinstance(ref, _Box) else (ref[0], ref[1]))
        n = len(spans)
        gone = set(dropped)
        if len(gone) == n:
            edits.append((box.start + 1, box.end - 1, ""))
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
                edits.append((spans[i][0], spans[j + 1][0], ""))
            else:
                edits.append((spans[i - 1][1], spans[j][1], ""))
            i = j + 1

    def _metadata_edits(self, parsed: ParsedJson, metadata: dict[str, Any] | None, layout: _Layout,
                        edits: list[tuple[int, int, str]]) -> None:
        text = parsed.text
        members = parsed.members
        if metadata is not None:
            metadata = json_metadata(metadata)
        idx = parsed.sops_index
        if idx is not None:
            mem = members[idx]
            if metadata is not None:
                edits.append((mem.value_start, mem.value_end, layout.dump(metadata, 1)))
                return
            # remove the member: the blanks before its key, the member, and one comma
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
                edits.append((w, mem.value_end + comma_after + 1, ""))
                return
            end = mem.value_end
            if comma_before is not None:
                edits.append((limit + comma_before, limit + comma_before + 1, ""))
            elif text.startswith("\r\n", end):
                end += 2
            elif text.startswith("\n", end):
                end += 1
            edits.append((w, end, ""))
            return
        if metadata is None:
            return
        block = '"sops"' + layout.kv + layout.dump(metadata, 1)
        lead = layout.nl + layout.key_indent if layout.multiline else layout.sep
        if not members:
            after = parsed.documents[0].ref.start + 1
            if layout.multiline:
                edits.append((after, after, lead + block + layout.nl))
            else:
                edits.append((after, after, block))
            return
        p = members[-1].value_end
        q = p
        trailing_comma: int | None = None
        seen_newline = after_line_comment = False
        for piece in _PIECE.finditer(text, p, parsed.close):
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
            edits.append((q, q, lead + block + ","))
        elif q == p:
            edits.append((p, p, "," + lead + block))
        else:
            edits.append((p, p, ","))
            edits.append((q, q, lead + block))

    def layout_hints(self, parsed: Any) -> dict[str, Any]:
        if not isinstance(parsed, ParsedJson):
            return {}
        text = parsed.text
        hints: dict[str, Any] = {}
        for doc in parsed.documents:
            for leaf in _leaves(doc):
                if not leaf.enc or not isinstance(leaf.ref, tuple):
                    continue
                start, end, orig = leaf.ref
                if not isinstance(orig, str) or not isinstance(leaf.value, str):
                    continue
                source = text[start:end]
                if source != go_quote(leaf.value):
                    iv = iv_of(leaf.enc)
                    if iv:
                        hints[iv] = source
        return hints

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            raise NoDocument("no document to write")
        # sops: json.Indent with one TAB per level, and a final newline
        return _Layout().dump(documents[0], 0) + "\n"

    def emit_value(self, value: Any) -> str:
        return _Layout().dump(value, 0)


def _leaves(node: Node) -> list[Scalar]:
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
        return _Raw({k: _resolve(v, text, hints) for k, v in node.items if k is not None},
                    [(k, _resolve(v, text, hints)) for k, v in node.items if k is not None])
    if isinstance(node, Sequence):
        return [_resolve(v, text, hints) for v in node.items if not isinstance(v, Comment)]
    if isinstance(node, Scalar):
        return _Text(_leaf_text(node, text, hints))
    return None


class _Text(str):
    """Already-rendered JSON text."""


class _Raw(dict):  # type: ignore[type-arg]
    """A mapping that may hold duplicate keys (kept as ordered pairs)."""

    def __init__(self, d: dict[str, Any], pairs: list[tuple[str, Any]]) -> None:
        super().__init__(d)
        self.pairs = pairs


def _comma_in(gap: str) -> int | None:
    for piece in _PIECE.finditer(gap):
        if piece.group(0) == ",":
            return piece.start()
    return None


def _last_comment_end(text: str, start: int, end: int) -> int:
    last = start
    for piece in _PIECE.finditer(text, start, end):
        if piece.group(0)[0] == "/":
            last = piece.end()
    return last


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


STORE = JsonStore()

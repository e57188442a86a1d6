"""The dotenv store: sops's ``KEY=VALUE`` wire format, written back byte for byte.

sops reads a dotenv file line by line: the key is everything before the first ``=``, the value
everything after it (quotes, spaces and ``export`` included), ``\\n`` in a value means a newline,
``#`` lines are comments, and the metadata is appended as sorted ``sops_*`` lines. sopsy keeps
that wire format so both tools read each other's files, and keeps what sops drops: blank lines,
spacing, comments in plaintext, and values in quotes that span several lines (PEM keys: lines
sops cannot read; where sops reads each line as a key, so does sopsy).

No dotenv library fits: python-dotenv and friends give the *meaning* of values (quotes removed,
escapes decoded) but neither the raw text sops encrypts nor the source layout. The parser here
is line-based and linear; :func:`dotenv_environment` gives the meaning of each value separately.

Blank lines of whitespace and indented comments, which sops cannot read, are kept verbatim in
the plaintext; in the encrypted file they become an empty line or a ``#`` comment (so the real
sops still reads the file) and the exact line comes back from the layout hints. Any other line
without ``=`` is refused (exit 2, naming the line number only): written as a comment it would put
whatever it holds, a secret perhaps, in the encrypted file as plaintext.

Document edits (``set``/``unset``, merge) are line splices: :mod:`.edit`.
"""

from __future__ import annotations

import codecs
import re

from ...cipher import iv_of
from ...errors import DumpError, InputError
from ...metadata import flatten, unflatten
from ...model import Comment, Mapping, Scalar, Sequence
from ...values import GoTime, format_float_g, same_value
from .. import FastScan, native

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Mapping as AbcMapping
    from typing import Any

META_PREFIX = "sops_"
_WS = frozenset(" \t\r\v\f")
_OPENERS = frozenset(" \t\"'`")
_HINT_LINES = "dotenv:lines"  # not base64, so it cannot collide with an IV key
_HINT_EOL = "dotenv:eol"

# a quoted value's body: backslash pairs, or anything but the quote and backslash
_BODY = {q: re.compile(r"(?:\\.|[^" + re.escape(q) + r"\\])*") for q in "\"'`"}


class _Seg:
    """One logical line: ``kind`` is blank | raw | comment | entry | meta."""

    __slots__ = ("kind", "text", "raw", "node", "value0")

    def __init__(self, kind: str, text: str, raw: str = "", node: Scalar | Comment | None = None) -> None:
        self.kind = kind
        self.text = text  # blank/raw: the line; entry/meta: the key; comment: the whole line
        self.raw = raw  # entry/meta: the value text exactly as in the source
        self.node = node
        self.value0: Any = node.value if isinstance(node, Scalar) else None


class DotenvFile:
    def __init__(self, documents: list[Mapping], metadata: dict[str, Any] | None, segs: list[_Seg],
                 final_newline: bool, had_meta: bool) -> None:
        self.documents = documents
        self.metadata = metadata
        self.segs = segs
        self.final_newline = final_newline
        self.had_meta = had_meta


def _closing_line(lines: list[str], i: int, q: str) -> int:
    """Index of the line that closes a quote opened on line ``i`` (-1: the quote never closes)."""
    body = _BODY[q]
    # a lone backslash at the end of a line escapes the line break, so each line starts fresh
    for j in range(i + 1, len(lines)):
        line = lines[j]
        m = body.match(line)
        end = m.end() if m else 0
        if end < len(line) and line[end] == q:
            return j
    return -1


def _opens_multiline(rest: str) -> str | None:
    """The quote character when ``rest`` (the text after ``=``) opens a quote it does not close."""
    s = rest.lstrip(" \t")
    if not s or s[0] not in "\"'`":
        return None
    q = s[0]
    m = _BODY[q].match(s, 1)
    end = m.end() if m else 1
    return None if end < len(s) and s[end] == q else q


def _unescape_meta(v: str) -> str:
    return v.replace("\\n", "\n")


def _sops_reads_line(line: str) -> bool:
    """Whether sops's dotenv parser takes the line on its own (empty, a comment, or with ``=``)."""
    return not line or line[0] == "#" or "=" in line


def _value_of(raw: str) -> str:
    """sops's meaning of a raw value: ``\\n`` is a newline, nothing else changes."""
    return raw.replace("\\n", "\n")


def _real_newlines(raw: str) -> list[int]:
    """Positions, in the value, of the newlines that were real line breaks in ``raw``."""
    out: list[int] = []
    pos = 0
    parts = raw.split("\n")
    for part in parts[:-1]:
        pos += len(_value_of(part))
        out.append(pos)
        pos += 1
    return out


def scalar_text(value: Any) -> str:
    """A typed value as sops's dotenv emitter writes it (format conversion, ``set``, exec-env)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        s = format_float_g(value).upper().replace("NAN", "NaN").replace("INF", "Inf")
        if "." not in s and "E" not in s:
            s += ".0"
        return s
    if isinstance(value, GoTime):
        return value.text
    return str(value)


class DotenvStore:
    name = "dotenv"

    def parse(self, text: str) -> DotenvFile:
        lines = text.split("\n") if text else []
        final_newline = bool(lines) and lines[-1] == ""
        if final_newline:
            lines.pop()
        segs: list[_Seg] = []
        items: list[tuple[str | None, Any]] = []
        flat: dict[str, str] = {}
        i, n = 0, len(lines)
        while i < n:
            line = lines[i]
            i += 1
            if not line:
                segs.append(_Seg("blank", line))
                continue
            if line[0] == "#":
                c = Comment(line[1:], ref=len(segs))
                segs.append(_Seg("comment", line, node=c))
                items.append((None, c))
                continue
            if line[0] in _WS and line.lstrip()[:1] in ("", "#"):
                segs.append(_Seg("raw", line))  # blank or an indented comment: kept as it is
                continue
            pos = line.find("=")
            if pos < 0:
                # the text would reach the encrypted file as it is: refuse it, as sops does, and
                # never quote it (it may be a secret written the wrong way)
                raise InputError(f"line {i} is neither a comment nor a KEY=VALUE assignment "
                                 "(sops: invalid dotenv input line)")
            key, raw = line[:pos], line[pos + 1:]
            if key.startswith(META_PREFIX):
                flat[key[len(META_PREFIX):]] = _unescape_meta(raw)
                segs.append(_Seg("meta", key, raw))
                continue
            q = _opens_multiline(raw) if raw[:1] in _OPENERS else None
            if q is not None:
                j = _closing_line(lines, i - 1, q)
                # only where sops cannot read the lines one by one (a PEM body): where it can,
                # it reads separate keys, and so must sopsy (`A="x` then `B=y"` are two keys)
                if j >= 0 and not all(_sops_reads_line(ln) for ln in lines[i:j + 1]):
                    raw = "\n".join([raw, *lines[i:j + 1]])
                    i = j + 1
            leaf = Scalar(_value_of(raw), ref=len(segs))
            segs.append(_Seg("entry", key, raw, leaf))
            items.append((key, leaf))
        metadata: dict[str, Any] | None = None
        if flat:
            metadata = _unflatten(flat)
            for seg in segs:  # comments sops wrote encrypted: the engine decrypts them
                if seg.kind == "comment" and isinstance(seg.node, Comment) \
                        and seg.node.text.startswith("ENC[AES256_GCM,"):
                    seg.node.enc = seg.node.text
        return DotenvFile([Mapping(items)], metadata, segs, final_newline, bool(flat))

    def fast_scan(self, data: bytes) -> FastScan | None:
        """A file of plain ``KEY=VALUE`` lines and comments (no multi-line values, no lines the
        Python parser keeps raw): the native accelerator decrypts it whole (see sopsy/_native.c)."""
        mod = native()
        pairs = mod.dotenv_locate(data) if mod is not None else None
        if mod is None or pairs is None:
            return None
        flat = {k.decode("utf-8", "surrogateescape"): _unescape_meta(v.decode("utf-8", "surrogateescape"))
                for k, v in pairs}
        try:
            metadata = _unflatten(flat)
        except InputError:
            return None

        def decrypt(key: bytes, suffix: bytes, encrypted_suffix: bool, mac_only: bool,
                    prefix: bytes) -> tuple[bytes, str] | None:
            return mod.dotenv_decrypt(data, key, suffix, encrypted_suffix, mac_only, prefix)  # type: ignore[no-any-return]

        return FastScan(metadata, decrypt)

    def layout_hints(self, parsed: Any) -> dict[str, Any]:
        assert isinstance(parsed, DotenvFile)
        hints: dict[str, Any] = {}
        lines: list[list[Any]] = []
        for idx, seg in enumerate(parsed.segs):
            if seg.kind == "raw":
                lines.append([idx, _raw_line_encrypted(seg.text), seg.text])
            elif seg.kind == "entry" and "\n" in seg.raw:
                leaf = seg.node
                assert isinstance(leaf, Scalar)
                iv = iv_of(leaf.enc) if leaf.enc else None
                if iv is not None:
                    hints[iv] = _real_newlines(seg.raw)
        if lines:
            hints[_HINT_LINES] = lines
        if parsed.segs and not parsed.final_newline and not parsed.had_meta:
            hints[_HINT_EOL] = False
        return hints

    def render(self, parsed: Any, metadata: dict[str, Any] | None,
               hints: dict[str, Any] | None = None) -> str:
        assert isinstance(parsed, DotenvFile)
        hints = hints or {}
        restore: dict[int, tuple[str, str]] = {}
        if metadata is None:
            for item in hints.get(_HINT_LINES) or ():
                if isinstance(item, list) and len(item) == 3 and isinstance(item[0], int) \
                        and isinstance(item[1], str) and isinstance(item[2], str):
                    restore[item[0]] = (item[1], item[2])
        out: list[str] = []
        for idx, seg in enumerate(parsed.segs):
            kind = seg.kind
            if kind == "entry":
                out.append(seg.text + "=" + _entry_text(seg, hints if metadata is None else None))
            elif kind == "comment":
                node = seg.node
                assert isinstance(node, Comment)
                line = "#" + node.text
                r = restore.get(idx)
                out.append(r[1] if r is not None and r[0] == line else line)
            elif kind == "blank":
                r = restore.get(idx)
                out.append(r[1] if r is not None and r[0] == "" else seg.text)
            elif kind == "raw":
                out.append(seg.text if metadata is None else _raw_line_encrypted(seg.text))
        body = "\n".join(out)
        if metadata is not None:
            if out:
                body += "\n"
            flat = flatten(metadata)
            return body + "".join(f"{META_PREFIX}{k}={flat[k].replace(chr(10), chr(92) + 'n')}\n"
                                  for k in sorted(flat))
        if out and (parsed.final_newline or parsed.had_meta) and hints.get(_HINT_EOL) is not False:
            body += "\n"
        return body

    def apply_edits(self, parsed: Any, edits: Any) -> str:
        """Document edits as line splices (see :mod:`.edit`)."""
        from .edit import apply_edits

        assert isinstance(parsed, DotenvFile)
        return apply_edits(parsed, edits)

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            return ""
        out: list[str] = []
        for key, node in documents[0].items:
            if isinstance(node, Comment):
                out.append("#" + node.text + "\n")
            elif isinstance(node, Scalar):
                out.append(f"{key}={scalar_text(node.value).replace(chr(10), chr(92) + 'n')}\n")
            elif isinstance(node, (Mapping, Sequence)):  # (sops's words, naming the key as sops does)
                raise DumpError(f"cannot use complex value in dotenv file; offending key {key}")
        return "".join(out)

    def emit_value(self, value: Any) -> str:
        if isinstance(value, (dict, list, Mapping, Sequence)):
            raise DumpError("cannot use complex value in dotenv file")
        return scalar_text(value)


def _raw_line_encrypted(line: str) -> str:
    """How a line sops cannot read is written in an encrypted file (a form sops skips)."""
    return "" if not line.strip() else "#" + line


def _entry_text(seg: _Seg, hints: dict[str, Any] | None) -> str:
    leaf = seg.node
    assert isinstance(leaf, Scalar)
    if leaf.enc is not None:
        return leaf.enc
    value = leaf.value
    if same_value(value, seg.value0):
        return seg.raw  # unchanged since parsing: the source text is exact
    if not isinstance(value, str):
        return scalar_text(value).replace("\n", "\\n")
    real: Any = None
    if hints and seg.raw:
        iv = iv_of(seg.raw)
        if iv is not None:
            real = hints.get(iv)
    if isinstance(real, list) and real and all(isinstance(p, int) and 0 <= p < len(value)
                                               and value[p] == "\n" for p in real):
        keep = set(real)
        parts = value.split("\n")
        pieces = [parts[0]]
        pos = len(parts[0])
        for part in parts[1:]:
            pieces.append("\n" if pos in keep else "\\n")
            pieces.append(part)
            pos += 1 + len(part)
        return "".join(pieces)
    return value.replace("\n", "\\n")


_LIST_INDEX = re.compile(r"__list_([^_]*)")


def _unflatten(flat: dict[str, str]) -> dict[str, Any]:
    """:func:`metadata.unflatten`, refusing damaged keys with an InputError (never another error)."""
    for key in flat:
        for m in _LIST_INDEX.finditer(key):
            if not m.group(1).isdigit() or len(m.group(1)) > 4:
                raise InputError("the sops metadata has an invalid list index")
    try:
        return unflatten(flat)
    except InputError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise InputError("the sops metadata keys do not form a valid structure") from None


STORE = DotenvStore()


# -- the meaning of values (exec-env, format conversion) ------------------------------------------

_KEY_RE = re.compile(r"[ \t]*(?:export[ \t]+)?([^=#\s]+)[ \t]*\Z")
_SQ = re.compile(r"'((?:\\'|[^'])*)'", re.S)
_DQ = re.compile(r'"((?:\\"|[^"])*)"', re.S)
_BQ = re.compile(r"`([^`]*)`", re.S)
_SQ_ESC = re.compile(r"\\[\\']")
_DQ_ESC = re.compile(r"\\[\\'\"abfnrtv]")
_VAR = re.compile(r"\$\{([^}:]*)(?::-([^}]*))?\}")


def _dq_unescape(s: str) -> str:
    return _DQ_ESC.sub(lambda m: codecs.decode(m.group(0), "unicode-escape"), s)


def dotenv_environment(parsed: Any, hints: dict[str, Any] | None = None,
                       environ: AbcMapping[str, str] | None = None,
                       interpolate: bool = True) -> dict[str, str]:
    """The environment a dotenv file defines: ``{name: value}`` with values as programs see them.

    The rules follow python-dotenv (``dotenv_values``): an optional ``export`` prefix and the
    spaces around the name are dropped; unquoted values are trimmed and lose an inline comment
    (``#`` after whitespace); double-quoted values decode ``\\\\ \\' \\" \\a \\b \\f \\n \\r \\t \\v``;
    single-quoted values decode only ``\\\\`` and ``\\'``; backtick-quoted values (dotenvx) are
    literal. ``${NAME}`` and ``${NAME:-default}`` are expanded in unquoted and double-quoted
    values when ``interpolate`` is true, from the names defined earlier in the file and then
    from ``environ`` (undefined → the default or ""); single-quoted and backtick values are
    never expanded (as in docker compose). A later definition wins. Names that are not valid
    (empty, containing spaces) define nothing.

    ``parsed`` may be a plaintext or a decrypted file; ``hints`` are the layout hints of a
    decrypted file (they tell real line breaks in multi-line values from ``\\n`` escapes).
    """
    assert isinstance(parsed, DotenvFile)
    env: dict[str, str] = {}
    outer = environ or {}
    for seg in parsed.segs:
        if seg.kind != "entry":
            continue
        m = _KEY_RE.match(seg.text)
        if not m:
            continue
        raw = _entry_text(seg, hints)
        v = raw.lstrip(" \t")
        expand = True
        qm = None
        if v[:1] == "'":
            qm = _SQ.match(v)
            if qm:
                value, expand = _SQ_ESC.sub(lambda e: e.group(0)[1], qm.group(1)), False
        elif v[:1] == '"':
            qm = _DQ.match(v)
            if qm:
                value = _dq_unescape(qm.group(1))
        elif v[:1] == "`":
            qm = _BQ.match(v)
            if qm:
                value, expand = qm.group(1), False
        if qm is None:
            first = v.split("\n", 1)[0].split("\r", 1)[0]
            value = re.sub(r"\s+#.*", "", first).strip()
            if value.startswith("#"):
                value = ""
        if expand and interpolate and "${" in value:
            value = _VAR.sub(lambda e: env.get(e.group(1), outer.get(e.group(1), e.group(2) or "")), value)
        env[m.group(1)] = value
    return env

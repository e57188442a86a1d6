"""The INI store: values as sops (gopkg.in/ini.v1) reads them, files written back byte for byte.

The tree is sops's: sections in order, the implicit ``DEFAULT`` first, each a mapping of key to
string; comments above a key (and its inline comment) follow the key as Comment items, comments
above a header open the section. Values follow go-ini: trimmed, surrounding quotes removed,
inline ``;``/``#`` comments cut, ``\"\"\"`` and backtick quotes (also over several lines),
backslash continuation lines. The metadata is a ``[sops]`` section, in any key order.

No Python INI library fits: configparser has other value rules (no inline comments, ``%``
interpolation, lower-cased keys) and rewrites the file; this parser records where each value's
text starts and ends so that encryption splices only that span and the rest stays untouched.

Document edits (``set``/``unset``, merge) are line splices: :mod:`.edit`.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from ...cipher import iv_of
from ...errors import DumpError, InputError
from ...metadata import flatten
from ...model import Comment, Mapping, Scalar, Sequence
from ...values import GoTime, format_float_g, same_value
from ..dotenv import _unflatten

DEFAULT = "DEFAULT"
META_SECTION = "sops"
_HINT_EOL = "ini:eol"
_ENC_PREFIX = "ENC[AES256_GCM,"


class _Val:
    """Where a value's source text sits: ``text[start:end]``; for editing, where its key line
    starts (``line0``), where its last line ends (``line1``, after the line break) and where the
    ``=``/``:`` between key and value is (``delim``)."""

    __slots__ = ("start", "end", "raw", "value0", "line0", "line1", "delim")

    def __init__(self, start: int, end: int, raw: str, value0: str, line0: int = 0, line1: int = 0,
                 delim: int = 0) -> None:
        self.start = start
        self.end = end
        self.raw = raw
        self.value0 = value0
        self.line0 = line0
        self.line1 = line1
        self.delim = delim


class IniFile:
    def __init__(self, text: str, documents: list[Mapping], metadata: dict[str, Any] | None,
                 leaves: list[Scalar], comments: list[Comment], meta_span: tuple[int, int] | None,
                 section_comments: set[Comment] | None = None) -> None:
        self.text = text
        self.documents = documents
        self.metadata = metadata
        self.leaves = leaves  # in source order
        self.comments = comments  # every comment line, in source order
        self.meta_span = meta_span  # the [sops] section, header to end
        # comments above a section header (go-ini writes them by other rules than a key's)
        self.section_comments = section_comments or set()


def _has_surrounded_quote(s: str, q: str) -> bool:
    return len(s) >= 2 and s[0] == q and s[-1] == q and s.find(q, 1) == len(s) - 1


def _blank_or_comment(s: str) -> bool:
    s = s.strip()
    return not s or s[0] in "#;"


def _check_repeat(seen: dict[str, int], key: str, lineno: int) -> None:
    """go-ini (and so sops) keeps only a repeated key's last value: the MAC and the data sops
    reads would not be what the file says."""
    if key in seen:
        raise InputError(f"duplicate key {key[:60]!r} in one INI section (lines {seen[key]} and {lineno}); "
                         "go-ini, and so sops, would keep only the last value")
    seen[key] = lineno


def _header_name(s: str, lineno: int) -> str:
    """The name in a ``[section]`` header line (``s`` without its indentation)."""
    close = s.rfind("]")
    if close < 0:
        raise InputError(f"unclosed section header on line {lineno}")
    if not _blank_or_comment(s[close + 1:]):
        # go-ini ignores it, so it would stay plaintext in the encrypted file
        raise InputError(f"text after the section header on line {lineno} (only a ; or # comment may follow)")
    return s[1:close].strip()


def _cut_comment(s: str) -> tuple[str, str]:
    i = min((p for p in (s.find("#"), s.find(";")) if p >= 0), default=-1)
    return (s, "") if i < 0 else (s[:i], s[i:])


def go_ini_quote(value: str) -> str:
    """How go-ini writes a value (so that it reads it back as the same string)."""
    if "\n" in value or "`" in value:
        return '"""' + value + '"""'
    if "#" in value or ";" in value:
        return "`" + value + "`"
    if value != value.strip():
        return '"' + value + '"'
    return value


def go_ini_comment(text: str, of_section: bool) -> str:
    """A comment's lines as go-ini writes them (sops joins a comment block into one value): each
    line not starting with ``#``/``;`` gets ``; `` (a key's comment lines are trimmed too), the
    others one blank after the mark."""
    out = []
    for line in text.split("\n"):
        if line[:1] in ("#", ";"):
            out.append(line[0] + " " + line[1:].strip())
        else:
            out.append("; " + (line if of_section else line.strip()))
    return "\n".join(out)


def _apart(text: str, lead: list[Any], header: Any) -> list[Any]:
    """The comments above a section header that a blank line keeps from it (the editor moves and
    deletes a section with the comment lines directly above its header only)."""
    if not isinstance(header, tuple) or not lead:
        return []
    nxt, cut = header[0], len(lead)
    for n in range(len(lead) - 1, -1, -1):
        ref = lead[n].ref
        if not isinstance(ref, tuple) or text.count("\n", ref[1], nxt) > 1:
            break
        cut, nxt = n, ref[0]
    return lead[:cut]


class IniStore:
    name = "ini"

    def parse(self, text: str) -> IniFile:
        lines = text.split("\n")
        offs = [0, *accumulate(len(line) + 1 for line in lines[:-1])]  # where each line starts
        # (name, items, header line span): a section's Mapping keeps the span as its ref
        sections: list[tuple[str, list[tuple[str | None, Any]], tuple[int, int] | None]] = [(DEFAULT, [], None)]
        current = sections[0][1]
        seen: dict[str, int] = {}  # key -> line, in the current section
        pending: list[Comment] = []
        leaves: list[Scalar] = []
        enc_comments: list[Comment] = []
        all_comments: list[Comment] = []
        section_comments: set[Comment] = set()
        flat: dict[str, str] = {}
        in_meta = False
        meta_start = -1
        meta_end = len(text)
        i, n = 0, len(lines)
        while i < n:
            line = lines[i]
            base = offs[i]
            i += 1
            lead = len(line) - len(line.lstrip())
            if base == 0 and line.startswith("\ufeff"):  # a byte-order mark: go-ini skips it, it stays
                lead = len(line) - len(line[1:].lstrip())
            s = line[lead:]
            if not s.strip():
                continue
            if s[0] in "#;":
                body = s.lstrip("#; ")
                last = pending[-1] if pending else None
                if last is not None and last.ref[1] == base - 1 and last.enc is None and not body.startswith(_ENC_PREFIX):
                    # the next line of a block: go-ini (so sops) reads a block as one comment,
                    # encrypted whole, whose later lines keep their marks
                    last.text += "\n" + s.rstrip("\r")
                    last.ref = (last.ref[0], base + len(line))
                    continue
                c = Comment(body, ref=(base + lead, base + len(line)))
                if body.startswith(_ENC_PREFIX):  # sops encrypts comments; decrypt puts the text back
                    c.enc = c.text
                    enc_comments.append(c)
                pending.append(c)
                all_comments.append(c)
                continue
            if s[0] == "[":
                name = _header_name(s, i)
                if in_meta:
                    meta_end = base
                in_meta = name == META_SECTION
                if in_meta:
                    meta_start = base
                    pending = []
                    continue
                items: list[tuple[str | None, Any]] = [(None, c) for c in pending]
                section_comments.update(pending)
                pending = []
                sections.append((name, items, (base, offs[i] if i < n else len(text))))
                current = items
                seen = {}
                continue
            lineno = i
            key, vstart = self._key(line, lead, i)
            value, vs, ve, i = self._value(lines, offs, i - 1, vstart)
            line1 = offs[i] if i < n else len(text)
            if in_meta:
                flat[key] = value.replace("\\n", "\n")
                continue
            if ve < len(text) and text[ve] in "#;" and ve > base + vs and text[ve - 1] not in "\"'" \
                    and not value.startswith(_ENC_PREFIX):
                # go-ini cuts `pass#word` at the '#': the rest would be a comment, left in plaintext
                raise InputError(f"a '{text[ve]}' right after the value on line {lineno} starts a comment for "
                                 "go-ini (and sops), which would stay unencrypted; quote the value in backticks "
                                 "or put a blank before the comment")
            _check_repeat(seen, key, lineno)
            leaf = Scalar(value, ref=_Val(base + vs, ve, text[base + vs:ve], value, base, line1, base + vstart - 1))
            leaves.append(leaf)
            current.append((key, leaf))
            current.extend((None, c) for c in pending)
            pending = []
        documents = [Mapping([(name, Mapping(items, ref=head)) for name, items, head in sections])]
        if meta_start < 0:
            for c in enc_comments:  # no metadata: an ENC-looking comment is plain text
                c.enc = None
            return IniFile(text, documents, None, leaves, all_comments, None)
        return IniFile(text, documents, _unflatten(flat), leaves, all_comments, (meta_start, meta_end),
                       section_comments)

    def merge_view(self, parsed: Any) -> list[Mapping]:
        """The document as the merge reads it: each comment before the item it is written above.
        This model keeps a key's comments right after the key and a section's comments (those
        above its header) first in the section, as sops's does; in the view a key's comments
        come before it and a section's before the section, at the top level. New containers,
        the same leaves."""
        root = parsed.documents[0]
        items: list[tuple[str | None, Any]] = []
        prev: Mapping | None = None  # the last section with a header
        for name, sec in root.items:
            if name is None or not isinstance(sec, Mapping):
                items.append((name, sec))
                continue
            body: list[tuple[str | None, Any]] = []
            last = -1  # where the last key went in body (-1: no key yet, comments are the section's)
            lead = [v for k, v in sec.items[:next((i for i, (k, _) in enumerate(sec.items) if k is not None),
                                                   len(sec.items))]]
            for v in _apart(parsed.text, lead, sec.ref) if prev is not None else []:
                prev.items.append((None, v))  # type: ignore[union-attr]  # the previous section's closing comment, as the editor has it
                lead.remove(v)
            for k, v in sec.items:
                if k is not None:
                    body.append((k, v))
                    last = len(body) - 1
                elif last < 0:
                    if v in lead:
                        items.append((None, v))
                else:
                    body.insert(last, (None, v))
                    last += 1
            items.append((name, Mapping(body, ref=sec.ref)))
            if sec.ref is not None:
                prev = items[-1][1]
        held = {id(v) for _, v in items} | {id(v) for _, m in items if isinstance(m, Mapping) for _, v in m.items}
        closing = [(None, c) for c in parsed.comments if id(c) not in held]  # after the last key: not in the model
        (prev.items if prev is not None else items).extend(closing)
        return [Mapping(items, ref=root.ref)]

    @staticmethod
    def _key(line: str, lead: int, lineno: int) -> tuple[str, int]:
        """The key name and where its value starts (go-ini readKeyName)."""
        s = line[lead:]
        if s[0] in "\"`":
            q = '"""' if s.startswith('"""') else s[0]
            close = s.find(q, len(q))
            if close < 0:
                raise InputError(f"unclosed quoted key on line {lineno}")
            key = s[len(q):close]
            rest = close + len(q)
            m = re.compile(r"[ \t]*[=:]").match(s, rest)
            if not m:
                raise InputError(f"key-value delimiter not found on line {lineno}")
            return key, lead + m.end()
        ends = [p for p in (s.find("="), s.find(":")) if p >= 0]
        if not ends:
            raise InputError(f"key-value delimiter not found on line {lineno}")
        end = min(ends)
        return s[:end].strip(), lead + end + 1

    @staticmethod
    def _value(lines: list[str], offs: list[int], i: int, vstart: int) -> tuple[str, int, int, int]:
        """go-ini readValue: (value, start in line ``i``, absolute end, next line index)."""
        line = lines[i]
        rest = line[vstart:]
        skip = len(rest) - len(rest.lstrip())
        s = rest[skip:]
        start = vstart + skip
        base = offs[i]
        if not s:
            return "", start, base + start, i + 1
        q = '"""' if len(s) > 3 and s.startswith('"""') else ("`" if s[0] == "`" else "")
        if q:
            close = s.rfind(q, len(q))
            if close >= 0:
                # go-ini ignores what follows the closing quote; it stays part of the spelling,
                # encrypted with the value, but an empty value is not encrypted at all
                if close == len(q) and not _blank_or_comment(s[close + len(q):]):
                    raise InputError(f"text after the empty quoted value on line {i + 1} "
                                     "(only a ; or # comment may follow)")
                return s[len(q):close], start, base + len(line.rstrip("\r")), i + 1
            parts = [s[len(q):]]
            j = i + 1
            while j < len(lines):
                nxt = lines[j]
                p = nxt.rfind(q)
                if p >= 0:
                    parts.append(nxt[:p])
                    return "\n".join(parts), start, offs[j] + len(nxt.rstrip("\r")), j + 1
                parts.append(nxt)
                j += 1
            raise InputError(f"unclosed {q} quote in the value on line {i + 1}")
        stripped = s.rstrip()
        if stripped.endswith("\\"):
            value = stripped[:-1]
            j, end = i + 1, base + start + len(stripped)
            while j < len(lines):
                nxt = lines[j].strip()
                if not nxt:
                    break
                lead = len(lines[j]) - len(lines[j].lstrip())
                end = offs[j] + lead + len(nxt)
                value += nxt
                j += 1
                if not value.endswith("\\"):
                    break
                value = value[:-1]
            return value, start, end, j
        body, _ = _cut_comment(stripped)
        body = body.rstrip()
        end = base + start + len(body)
        if _has_surrounded_quote(body, "'") or _has_surrounded_quote(body, '"'):
            body = body[1:-1]
        return body, start, end, i + 1

    def layout_hints(self, parsed: Any) -> dict[str, Any]:
        assert isinstance(parsed, IniFile)
        hints: dict[str, Any] = {}
        for leaf in parsed.leaves:
            ref = leaf.ref
            if not leaf.enc or not isinstance(leaf.value, str) or ref.raw == go_ini_quote(leaf.value):
                continue
            iv = iv_of(leaf.enc)
            if iv is None:
                continue
            at = ref.raw.find(leaf.value)
            hints[iv] = ([ref.raw[:at], ref.raw[at + len(leaf.value):]] if leaf.value and at >= 0
                         else [ref.raw])
        if parsed.text and not parsed.text.endswith("\n"):
            hints[_HINT_EOL] = False
        return hints

    def render(self, parsed: Any, metadata: dict[str, Any] | None,
               hints: dict[str, Any] | None = None) -> str:
        assert isinstance(parsed, IniFile)
        text = parsed.text
        hints = hints or {}
        edits: list[tuple[int, int, str]] = []
        for leaf in parsed.leaves:
            ref = leaf.ref
            if leaf.enc == "" and ref.value0 == "":
                continue  # an empty value stays as written ('""' too): sops reads it as empty
            if leaf.enc is not None:
                new = leaf.enc
            elif same_value(leaf.value, ref.value0):
                continue
            else:
                new = _value_text(leaf.value, hints.get(iv_of(ref.raw) or "") if metadata is None else None)
            edits.append((ref.start, ref.end, new))
        for c in parsed.comments:
            start, end = c.ref
            line = text[start:end]
            at = len(line) - len(line.lstrip("#; "))
            if c.enc is not None:
                if c.enc != line[at:]:  # encrypted again (a file whose comments sops encrypted)
                    edits.append((start + at, end, c.enc))
            elif parsed.metadata is not None and line.startswith(_ENC_PREFIX, at):
                # decrypted: written as sops (go-ini) writes the comment
                edits.append((start, end, go_ini_comment(c.text, c in parsed.section_comments)))
        edits.sort(key=lambda e: e[0])
        out: list[str] = []
        pos = 0
        span = parsed.meta_span
        for start, end, new in edits:
            out.append(text[pos:start])
            out.append(new)
            pos = end
        out.append(text[pos:])
        body = "".join(out)
        block = _meta_section(metadata) if metadata is not None else ""
        if span is not None:
            # the [sops] section is the last one sops writes; edits never fall inside it
            shift = sum(len(new) - (end - start) for start, end, new in edits if end <= span[0])
            old = body[span[0] + shift:span[1] + shift]
            if block and span[1] < len(text):
                # a section follows: keep the blank lines that separated it (after the block's last
                # line break, which the new block brings itself)
                tail = old[len(old.rstrip("\r\n")):]
                block += tail[2:] if tail.startswith("\r\n") else tail[1:]
            body = body[:span[0] + shift] + block + body[span[1] + shift:]
            if metadata is None:
                if body.endswith("\n\n"):
                    body = body[:-1]
                if hints.get(_HINT_EOL) is False and body.endswith("\n"):
                    body = body[:-1]
            return body
        if metadata is None:
            return body
        if body and not body.endswith("\n"):
            body += "\n"
        return body + ("\n" if body else "") + block

    def apply_edits(self, parsed: Any, edits: Any) -> str:
        """Document edits as line splices (see :mod:`.edit`)."""
        from .edit import apply_edits

        assert isinstance(parsed, IniFile)
        return apply_edits(parsed, edits)

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            return ""
        chunks: list[str] = []
        for name, node in documents[0].items:
            if isinstance(node, Comment):
                continue
            if not isinstance(node, Mapping):
                raise DumpError(f"an INI file holds sections of key = value lines: top-level key {name!r} "
                                "is not a section (a mapping)")
            keys = [(k, v) for k, v in node.items if k is not None]
            width = max((len(k) for k, _ in keys), default=0)
            lines: list[str] = []
            comments: list[str] = []
            for k, v in node.items:
                if isinstance(v, Comment):
                    comments.append(f"; {v.text}\n")
                    continue
                if not isinstance(v, Scalar):
                    raise DumpError(f"an INI file holds sections of key = value lines: the value at "
                                    f"{name}.{k} is a nested {'list' if isinstance(v, Sequence) else 'mapping'}")
                lines.extend(comments)
                comments = []
                lines.append(f"{str(k).ljust(width)} = {go_ini_quote(_scalar_text(v.value))}\n")
            lines.extend(comments)
            if name == DEFAULT:
                if lines:
                    chunks.append("".join(lines))
            else:
                chunks.append(f"[{name}]\n" + "".join(lines))
        return "\n".join(chunks)

    def emit_value(self, value: Any) -> str:
        if isinstance(value, (dict, list, Mapping, Sequence)):
            raise DumpError("cannot emit a complex value as an INI value")
        return _scalar_text(value)


def _meta_section(metadata: dict[str, Any]) -> str:
    flat = flatten(metadata)
    width = max((len(k) for k in flat), default=0)
    return f"[{META_SECTION}]\n" + "".join(f"{k.ljust(width)} = {go_ini_quote(v.replace(chr(10), chr(92) + 'n'))}\n"
                                           for k, v in flat.items())


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, GoTime):
        return value.text
    return str(value)


def _value_text(value: Any, hint: Any) -> str:
    """The source text of a decrypted value: the recorded spelling, or go-ini's quoting."""
    if not isinstance(value, str):
        return go_ini_quote(_scalar_text(value))
    if isinstance(hint, list) and all(isinstance(h, str) for h in hint):
        if len(hint) == 2:
            return str(hint[0]) + value + str(hint[1])
        if len(hint) == 1:
            return str(hint[0])
    return go_ini_quote(value)


STORE = IniStore()

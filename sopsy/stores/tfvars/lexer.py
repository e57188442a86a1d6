"""tfvars lexing: blanks and comments, quoted strings, heredocs, template sequences, and the
extent of an opaque expression (a small bracket- and string-aware scan). Hand-written for the
reason the scanner gives: nothing else reports source positions to splice at.
"""

from __future__ import annotations

import re

from ...errors import InputError
from ...model import Comment, Node

_MAX_DEPTH = 200  # nesting limit: deeper input is refused instead of overflowing Python's stack
_IDENT = re.compile(r"[^\W\d][\w-]*")
_QUOTED_RUN = re.compile(r'[^"\\$%\n]+')
_TEMPLATE_RUN = re.compile(r"[^$%]+")
_SKIP = re.compile(r"(?:[ \t\r\f\v]+|#[^\n]*|//[^\n]*|/\*.*?\*/)*", re.S)
_SKIP_NL = re.compile(r"(?:[ \t\r\f\v\n]+|#[^\n]*|//[^\n]*|/\*.*?\*/)*", re.S)
_SKIP_START = frozenset(" \t\r\f\v\n#/")
_COMMENT = re.compile(r"#[^\n]*|//[^\n]*|/\*.*?\*/", re.S)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_CLOSE = {"(": ")", "[": "]", "{": "}"}


class Lexer:
    """Positions, errors and the token-level scans over one source text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    # -- errors and positions ----------------------------------------------------------------

    def line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def fail(self, pos: int, what: str) -> InputError:
        return InputError(f"tfvars: {what} at line {self.line(pos)}")

    # -- whitespace and comments -------------------------------------------------------------

    def skip(self, i: int, newlines: bool, comments: list[Node] | None = None) -> int:
        """Skip blanks and comments (and newlines when asked); comment texts go to ``comments``."""
        text = self.text
        if i >= self.n or text[i] not in _SKIP_START:
            return i  # the common case, without a regex call
        m = (_SKIP_NL if newlines else _SKIP).match(text, i)
        assert m is not None  # the pattern matches the empty string
        end = m.end()
        if text.startswith("/*", end):
            raise self.fail(end, "unterminated /* comment")
        if comments is not None and ("#" in text[i:end] or "/" in text[i:end]):
            for c in _COMMENT.finditer(text, i, end):
                body = c.group()
                span = (c.start(), c.end())
                if body[0] == "#":
                    comments.append(Comment(body[1:].rstrip("\r"), ref=span))
                elif body[1] == "/":
                    comments.append(Comment(body[2:].rstrip("\r"), ref=span))
                else:
                    comments.append(Comment(body[2:-2], ref=span))
        return end

    # -- strings ------------------------------------------------------------------------------

    def quoted(self, i: int) -> tuple[int, str]:
        """A quoted template at ``i``: (end, value with escapes decoded, template parts verbatim)."""
        text, n, start = self.text, self.n, i
        out: list[str] = []
        i += 1
        while True:
            m = _QUOTED_RUN.match(text, i)
            if m:
                out.append(m.group())
                i = m.end()
            if i >= n or text[i] == "\n":
                raise self.fail(start, "unterminated string")
            c = text[i]
            if c == '"':
                return i + 1, "".join(out)
            if c == "\\":
                e = text[i + 1:i + 2]
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                    i += 2
                elif e in ("u", "U"):
                    width = 4 if e == "u" else 8
                    digits = text[i + 2:i + 2 + width]
                    if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                        raise self.fail(i, "invalid unicode escape in a string")
                    cp = int(digits, 16)
                    if cp > 0x10FFFF:
                        raise self.fail(i, "invalid unicode escape in a string")
                    out.append(chr(cp))
                    i += 2 + width
                else:
                    raise self.fail(i, "invalid escape sequence in a string")
            elif text.startswith(c + c + "{", i):  # $${ and %%{ are template escapes
                out.append(text[i:i + 3])
                i += 3
            elif text.startswith("{", i + 1):
                j = self.template_seq_end(i + 2)
                out.append(text[i:j])
                i = j
            else:
                out.append(c)
                i += 1

    def template_seq_end(self, i: int) -> int:
        """End of a ``${...}``/``%{...}`` sequence whose body starts at ``i``."""
        j = self.expr_end(i, in_template=True)
        if j >= self.n or self.text[j] != "}":
            raise self.fail(i, "unterminated template sequence")
        return j + 1

    def heredoc(self, i: int) -> tuple[int, str]:
        """A heredoc at ``i`` (``<<ID`` or ``<<-ID``): (end after the closing marker, value)."""
        text, start = self.text, i
        i += 2
        flush = text.startswith("-", i)
        if flush:
            i += 1
        m = _IDENT.match(text, i)
        if not m:
            raise self.fail(start, "invalid heredoc marker")
        marker = m.group()
        i = m.end()
        if text.startswith("\r\n", i):
            i += 2
        elif text.startswith("\n", i):
            i += 1
        else:
            raise self.fail(start, "a heredoc marker must end its line")
        lines: list[str] = []
        while True:
            if i >= self.n:
                raise self.fail(start, "unterminated heredoc")
            j = text.find("\n", i)
            j = self.n if j < 0 else j + 1
            line = text[i:j]
            body = line.rstrip("\n").rstrip("\r")
            if body.lstrip() == marker:
                end = i + len(body)
                break
            lines.append(line)
            i = j
        if flush:
            # <<- removes the smallest leading whitespace of the non-blank lines (one char each).
            cut = min((_lead(x) for x in lines if x.strip()), default=0)
            lines = [x[min(cut, _lead(x)):] for x in lines]
        value = "".join(lines)
        self.check_template(value, start)
        return end, value

    def check_template(self, value: str, pos: int) -> None:
        """Template sequences in a heredoc must close (an open ``${`` is invalid HCL)."""
        if "{" in value and template_parts(value) is None:
            raise self.fail(pos, "unterminated template sequence in a heredoc")

    # -- opaque expressions -----------------------------------------------------------------

    def expr_end(self, i: int, in_template: bool = False) -> int:
        """End (exclusive, trailing blanks and comments excluded) of the expression at ``i``.

        Stops at an unmatched closing bracket, and (outside template sequences) at a newline or
        ``,`` at nesting level 0.
        """
        text, n = self.text, self.n
        stack: list[str] = []
        start = last = i
        while i < n:
            c = text[i]
            if c in " \t\r\f\v":
                i += 1
                continue
            if c == "\n":
                if not stack and not in_template:
                    break
                i += 1
                continue
            if c == "#" or text.startswith("//", i) or text.startswith("/*", i):
                i = self.skip(i, False)
                continue
            if c == '"':
                i, _ = self.quoted(i)
            elif text.startswith("<<", i) and re.match(r"<<-?[^\W\d]", text[i:i + 4]):
                i, _ = self.heredoc(i)
            elif c in "([{":
                if len(stack) > _MAX_DEPTH:
                    raise self.fail(i, "expression nested too deeply")
                stack.append(_CLOSE[c])
                i += 1
            elif c in ")]}":
                if not stack:
                    break
                if stack.pop() != c:
                    raise self.fail(i, "mismatched brackets")
                i += 1
            elif c == "," and not stack and not in_template:
                break
            else:
                i += 1
            last = i
        if stack:
            raise self.fail(i, "unterminated brackets in an expression")
        if last == start and not in_template:
            raise self.fail(start, "missing value")
        return last


def _lead(line: str) -> int:
    """Leading whitespace characters of a line, its line break excluded."""
    body = line.rstrip("\r\n")
    return len(body) - len(body.lstrip())


def template_parts(value: str) -> list[tuple[bool, str]] | None:
    """Split a template-form string into (is_template_syntax, text) parts; None if a sequence
    does not close. Template syntax (``${..}``, ``%{..}``, ``$${``, ``%%{``) is written verbatim."""
    parts: list[tuple[bool, str]] = []
    i, n = 0, len(value)
    while i < n:
        m = _TEMPLATE_RUN.match(value, i)
        if m:
            parts.append((False, m.group()))
            i = m.end()
            if i >= n:
                break
        c = value[i]
        if value.startswith(c + c + "{", i):
            parts.append((True, value[i:i + 3]))
            i += 3
        elif value.startswith("{", i + 1):
            try:
                p = Lexer(value)
                j = p.template_seq_end(i + 2)
            except InputError:
                return None
            parts.append((True, value[i:j]))
            i = j
        else:
            parts.append((False, c))
            i += 1
    return parts


def literal_of(value: str) -> str:
    """The Terraform value of a template-form string without live sequences (metadata strings)."""
    return value.replace("$${", "${").replace("%%{", "%{")

"""Which leaves get encrypted: the six mutually exclusive sops crypt rules (suffix, regex, comment regex).

Their regular expressions (and configs' ``path_regex``) run on RE2, as in sops (Go's regexp is
RE2): the same syntax, and time linear in the text. Python's backtracking ``re`` would let a
file's metadata (``encrypted_regex: ^(a|a)*$``) hang every decrypt and ``git diff`` of it.
"""

from __future__ import annotations

from .errors import ConflictingParameters, InputError

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

RULE_NAMES = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_RULE = ("unencrypted_suffix", "_unencrypted")


class RegexError(ValueError):
    """A pattern RE2 (and so Go, and so sops) cannot compile."""


_COMPILED: dict[str, Any] = {}
# Compiled programs take up to megabytes each: a tree of files with a different regex each
# (decrypt -r over a hostile tree) must not keep them all.
_CACHE_SIZE = 32


def go_regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (cached); raises :class:`RegexError`. Match with :func:`go_search`."""
    got = _COMPILED.get(pattern)
    if got is None:
        refusal = _go_refusal(pattern)
        if refusal:
            raise RegexError(refusal)
        import re2

        options = re2.Options()
        options.log_errors = False  # RE2 would print its own error lines on stderr
        try:
            got = re2.compile(pattern, options)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else exc
            raise RegexError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None
        except (TypeError, ValueError, UnicodeError) as exc:
            raise RegexError(str(exc)) from None
        if len(_COMPILED) >= _CACHE_SIZE:  # one process may read many files' rules (decrypt -r)
            _COMPILED.clear()
            re2.purge()  # the module's own cache holds 128 (up to 1 GiB)
        _COMPILED[pattern] = got
    return got


def _go_refusal(pattern: str) -> str:
    """Why Go refuses ``pattern`` where RE2's Python binding takes it, or "": the escape ``\\C``
    (any byte: taken, ``unencrypted_regex: \\C`` would leave every value in plaintext where sops
    encrypts them all), and a ``{n}``/``{n,m}`` count over 1000 (an overflowing one RE2 reads as
    literal text). One scan: escapes, ``\\Q...\\E`` literals and character classes skipped."""
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt == "C":
                return "invalid escape sequence: `\\C`"
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                i = len(pattern) if end < 0 else end
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            i += 1
            i += pattern.startswith("^", i)
            i += pattern.startswith("]", i)  # a leading ] is literal, not the class's end
            continue
        elif ch == "{":
            end = pattern.find("}", i)
            counts = (pattern[i + 1:end] if end > 0 else "").split(",")
            well_formed = len(counts) <= 2 and counts[0].isdigit() and all(c.isdigit() or not c for c in counts[1:])
            if well_formed and any(c and (len(c) > 4 or int(c) > 1000) for c in counts):
                return f"invalid repeat count: {pattern[i:end + 1]}"
        i += 1
    return ""


def go_search(compiled: Any, text: str) -> bool:
    """Whether ``compiled`` matches somewhere in ``text`` (Go's MatchString). Bytes that are not
    UTF-8 (kept as surrogates) count as U+FFFD, as Go reads them."""
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:
        return compiled.search(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")) is not None


class CryptRule:
    """One crypt rule: its metadata name and its value. (A plain class, not a dataclass: building
    dataclasses costs start-up time, and every ``git diff`` pays it.)"""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CryptRule) and (other.name, other.value) == (self.name, self.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"CryptRule({self.name!r}, {self.value!r})"

    @staticmethod
    def pick(values: dict[str, str | None]) -> CryptRule | None:
        """The one rule set among ``values`` (None when none is set); two set is a conflict."""
        chosen = [(k, v) for k, v in values.items() if k in RULE_NAMES and v]
        if len(chosen) > 1:
            raise ConflictingParameters("only one of " + ", ".join(RULE_NAMES) + " may be set")
        return CryptRule(*chosen[0]) if chosen else None

    def check(self, where: str, error: type[Exception] = InputError) -> None:
        """Raise ``error`` naming ``where`` (an option, a config rule) if the regex does not compile."""
        if self.name.endswith("regex"):
            try:
                go_regex(self.value)
            except RegexError as exc:
                raise error(f"{where}: not a valid regular expression: {exc}") from None

    @property
    def uses_comments(self) -> bool:
        return self.name.endswith("comment_regex")


class Matcher:
    """The rule of reference §2.5 (None = the implied default), evaluated the way the tree walk
    needs it: whether one key hits (cached per key), then the verdict for a leaf given whether
    any key on its path hit, or which comments stand before it."""

    def __init__(self, rule: CryptRule | None) -> None:
        self.rule = rule or CryptRule(*DEFAULT_RULE)
        name, value = self.rule.name, self.rule.value
        try:
            self._regex = go_regex(value) if name.endswith("regex") else None
        except RegexError as exc:  # options and configs are checked earlier: this is a file's metadata
            raise InputError(f"the file's {name} is not a valid regular expression: {exc}") from None
        self._key_cache: dict[str, bool] = {}

    def key_hit(self, key: str) -> bool:
        """Whether one key matches the rule's suffix or regex (a hit anywhere on a path counts)."""
        hit = self._key_cache.get(key)
        if hit is None:
            name, value = self.rule.name, self.rule.value
            if name.endswith("suffix"):
                hit = key.endswith(value)
            elif self.rule.uses_comments:
                hit = False
            else:
                assert self._regex is not None
                hit = go_search(self._regex, key)
            self._key_cache[key] = hit
        return hit

    def comment_verdict(self, path_hit: bool, before: list[str], own: str) -> bool:
        """The verdict for a comment (as sops gives it): the comments before it decide, and
        for ``unencrypted_comment_regex`` its own text too (a marker comment stays readable)."""
        if self.rule.name == "unencrypted_comment_regex":
            return self.decide(path_hit, [*before, own])
        return self.decide(path_hit, before)

    def decide(self, path_hit: bool, comments: list[str]) -> bool:
        """The rule's verdict for a leaf, given whether any key on its path hit."""
        name = self.rule.name
        if self.rule.uses_comments:
            assert self._regex is not None
            hit = any(go_search(self._regex, c) for c in comments)
            return not hit if name == "unencrypted_comment_regex" else hit
        return path_hit if name.startswith("encrypted") else not path_hit

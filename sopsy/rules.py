"""Which leaves get encrypted: the six mutually exclusive sops crypt rules (suffix, regex, comment regex)."""

from __future__ import annotations

import re

from .errors import ConflictingParameters, InputError

RULE_NAMES = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_RULE = ("unencrypted_suffix", "_unencrypted")


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
                re.compile(self.value)
            except (re.error, OverflowError, RecursionError) as exc:
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
            self._regex = re.compile(value) if name.endswith("regex") else None
        except (re.error, OverflowError, RecursionError) as exc:  # options and configs are checked earlier: this is a file's metadata
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
                hit = self._regex.search(key) is not None
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
            hit = any(self._regex.search(c) for c in comments)
            return not hit if name == "unencrypted_comment_regex" else hit
        return path_hit if name.startswith("encrypted") else not path_hit

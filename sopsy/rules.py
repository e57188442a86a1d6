"""Which leaves get encrypted: the six mutually exclusive sops crypt rules (suffix, regex, comment regex)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConflictingParameters

RULE_NAMES = (
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
)
DEFAULT_RULE = ("unencrypted_suffix", "_unencrypted")


@dataclass(frozen=True)
class CryptRule:
    name: str
    value: str

    @staticmethod
    def pick(values: dict[str, str | None]) -> CryptRule | None:
        """The one rule set among ``values`` (None when none is set); two set is a conflict."""
        chosen = [(k, v) for k, v in values.items() if k in RULE_NAMES and v]
        if len(chosen) > 1:
            raise ConflictingParameters("only one of " + ", ".join(RULE_NAMES) + " may be set")
        return CryptRule(*chosen[0]) if chosen else None

    @property
    def uses_comments(self) -> bool:
        return self.name.endswith("comment_regex")


class Matcher:
    """``should_encrypt(path_keys, comment_stack)`` per reference §2.5 (rule None = the implied default)."""

    def __init__(self, rule: CryptRule | None) -> None:
        self.rule = rule or CryptRule(*DEFAULT_RULE)
        name, value = self.rule.name, self.rule.value
        self._regex = re.compile(value) if name.endswith("regex") else None
        self._cache: dict[tuple[str, ...], bool] = {}

    def should_encrypt(self, path: tuple[str, ...], comments: list[str] | None = None) -> bool:
        if self.rule.uses_comments:
            assert self._regex is not None
            hit = any(self._regex.search(c) for c in comments or ())
            return not hit if self.rule.name == "unencrypted_comment_regex" else hit
        cached = self._cache.get(path)
        if cached is not None:
            return cached
        name, value = self.rule.name, self.rule.value
        if name == "unencrypted_suffix":
            result = not any(k.endswith(value) for k in path)
        elif name == "encrypted_suffix":
            result = any(k.endswith(value) for k in path)
        else:
            assert self._regex is not None
            hit = any(self._regex.search(k) for k in path)
            result = not hit if name == "unencrypted_regex" else hit
        self._cache[path] = result
        return result

"""``sopsy check [PATH...]``: the pre-commit check. It needs no key.

A file fails when it holds conflict markers (a conflict left by the merge driver, or any other),
when a creation rule covers it but it is not encrypted, or when it holds a value in plaintext
that its rules say must be encrypted: the file's own crypt rule, and the covering creation
rule's when that one is stricter (a rule tightened in ``.sops.yaml`` after the file was made).
Without paths it checks the files git tracks under the working directory.
"""

from __future__ import annotations

import os
import subprocess
import sys

from .errors import SopsyError, UsageError
from .fileio import decode, shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .config import CreationRule
    from .rules import CryptRule
    from .stores import ParsedFile


def check(paths: list[str]) -> int:
    """Print one line per failing file on stderr; returns the exit status (1 when any failed)."""
    # a file in conflict is in git's index three times (stages 1-3): each is reported once
    files = list(dict.fromkeys(_expand(paths) if paths else _tracked()))
    failures = 0
    for path in files:
        for problem in problems(path):
            print(shown(f"sopsy check: {path}: {problem}"), file=sys.stderr)
            failures += 1
    if failures:
        print(f"sopsy check: {failures} problem(s); nothing was changed", file=sys.stderr)
    return 1 if failures else 0


def _expand(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                out += [os.path.join(root, n) for n in sorted(names)]
        else:
            out.append(p)
    return out


def _tracked() -> list[str]:
    try:
        proc = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=False)
    except OSError:
        proc = None
    if proc is None or proc.returncode:
        raise UsageError("name the files to check (or run it inside a git repository)")
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _rule_for(path: str) -> tuple[CreationRule | None, str | None]:
    from . import config
    from .settings import SETTINGS

    try:
        found = config.find_config(path, SETTINGS.config)
        rule = config.load_rule(found, path) if found is not None else None
    except UsageError:  # no rule matches the file
        return None, None
    except SopsyError as exc:
        return None, str(exc)
    return (rule if rule is not None and rule.has_keys else None), None


def problems(path: str) -> list[str]:
    """What is wrong with one file (nothing for files that are fine or not sopsy's business)."""
    from .merge.markers import has_conflict
    from .stores import get_store, store_name_for

    if not os.path.isfile(path):
        return [] if os.path.exists(path) else ["no such file"]
    with open(path, "rb") as f:
        data = f.read()
    if has_conflict(data):
        return ["unresolved merge conflict (conflict markers): resolve it with `sopsy git resolve` "
                "(or by hand for a plain file)"]
    rule, config_error = _rule_for(path)
    if config_error:
        return [config_error]
    store = get_store(store_name_for(path))
    try:
        parsed = store.parse(decode(data))
    except SopsyError as exc:
        return [f"a creation rule covers it, but it cannot be read as {store.name} ({exc})"] if rule else []
    if parsed.metadata is None:
        if rule is None:
            return []
        where = f"creation rule {rule.index + 1} of {rule.config_path}" if rule.config_path else "a creation rule"
        return [f"not encrypted, but {where} covers it (encrypt it with `sopsy encrypt -i {path}`)"]
    return _plaintext_values(parsed, rule)


def _plaintext_values(parsed: ParsedFile, rule: CreationRule | None) -> list[str]:
    from .metadata import Metadata

    try:
        meta = Metadata.from_dict(parsed.metadata)
    except SopsyError as exc:
        return [f"its sops metadata is damaged ({exc})"]
    rules: list[tuple[CryptRule | None, str]] = [(meta.crypt_rule, "its own crypt rule")]
    if rule is not None and rule.crypt_rule is not None and rule.crypt_rule != meta.crypt_rule:
        rules.append((rule.crypt_rule, "the creation rule"))
    out: list[str] = []
    for crypt_rule, whose in rules:
        for where in _unencrypted(parsed, crypt_rule):
            out.append(f"the value at {where} is in plaintext, but {whose} "
                       f"({(crypt_rule.name + ' ' + repr(crypt_rule.value)) if crypt_rule else 'the default'}) "
                       "says it must be encrypted")
    return out[:20]


def _unencrypted(parsed: ParsedFile, crypt_rule: CryptRule | None) -> list[str]:
    from . import engine
    from .cipher import is_encrypted_value
    from .model import Scalar
    from .rules import Matcher

    found: list[str] = []

    def on_leaf(leaf: Scalar, prefix: str, should: bool) -> None:
        v = leaf.value
        if should and v is not None and v != "" and not is_encrypted_value(v):
            found.append(prefix.rstrip(":").replace(":", ".") or "the document root")

    engine._traverse(parsed.documents, Matcher(crypt_rule), on_leaf)
    return found

"""``sopsy git setup``: the ``.gitattributes`` lines and the clone's git config for both drivers.

The attributes (which files use the drivers) are committed and shared; the driver commands are
per clone (git never runs a command a repository names on its own), so every clone runs setup
once. Setup is idempotent and ``--check`` reports what is missing. ``diff.sopsy.cachetextconv``
is written as ``false``: a textconv cache would keep plaintext in ``refs/notes/textconv``.

Without patterns on the command line they come from the creation rules' ``path_regex`` where a
regex has an exact git-pattern equivalent (``\\.enc\\.yaml$`` → ``*.enc.yaml``, ``^secrets/`` →
``secrets/**``, ``(dev|prod)/.*\\.env$`` → two patterns); otherwise setup asks. Regex-to-glob
translation is hand-written: no library does it (the converse, ``fnmatch.translate``, exists).
"""

from __future__ import annotations

import os
import subprocess
import sys

from .errors import UsageError
from .fileio import atomic_write, interactive

ATTRS = "diff=sopsy merge=sopsy"


def wanted_config(command: str) -> dict[str, str]:
    return {
        "diff.sopsy.textconv": f"{command} git textconv",
        "diff.sopsy.cachetextconv": "false",
        "merge.sopsy.name": "sopsy: merge encrypted files as trees, keys and rules included",
        "merge.sopsy.driver": f"{command} merge %O %A %B %P",
        # `git mergetool --tool sopsy`: the tools git knows would show ciphertext
        "mergetool.sopsy.cmd": f'{command} git resolve "$MERGED"',
        "mergetool.sopsy.trustExitCode": "true",
    }


def _git(root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def repo_root(start: str | None = None) -> str:
    try:
        proc = _git(start or os.getcwd(), "rev-parse", "--show-toplevel")
    except OSError as exc:
        raise UsageError(f"git is needed for this command ({exc.strerror})") from None
    if proc.returncode:
        raise UsageError("not inside a git repository (run this in the clone to set up)")
    return proc.stdout.strip()


def setup(patterns: list[str], *, check: bool = False, command: str = "sopsy", start: str | None = None) -> int:
    """Write (or with ``check``, report) what is missing; returns the exit status."""
    root = repo_root(start)
    patterns = patterns or default_patterns(root)
    attr_path = os.path.join(root, ".gitattributes")
    try:
        with open(attr_path, encoding="utf-8") as f:
            attrs = f.read()
    except FileNotFoundError:
        attrs = ""
    new_attrs, missing_attrs = _with_attributes(attrs, patterns)
    missing_config = {k: v for k, v in wanted_config(command).items()
                      if _git(root, "config", "--local", "--get", k).stdout.rstrip("\n") != v}
    if check:
        for p in missing_attrs:
            print(f"missing in .gitattributes: {p} {ATTRS}")
        for k, v in missing_config.items():
            print(f"missing in the git config: {k} = {v}")
        if not missing_attrs and not missing_config:
            print(f"sopsy git setup: complete ({', '.join(patterns)})")
        return 1 if missing_attrs or missing_config else 0
    if missing_attrs:
        atomic_write(attr_path, new_attrs)
        for p in missing_attrs:
            print(f".gitattributes: {p} {ATTRS}", file=sys.stderr)
    for k, v in missing_config.items():
        proc = _git(root, "config", "--local", k, v)
        if proc.returncode:
            raise UsageError(f"git config {k} failed: {proc.stderr.strip()}")
        print(f"git config {k} = {v}", file=sys.stderr)
    if not missing_attrs and not missing_config:
        print("sopsy git setup: already complete", file=sys.stderr)
    return 0


def attr_pattern(pattern: str) -> str:
    """``pattern`` as a ``.gitattributes`` line starts with it: in C-style quotes when it holds
    a space (unquoted, git would read ``a b.yaml`` as the pattern ``a`` and an attribute
    ``b.yaml``); a control character (a newline would start a line of other attributes) is
    refused."""
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        raise UsageError(f"pattern {pattern!r}: a control character cannot be written to .gitattributes")
    if pattern.startswith('"') or any(c.isspace() for c in pattern):
        return '"' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return pattern


def _with_attributes(text: str, patterns: list[str]) -> tuple[str, list[str]]:
    """``text`` with every pattern's line carrying both attributes; the patterns that lacked them."""
    lines = text.splitlines()
    missing: list[str] = []
    for p in map(attr_pattern, patterns):
        for i, line in enumerate(lines):
            fields = line.split()
            body = line.lstrip()
            if fields and body.startswith(p) and body[len(p):][:1] in ("", " ", "\t"):
                extra = [a for a in ATTRS.split() if a not in fields[1:]]
                if extra:
                    lines[i] = " ".join([line.rstrip(), *extra])
                    missing.append(p)
                break
        else:
            lines.append(f"{p} {ATTRS}")
            missing.append(p)
    return ("\n".join(lines) + "\n") if lines else "", missing


def default_patterns(root: str) -> list[str]:
    """Git patterns for the files the root config's creation rules cover, or the user's answer."""
    from . import config

    found = None
    for name in config.CONFIG_NAMES:
        if os.path.isfile(os.path.join(root, name)):
            found = os.path.join(root, name)
            break
    patterns: list[str] | None = None
    why = "no .sopsy.yaml or .sops.yaml at the top of the repository"
    if found is not None:
        doc = config._read_yaml(config._path(found))
        rules = doc.get("creation_rules") if isinstance(doc, dict) else None
        patterns, why = [], f"{os.path.basename(found)} has no creation rules"
        for rule in rules if isinstance(rules, list) else []:
            regex = rule.get("path_regex") if isinstance(rule, dict) else None
            globs = regex_to_globs(regex) if isinstance(regex, str) and regex else None
            if globs is None:
                patterns, why = None, f"path_regex {regex!r} has no exact git pattern" if regex else \
                    "a creation rule has no path_regex (it covers every file)"
                break
            patterns += [g for g in globs if g not in patterns]
    if patterns:
        print(f"sopsy git setup: patterns from the creation rules: {' '.join(patterns)}", file=sys.stderr)
        return patterns
    if not interactive():
        raise UsageError(f"{why}: name the encrypted files' patterns, e.g. sopsy git setup 'secrets/**' '*.enc.yaml'")
    answer = input(f"{why}. Which files are encrypted? git patterns, space-separated (e.g. secrets/** *.enc.yaml): ")
    patterns = answer.split()
    if not patterns:
        raise UsageError("no patterns given")
    return patterns


# -- path_regex -> git patterns --------------------------------------------------------------------

_LITERAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/~@%,=:' ")
_ESCAPABLE = set(".-_/+()[]{}^$|?*\\#&~ ")
ANY, SEG = "\0any", "\0seg"  # `.*` / `.+` (may cross /) and `[^/]*` / `[^/]+`


def regex_to_globs(regex: str) -> list[str] | None:
    """Git patterns matching exactly the paths ``regex`` (searched, as sops does) matches, or None."""
    start = regex.startswith("^")
    end = regex.endswith("$") and not regex.endswith("\\$")
    body = regex[1 if start else 0:len(regex) - 1 if end else len(regex)]
    try:
        alternatives, pos = _parse(body, 0)
    except ValueError:
        return None
    if pos != len(body) or len(alternatives) > 32 or ((start or end) and _top_level_bar(body)):
        return None  # (`^a|b$` anchors each alternative on one side only)
    out: list[str] = []
    for tokens in alternatives:
        globs = _glob(([] if start else [ANY]) + tokens + ([] if end else [ANY]))
        if globs is None:
            return None
        out += [g for g in globs if g not in out]
    return out


def _top_level_bar(s: str) -> bool:
    depth, i = 0, 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        depth += {"(": 1, ")": -1}.get(s[i], 0)
        if s[i] == "|" and depth == 0:
            return True
        i += 1
    return False


def _parse(s: str, i: int) -> tuple[list[list[str]], int]:
    """Alternatives (token lists) of ``s`` from ``i`` up to an unmatched ``)`` or the end."""
    done: list[list[str]] = []
    alts: list[list[str]] = [[]]  # the expansions of the alternative being read
    while i < len(s) and s[i] != ")":
        c = s[i]
        if c == "|":
            done += alts
            alts = [[]]
            i += 1
            continue
        if c == "(":
            j = i + 3 if s.startswith("(?:", i) else i + 1
            inner, j = _parse(s, j)
            if j >= len(s) or s[j] != ")":
                raise ValueError("unclosed group")
            i = j + 1
        elif s.startswith((".*", ".+"), i):
            inner, i = [[ANY]], i + 2
        elif s.startswith(("[^/]*", "[^/]+"), i):
            inner, i = [[SEG]], i + 5
        elif c == "\\" and i + 1 < len(s) and s[i + 1] in _ESCAPABLE:
            inner, i = [[s[i + 1]]], i + 2
        elif c in _LITERAL:
            inner, i = [[c]], i + 1
        else:
            raise ValueError("no glob equivalent")
        if i < len(s) and s[i] == "?":
            inner, i = [*inner, []], i + 1
        alts = [a + b for a in alts for b in inner]
        if len(alts) + len(done) > 32:
            raise ValueError("too many alternatives")
    return done + alts, i


def _glob(tokens: list[str]) -> list[str] | None:
    """A token list as git patterns (two where a name may be a file or a directory); None where
    git's ``*`` and ``**`` cannot say the same."""
    text = ""
    for tok in tokens:
        if tok == ANY and text.endswith(ANY):
            continue
        text += tok if tok in (ANY, SEG) else ("\\" + tok if tok in "*?[\\" else tok)
    parts = text.split("/")
    variants: list[list[str]] = [[]]
    for n, part in enumerate(parts):
        head, _, rest = part.partition(ANY)
        if ANY in rest:
            return None
        seg = (head + (ANY if _ else "") + rest).replace(SEG, "*")
        if not _:
            choices = [[seg]]
        elif not head:  # anything, then the rest of a name: any directories, then *rest
            choices = [["**", "*" + rest.replace(SEG, "*")]] if rest else [["**"]]
        elif not rest:  # a name's start, then anything: that name, or anything inside it
            name = head.replace(SEG, "*") + "*"
            choices = [[name, "**"]] if n < len(parts) - 1 else [[name], [name, "**"]]
        else:
            return None
        variants = [v + c for v in variants for c in choices]
    out = []
    for v in variants:
        glob = "/".join(p for i, p in enumerate(v) if not (p == "**" and i and v[i - 1] == "**"))
        if glob.startswith("**/") and "/" not in glob[3:]:
            glob = glob[3:]  # git matches a slash-less pattern at any depth already
        if glob in ("", "*", "**", "**/*", "*/**"):
            return None  # every file: not a pattern for secrets
        out.append(glob)
    return out

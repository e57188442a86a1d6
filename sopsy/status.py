"""``sopsy status``: which files are overdue for rotation, and who can open what. No key needed.

The data key's age is what rotation policies are about (a departed colleague's copies keep
opening every file whose data key has not changed since). sops records a ``created_at`` only
for some key types and renews it whenever it re-wraps the same data key, so sopsy records the
data key's creation in its own metadata field (:data:`ROTATED_FIELD`, written by encrypt and
rotate, which sops ignores and drops when it rewrites a file). For a file without it, the time
comes from git history: walking back through the file's commits while consecutive versions
share an encrypted value's exact ciphertext (an unchanged value keeps its ciphertext under the
same data key, and no ciphertext survives a new data key), the oldest such commit is when the
data key appeared. Outside git, the oldest ``created_at`` of the key entries, else
``lastmodified``, stands in; the output says which source each time came from.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime

from .config import find_config, load_rule, parse_duration_days
from .core import DATAKEY_CREATED_FIELD as ROTATED_FIELD
from .errors import NoFile, SopsyError, UsageError
from .fileio import decode, read_bytes, shown
from .metadata import Metadata
from .stores import get_store, store_name_for

_ENC = re.compile(r"ENC\[AES256_GCM,data:[^\]]*type:(?!comment)[a-z]+\]")
_SKIP_DIRS = {".git", "node_modules", ".venv", "__pycache__", ".terraform"}


def _time(text: str) -> datetime:
    text = re.sub(r"\.[0-9]+", "", text.strip())
    when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _valid_time(text: object) -> str | None:
    """``text`` if it is a timestamp status can compute an age from (metadata may hold anything)."""
    if not isinstance(text, str):
        return None
    try:
        _time(text)
    except (ValueError, OverflowError):
        return None
    return text


class FileStatus:
    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.encrypted = False
        self.error: str | None = None
        self.groups: list[list[tuple[str, str]]] = []
        self.threshold = 0
        self.rotated: str | None = None
        self.rotated_source = ""
        self.lastmodified: str | None = None
        self.max_age_days: float | None = None

    def age_days(self, now: datetime) -> float | None:
        return (now - _time(self.rotated)).total_seconds() / 86400 if self.rotated else None

    def overdue(self, now: datetime) -> bool:
        age = self.age_days(now)
        return self.max_age_days is not None and (age is None or age > self.max_age_days)

    def to_json(self, now: datetime) -> dict[str, object]:
        age = self.age_days(now)
        return {"path": self.path, "format": self.format, "encrypted": self.encrypted, "error": self.error,
                "key_groups": [[{"type": t, "key": k} for t, k in g] for g in self.groups],
                "shamir_threshold": self.threshold, "data_key_created": self.rotated,
                "data_key_created_source": self.rotated_source or None, "lastmodified": self.lastmodified,
                "data_key_age_days": None if age is None else round(age, 1), "max_age_days": self.max_age_days,
                "overdue": self.overdue(now)}


def _metadata_of(path: str, fmt: str, text: str) -> Metadata | None:
    parsed = get_store(fmt).parse(text)
    return Metadata.from_dict(parsed.metadata) if parsed.metadata is not None else None


def _git_rotation(path: str, current: set[str]) -> str | None:
    """The commit time of the oldest version that still shares a ciphertext with the next."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    try:
        log = subprocess.run(["git", "log", "--format=%H %cI", "--follow", "--", os.path.basename(path)],
                             cwd=directory, capture_output=True, text=True, check=True, timeout=30).stdout
        prefix = subprocess.run(["git", "rev-parse", "--show-prefix"], cwd=directory, capture_output=True,
                                text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    newer, found = current, None
    for line in log.splitlines():
        sha, _, when = line.partition(" ")
        version = subprocess.run(["git", "show", f"{sha}:{prefix}{os.path.basename(path)}"], cwd=directory,
                                 capture_output=True, check=False, timeout=30)
        values = set(_ENC.findall(decode(version.stdout))) if version.returncode == 0 else set()
        if not values & newer:
            break
        found, newer = when, values
    return found


def inspect(path: str, now: datetime | None = None, max_age: float | None = None) -> FileStatus:
    fmt = store_name_for(path)
    st = FileStatus(path, fmt)
    try:
        text = decode(read_bytes(path))
        meta = _metadata_of(path, fmt, text)
    except SopsyError as exc:
        st.error = str(exc)
        return st
    st.max_age_days = max_age
    if meta is None:
        return st
    st.encrypted = True
    st.groups = [[(e.type, e.identity) for e in g] for g in meta.key_groups]
    st.threshold = meta.shamir_threshold
    st.lastmodified = meta.lastmodified
    # each source in turn; a timestamp that does not parse (hand-edited metadata) is passed over
    recorded = _valid_time(meta.extra.get(ROTATED_FIELD))
    created = sorted(t for g in meta.key_groups for e in g if (t := _valid_time(e.fields.get("created_at"))))
    if recorded is not None:
        st.rotated, st.rotated_source = recorded, "sopsy"
    elif (from_git := _git_rotation(path, set(_ENC.findall(text)))) is not None:
        st.rotated, st.rotated_source = from_git, "git"
    elif created:
        st.rotated, st.rotated_source = created[0], "created_at"
    elif _valid_time(meta.lastmodified) is not None:
        st.rotated, st.rotated_source = meta.lastmodified, "lastmodified"
    return st


def _rule_max_age(path: str) -> float | None:
    from .settings import SETTINGS

    config = find_config(path, SETTINGS.config)
    if config is None:
        return None
    try:
        rule = load_rule(config, path)
    except UsageError:  # no rule covers this file
        return None
    return rule.max_age_days if rule is not None else None


def candidate_files(paths: list[str]) -> list[str]:
    """The files to report: those named, every file under a directory named, or (no paths)
    every file under the config's directory (or the working directory)."""
    paths_given = bool(paths)
    if not paths:
        from .settings import SETTINGS

        config = find_config(None, SETTINGS.config)
        paths = [str(config.parent) if config is not None else "."]
    out: list[str] = []
    cwd = os.getcwd()
    for p in paths:
        if not paths_given and os.path.isabs(p) and (p + os.sep).startswith(cwd + os.sep):
            p = os.path.relpath(p) if p != cwd else "."
        if paths_given and not os.path.lexists(p):
            raise NoFile(f"no such file: {p}")
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                out += [os.path.join(root, f) for f in sorted(files) if _looks_encrypted(os.path.join(root, f))]
        else:
            out.append(p)
    return out


def _looks_encrypted(path: str) -> bool:
    if not os.path.isfile(path):  # a FIFO in the tree would block the open for ever; devices
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return False
    return b"ENC[AES256_GCM," in head or b"sops_mac=" in head


def report(paths: list[str], *, as_json: bool = False, max_age: str | None = None,
           recipient: str | None = None) -> tuple[str, int]:
    """The report text and the exit status (1 when a file is overdue or unreadable)."""
    now = datetime.now(UTC)
    limit = parse_duration_days(max_age, "--max-age") if max_age else None
    results = []
    for path in candidate_files(paths):
        st = inspect(path, now, limit if limit is not None else _rule_max_age(path))
        if recipient and not any(_names(recipient, t, k) for g in st.groups for t, k in g):
            continue
        results.append(st)
    bad = any(st.overdue(now) or st.error for st in results)
    if as_json:
        return json.dumps([st.to_json(now) for st in results], indent=2) + "\n", int(bad)
    return "".join(_text(st, now) for st in results), int(bad)


def _names(recipient: str, key_type: str, key: str) -> bool:
    """Whether ``recipient`` (as a person would give it) names this key: the key itself,
    ``type:key``, or a PGP key id (the end of a fingerprint)."""
    if recipient in (key, f"{key_type}:{key}"):
        return True
    return key_type == "pgp" and len(recipient) >= 8 and key.upper().endswith(recipient.upper())


def _text(st: FileStatus, now: datetime) -> str:
    name = shown(st.path)  # a hostile name cannot write escape sequences or forge a line
    if st.error:
        return f"{name}: {shown(st.error)}\n"
    if not st.encrypted:
        return f"{name} ({st.format}): not encrypted\n"
    age = st.age_days(now)
    flag = "  OVERDUE" if st.overdue(now) else ""
    when = (f"data key from {st.rotated} ({age:.0f} days, {st.rotated_source})" if age is not None
            else "data key age unknown (no readable timestamp in the metadata)")
    lines = [f"{name} ({st.format}): {when}, last modified {st.lastmodified}{flag}\n"]
    for gi, group in enumerate(st.groups):
        lines.append(f"  group {gi}: " + ", ".join(f"{t} {k}" for t, k in group) + "\n")
    return "".join(lines)

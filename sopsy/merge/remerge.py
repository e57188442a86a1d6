"""A conflict git's own line merge left in an encrypted file: merged again as the driver would.

In a clone where ``sopsy git setup`` was not run, git merges encrypted files line by line: both
sides of each marked region are ciphertext, and lines merged from the other side break each
side's MAC, so the sides cannot be opened. git still holds the three versions in the index
(stages 1-3, all encrypted): ``sopsy git resolve`` merges them again with the driver's merge,
in a private temporary directory (sopsy.privatedir), and goes on from its result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ..errors import MergeConflict, SopsyError

HINT = "git merged it line by line: no sopsy merge driver in this clone (run `sopsy git setup`)"


def is_line_merge(text: str) -> bool:
    """Whether a marked text is git's line merge rather than the driver's marked file."""
    from .driver import CONFLICT_MAC

    return CONFLICT_MAC not in text


def stages(path: str) -> list[bytes] | None:
    """The base, ours and theirs versions git holds for a conflicted ``path`` (base empty when
    the file was added on both sides); None when git holds no conflict for it."""
    spec = path if os.path.isabs(path) else "./" + path
    out: list[bytes] = []
    for n in (1, 2, 3):
        try:
            proc = subprocess.run(["git", "show", f":{n}:{spec}"], capture_output=True, check=False)
        except OSError:
            return None
        if proc.returncode and n > 1:
            return None
        out.append(proc.stdout if proc.returncode == 0 else b"")
    return out


def remerge(path: str, input_type: str | None) -> tuple[str, bool] | None:
    """The driver's merge of git's three versions of ``path``: (text, whether it clashed), or
    None when git holds no versions for it."""
    from .driver import merge_files

    versions = stages(path)
    if versions is None:
        return None
    from .. import privatedir

    privatedir.sweep("remerge")
    tmp = privatedir.make("remerge")  # ciphertext, unless a side is a file not yet encrypted
    try:
        files: list[str] = []
        for name, data in zip(("base", "ours", "theirs"), versions, strict=True):
            files.append(os.path.join(tmp, name))
            with open(files[-1], "wb") as out:
                out.write(data)
        clashed = False
        try:
            merge_files(files[0], files[1], files[2], path_name=path, input_type=input_type)
        except MergeConflict:
            clashed = True
        except SopsyError as exc:
            raise type(exc)(f"{path}: {HINT}, and merging it again failed: {exc}", exc.exit_code) from None
        with open(files[1], encoding="utf-8", errors="surrogateescape", newline="") as merged:
            text = merged.read()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if clashed and is_line_merge(text):  # the driver kept ours (a version it cannot read)
        return None
    print(f"sopsy: {path}: {HINT}; merged again as trees" + (": conflicts remain" if clashed else ": no conflict left"),
          file=sys.stderr)
    return text, clashed

"""git-style conflict markers: writing both sides of a conflict into one text, finding them, and
splitting a marked text back into its two sides.

The merge driver marks the *encrypted* file (each side's items in ciphertext, so no plaintext
reaches the disk, and no sops reader accepts the file); ``sopsy git resolve`` marks the
plaintext it opens in the editor. Both are a line diff of two versions that differ only where
the merge clashed. This module imports nothing heavy: ``sopsy decrypt`` asks it about every file.
"""

from __future__ import annotations

OPEN = "<" * 7
SEP = "=" * 7
BASE = "|" * 7
CLOSE = ">" * 7


def has_conflict(data: bytes) -> bool:
    """Whether a file holds a conflict (an opening and a closing marker line). Cheap enough for
    every decrypt: the regular expressions are only compiled when seven ``<`` occur at all."""
    if b"<<<<<<<" not in data:
        return False
    import re

    return re.search(rb"(?:^|\n)<{7}(?: |\r?\n)", data) is not None and \
        re.search(rb"(?:^|\n)>{7}(?: |\r?\n|$)", data) is not None


def marker_lines(text: str) -> list[int]:
    """1-based numbers of the lines that are (or look like) conflict markers."""
    import re

    return [text.count("\n", 0, m.start()) + 1
            for m in re.finditer(r"^(?:<{7}|>{7}|\|{7})(?: |\r?$)|^={7}\r?$", text, re.M)]


def interleave(a: str, b: str, label_a: str, label_b: str) -> str:
    """``a`` with every region where ``b`` differs wrapped in markers (``a``'s lines first)."""
    import difflib

    al, bl = a.splitlines(keepends=True), b.splitlines(keepends=True)
    eol = "\r\n" if al and al[0].endswith("\r\n") else "\n"  # marker lines end as the file's lines do
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, al, bl, autojunk=False).get_opcodes():
        if tag == "equal":
            out += al[i1:i2]
            continue
        out.append(f"{OPEN} {label_a}{eol}")
        out += _closed(al[i1:i2], eol)
        out.append(f"{SEP}{eol}")
        out += _closed(bl[j1:j2], eol)
        out.append(f"{CLOSE} {label_b}{eol}")
    return "".join(out)


def _closed(lines: list[str], eol: str) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + eol]
    return lines


def split(text: str) -> tuple[str, str] | None:
    """The two sides of a marked text (None when it has no markers). A base section
    (``|||||||``, git's diff3 style) is dropped; markers out of order are an error."""
    a: list[str] = []
    b: list[str] = []
    state = ""
    seen = False
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        bare = line.rstrip("\r\n")
        if bare.startswith(OPEN) and bare[7:8] in ("", " ") and not state:
            state, seen = "a", True
        elif bare.startswith(BASE) and bare[7:8] in ("", " ") and state == "a":
            state = "base"
        elif bare == SEP and state in ("a", "base"):
            state = "b"
        elif bare.startswith(CLOSE) and bare[7:8] in ("", " ") and state == "b":
            state = ""
        elif bare.startswith((OPEN, CLOSE, BASE)) and bare[7:8] in ("", " "):
            raise ValueError(f"line {n}: a conflict marker out of order")
        elif state == "":
            a.append(line)
            b.append(line)
        elif state == "a":
            a.append(line)
        elif state == "b":
            b.append(line)
    if state:
        raise ValueError("a conflict is not closed (no >>>>>>> line)")
    return ("".join(a), "".join(b)) if seen else None

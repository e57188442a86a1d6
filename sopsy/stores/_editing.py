"""What the editable text stores (dotenv, INI, tfvars) share when they apply document edits
(:mod:`sopsy.edits`): walking a path through the parsed model, naming a path in a message, and
applying splices of the source text."""

from __future__ import annotations

import json

from ..errors import UsageError
from ..model import Comment, Mapping, Node, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from collections.abc import Sequence as Seq
    from typing import Any

    from ..edits import Edit, PathPart, TreePath


def path_text(path: Iterable[PathPart]) -> str:
    """A path as ``--extract`` and ``set`` write it: ``["a"]["b"][0]`` (keys only, never values)."""
    return "".join(f"[{p}]" if isinstance(p, int) else f"[{json.dumps(p, ensure_ascii=False)}]" for p in path) or "[]"


def check_batch(parsed: Any, edits: Seq[Edit], store: str) -> None:
    if getattr(parsed, "metadata", None) is not None:
        raise UsageError(f"{store} edits apply to a plaintext file; decrypt it first")
    for e in edits:
        if e.doc != 0:
            raise UsageError(f"a {store} file has one document; an edit names document {e.doc}")


def data_items(seq: Sequence) -> list[int]:
    """Positions in ``seq.items`` of its data items (comments are items too, but not indexed)."""
    return [i for i, v in enumerate(seq.items) if not isinstance(v, Comment)]


def child_at(node: Node, part: PathPart, path: TreePath) -> tuple[int, Node]:
    """(position in ``node.items``, child) for one path step; UsageError naming the path."""
    if isinstance(node, Mapping) and isinstance(part, str):
        for i, (k, v) in enumerate(node.items):
            if k == part:
                return i, v
    elif isinstance(node, Sequence) and isinstance(part, int) and not isinstance(part, bool):
        pos = data_items(node)
        if 0 <= part < len(pos):
            return pos[part], node.items[pos[part]]
    raise UsageError(f"the path {path_text(path)} does not exist in the file")


def walk(doc: Node, path: TreePath) -> list[tuple[Node, int]]:
    """The chain of (container, position in its items) from the root down to ``path``."""
    chain: list[tuple[Node, int]] = []
    node = doc
    for n, part in enumerate(path):
        i, child = child_at(node, part, path[:n + 1])
        chain.append((node, i))
        node = child
    return chain


def line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def line_end(text: str, pos: int) -> int:
    """Where the line holding ``pos`` ends, after its line break (the text's end without one)."""
    j = text.find("\n", pos)
    return len(text) if j < 0 else j + 1


def apply_splices(text: str, splices: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, new)`` splice applied; zero-width inserts at one place
    stay in the order given. Deletions that overlap merge, an insert inside a deletion splits it;
    any other overlap is two edits of the same text, a UsageError."""
    order = sorted(range(len(splices)), key=lambda n: (splices[n][0], splices[n][1] > splices[n][0], n))
    merged: list[list[Any]] = []
    for n in order:
        start, end, new = splices[n]
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if last[2] or (new and start != end):
                raise UsageError("two edits of the batch change the same part of the file")
            if new:  # an insert where a deletion runs: the deletion goes on after it
                last_end, last[1] = last[1], start
                merged += [[start, start, new], [start, last_end, ""]]
            else:
                last[1] = max(last[1], end)
            continue
        merged.append([start, end, new])
    out: list[str] = []
    pos = 0
    for start, end, new in merged:
        out.append(text[pos:start])
        out.append(new)
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)

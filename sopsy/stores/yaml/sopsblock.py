"""Two helpers of the reader: the ``sops:`` metadata block, read into plain data (it is not part
of the document tree), and the budget that refuses alias bombs."""

from __future__ import annotations

from typing import Any

from ...model import Mapping, Node, Sequence
from ...yamlscalar import resolve

MAX_DEPTH = 1000  # libyaml's nesting limit, kept for the pure-Python parser too


def allowed_alias_ratio(total: int) -> float:
    low, high = 400_000, 4_000_000
    if total <= low:
        return 0.99
    if total >= high:
        return 0.10
    return 0.99 - 0.89 * (total - low) / (high - low)


def count_nodes(node: Node) -> int:
    count = 0
    todo = [node]
    while todo:
        n = todo.pop()
        count += 1
        if isinstance(n, Mapping):  # a key counts as a node too, as go-yaml counts it
            count += len(n.items)
            todo.extend(v for _, v in n.items)
        elif isinstance(n, Sequence):
            todo.extend(n.items)
    return count


class MetadataReader:
    """Reads a ``sops:`` item into plain data: metadata is not part of the document tree."""

    def __init__(self) -> None:
        self.data: list[Any] = [{"__key__": "sops"}]  # open containers, the outermost first
        self.flows: list[bool] = []  # flow style of each collection open inside the block
        self.last_end = 0  # where the block's last node ends

    def scalar(self, ev: Any) -> bool:
        """A scalar event; True when it completes the block (``sops:`` with a scalar value)."""
        self.last_end = ev.end_mark.index
        top = self.data[-1]
        if self.flows and isinstance(top, dict) and "__key__" not in top:
            top["__key__"] = ev.value
            return False
        self._add(resolve(ev.value, ev.tag, not ev.style))
        return not self.flows

    def open(self, ev: Any, is_map: bool) -> None:
        self.data.append({} if is_map else [])
        self.flows.append(bool(ev.flow_style))

    def close(self, ev: Any) -> bool:
        """A collection end; True when it completes the block."""
        if self.flows.pop():  # a flow collection ends at its bracket
            self.last_end = ev.end_mark.index
        done = self.data.pop()
        if isinstance(done, dict):
            done.pop("__key__", None)
        self._add(done)
        return not self.flows

    def alias(self, value: Any) -> bool:
        self._add(value)
        return not self.flows

    def metadata(self) -> dict[str, Any] | None:
        meta = self.data[0].get("sops")
        return meta if isinstance(meta, dict) else None

    def _add(self, value: Any) -> None:
        top = self.data[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            key = top.pop("__key__", None)
            if key is not None:
                top[key] = value

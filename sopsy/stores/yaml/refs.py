"""Where the parsed nodes sit in the source text: the refs the reader leaves on model nodes and
the writer splices at."""

from __future__ import annotations

from typing import Any

from ...model import Comment, Mapping, Node, Scalar, Sequence


class SRef:
    """Where a scalar sits in the source."""

    __slots__ = ("start", "body", "end", "style", "flow", "indent", "enc")

    def __init__(self, start: int, body: int, end: int, style: str | None, flow: bool, indent: int) -> None:
        self.start = start  # first character of the node, properties included
        self.body = body  # first character after anchor/tag
        self.end = end  # end of the replaceable region (block scalars: without trailing blank lines)
        self.style = style
        self.flow = flow
        self.indent = indent  # column of the owning key or "-"
        self.enc: str | None = None  # the ENC[...] string the source holds here, if any


class CRef:
    """Where a collection (or an alias) sits in the source."""

    __slots__ = ("start", "end", "flow", "alias", "anchor", "keys")

    def __init__(self, start: int, end: int, flow: bool, alias: str | None = None, anchor: str | None = None) -> None:
        self.start = start
        self.end = end
        self.flow = flow
        self.alias = alias
        self.anchor = anchor
        self.keys: dict[str, int] | None = None  # a mapping's keys: where each starts


class CommentRef:
    __slots__ = ("start", "end", "original")

    def __init__(self, start: int, end: int, original: str) -> None:
        self.start = start
        self.end = end
        self.original = original


class DocInfo:
    __slots__ = ("root", "insert_at", "sops_region", "column", "flow_root", "flow_insert", "anchors", "aliases")

    def __init__(self) -> None:
        self.root: Mapping | None = None
        self.insert_at = 0
        self.sops_region: tuple[int, int] | None = None
        self.column = 0
        self.flow_root = False
        self.flow_insert = 0  # a flow root ({...}): where its last item ends
        self.anchors: dict[str, Node] = {}
        self.aliases: list[Node] = []  # expanded copies standing where the source has an alias


class ParsedYaml:
    def __init__(self, text: str) -> None:
        self.text = text
        self.documents: list[Mapping] = []
        self.metadata: dict[str, Any] | None = None
        self.docs: list[DocInfo] = []
        self.nonstring_key = False
        self.depth = 0  # the deepest nesting of collections


def leaves(node: Node, skip: set[int] | None = None) -> list[Scalar]:
    """The scalars under ``node`` in document order (leaving out the subtrees whose ids are in ``skip``)."""
    out: list[Scalar] = []

    def walk(n: Node) -> None:
        if skip and id(n) in skip:
            return
        if isinstance(n, Scalar):
            out.append(n)
        elif isinstance(n, Mapping):
            for _, v in n.items:
                walk(v)
        elif isinstance(n, Sequence):
            for v in n.items:
                walk(v)

    walk(node)
    return out


def without_comments(node: Node, ref: Any) -> Node:
    """A copy of ``node`` (an alias expansion): comments stay with the anchored original."""
    if isinstance(node, Scalar):
        return Scalar(node.value, node.spelling, None, ref)
    if isinstance(node, Mapping):
        return Mapping([(k, without_comments(v, None)) for k, v in node.items if not isinstance(v, Comment)], ref)
    if isinstance(node, Sequence):
        return Sequence([without_comments(v, None) for v in node.items if not isinstance(v, Comment)], ref)
    return node

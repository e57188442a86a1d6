"""A small block emitter: the ``sops:`` metadata block and fresh files (format conversion,
``--indent``), where there is no source layout to keep.

Indentation follows go-yaml v3's emitter (what sops writes with): a block collection under a
mapping key goes to the next multiple of the indentation step after the key's column, and a
collection that is a sequence item starts on the item's line, two columns after its ``-``
(``- - x``, ``- key: v``). So with step 4, ``- a:`` at column 4 puts ``a``'s children at
column 8, not 10."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...model import Comment, Node, Sequence
from ...model import Mapping as ModelMapping
from ...model import Scalar as ModelScalar
from ...yamlscalar import double_quoted, plain_ok, scalar_text

# (value, indentation of a block scalar's lines, indentation step) -> the scalar's text
Scalar = Callable[[Any, int, int], str]


def _sopsy_scalar(value: Any, indent: int, step: int) -> str:
    return scalar_text(value, indent)


def sops_scalar(value: Any, indent: int, step: int) -> str:
    """What sops (go-yaml) writes for a value: format conversion gives sops's output."""
    from .goyaml import value_text

    return value_text(value, None, indent, step)


def _key_text(key: str) -> str:
    return key if plain_ok(key) else double_quoted(key)


def below(col: int, step: int) -> int:
    """Where go-yaml indents what sits under a mapping key at ``col``: the next multiple of
    the step (its ``increase_indent``; "everything else aligns to the chosen indentation")."""
    return step * ((col + step) // step)


def go_step(indent: int) -> int:
    """go-yaml's ``best_indent`` for a requested indentation: 2 outside 2..9 (sops turns 0
    into 4 before it gets there)."""
    return indent if 2 <= indent <= 9 else 2


def emit_block(data: Any, column: int, step: int, scalar: Scalar = _sopsy_scalar) -> str:
    lines: list[str] = []
    _emit(data, column, step, lines, scalar)
    return "".join(lines)


def _emit(data: Any, col: int, step: int, out: list[str], scalar: Scalar, first_prefix: str | None = None) -> None:
    pad = " " * col
    if isinstance(data, dict):
        first = True
        for k, v in data.items():
            lead = first_prefix if (first and first_prefix is not None) else pad
            first = False
            head = f"{lead}{_key_text(str(k))}:"
            under = below(col, step)
            if isinstance(v, dict) and v or isinstance(v, list) and v:
                out.append(head + "\n")
                _emit(v, under, step, out, scalar)
            elif isinstance(v, dict):
                out.append(head + " {}\n")
            elif isinstance(v, list):
                out.append(head + " []\n")
            else:
                out.append(head + " " + scalar(v, under, step) + "\n")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            lead = (first_prefix if (i == 0 and first_prefix is not None) else pad) + "- "
            if isinstance(item, (dict, list)) and item:
                _emit(item, col + 2, step, out, scalar, first_prefix=lead)
            elif isinstance(item, dict):
                out.append(lead + "{}\n")
            elif isinstance(item, list):
                out.append(lead + "[]\n")
            else:
                out.append(lead + scalar(item, col + 2, step) + "\n")
    else:
        out.append(pad + scalar(data, col + 2, step) + "\n")


def emit_document(root: Node, step: int = 4) -> str:
    """A decrypted document as sops 3.7+ (go-yaml v3) prints it, comment lines included: for
    files whose layout is not that (sops before 3.7 wrote them with yaml.v2, which sets block
    sequences flush with their key), where splicing into the file's layout would not give
    sops's output, and for ``--indent``."""
    out: list[str] = []
    _emit_node(root, 0, step, out)
    if not _has_items(root):
        out.append("{}\n")  # an empty mapping, after any comments it holds (as go-yaml writes it)
    return "".join(out)


def _has_items(node: Node) -> bool:
    return isinstance(node, (ModelMapping, Sequence)) and any(not isinstance(v, Comment) for v in (
        (v for _, v in node.items) if isinstance(node, ModelMapping) else node.items))


def _leaf(node: Node, indent: int, step: int) -> str:
    from .goyaml import value_text

    if isinstance(node, ModelMapping):
        return "{}"
    if isinstance(node, Sequence):
        return "[]"
    assert isinstance(node, ModelScalar)
    return value_text(node.value, node.spelling, indent, step)


def _emit_node(node: Node, col: int, step: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * col
    items = list(node.items) if isinstance(node, ModelMapping) else [(None, v) for v in node.items] \
        if isinstance(node, Sequence) else []
    for i, (k, v) in enumerate(items):
        lead = first_prefix if (i == 0 and first_prefix is not None) else pad
        if isinstance(v, Comment):
            out.append(lead + "#" + v.text + "\n")
        elif isinstance(node, ModelMapping):
            head = f"{lead}{_key_text(str(k))}:"
            under = below(col, step)
            if _has_items(v):
                out.append(head + "\n")
                _emit_node(v, under, step, out)
            else:
                out.append(head + " " + _leaf(v, under, step) + "\n")
        elif _has_items(v):
            _emit_node(v, col + 2, step, out, first_prefix=lead + "- ")
        else:
            out.append(lead + "- " + _leaf(v, col + 2, step) + "\n")

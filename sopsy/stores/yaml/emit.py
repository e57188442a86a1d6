"""A small block emitter: the ``sops:`` metadata block and fresh files (format conversion), where
there is no source layout to keep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
            if isinstance(v, dict) and v or isinstance(v, list) and v:
                out.append(head + "\n")
                _emit(v, col + step, step, out, scalar)
            elif isinstance(v, dict):
                out.append(head + " {}\n")
            elif isinstance(v, list):
                out.append(head + " []\n")
            else:
                out.append(head + " " + scalar(v, col + step, step) + "\n")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict) and item:
                _emit(item, col + 2, step, out, scalar, first_prefix=pad + "- ")
            elif isinstance(item, list) and item:
                out.append(pad + "-\n")
                _emit(item, col + step, step, out, scalar)
            elif isinstance(item, dict):
                out.append(pad + "- {}\n")
            elif isinstance(item, list):
                out.append(pad + "- []\n")
            else:
                out.append(pad + "- " + scalar(item, col + 2, step) + "\n")
    else:
        out.append(pad + scalar(data, col + 2, step) + "\n")

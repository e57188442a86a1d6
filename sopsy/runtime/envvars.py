"""The environment variables a decrypted file gives a command (``exec-env``).

A top-level scalar is one variable. A nested mapping is flattened by joining its keys
(``db: {password: x}`` gives ``db_password``; ``--separator``, ``--upper``, ``--prefix``); with
``--json-values`` a nested mapping or list is one variable holding its JSON instead (lists need
it: there is no flat spelling of a list that every program reads alike). dotenv files give the
values dotenv gives them (quotes removed, escapes decoded, ``${VAR}`` expanded).

Everything is checked before anything runs, and each message names the key path, never a
value: a name that is not a portable variable name (letters, digits and ``_``, not starting
with a digit; this also refuses ``=``, which would split the variable, and NUL), a value with a
NUL byte (the kernel cannot pass it), and two paths of one file that give the same name.
"""

from __future__ import annotations

import json
import re

from ..errors import UsageError
from ..model import Comment, Mapping, Scalar, Sequence, to_data

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping as AbcMapping
    from typing import Any

    from ..core import Opened
    from ..model import Node

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvOptions:
    """How keys become names: ``separator`` joins nested keys, ``upper`` upper-cases them,
    ``prefix`` goes in front as given; ``json_values`` gives nested values as JSON."""

    def __init__(self, separator: str = "_", upper: bool = False, prefix: str = "",
                 json_values: bool = False) -> None:
        self.separator = separator
        self.upper = upper
        self.prefix = prefix
        self.json_values = json_values


def key_path(path: tuple[str, ...]) -> str:
    """A key path as the tree-path syntax writes it (``["db"]["password"]``), on one line."""
    return "".join(f"[{json.dumps(p, ensure_ascii=False)}]" for p in path)


def file_variables(opened: Opened, name: str, options: EnvOptions,
                   environ: AbcMapping[str, str]) -> dict[str, str]:
    """The variables ``opened`` (the decrypted file ``name``) defines, checked. ``environ`` is
    what dotenv ``${VAR}`` references see besides the file's own earlier names."""
    if opened.store.name == "dotenv":
        from ..stores.dotenv import dotenv_environment

        env = dotenv_environment(opened.parsed, opened.hints, environ)
        pairs: list[tuple[tuple[str, ...], str]] = [((k,), v) for k, v in env.items()]
    else:
        docs = opened.parsed.documents
        pairs = []
        if docs:  # the first document, as sops
            _walk(docs[0], (), options.json_values, name, pairs)
    return _named(pairs, name, options)


def _walk(node: Node, path: tuple[str, ...], json_values: bool, name: str,
          out: list[tuple[tuple[str, ...], str]]) -> None:
    if isinstance(node, Scalar):
        from ..stores.dotenv import scalar_text

        out.append((path, scalar_text(node.value)))
    elif isinstance(node, Mapping) and not (json_values and path):
        for key, child in node.items:
            if key is not None and not isinstance(child, Comment):
                _walk(child, (*path, key), json_values, name, out)
    elif isinstance(node, Mapping | Sequence):
        if not json_values:
            raise UsageError(f"{name}: {key_path(path)} holds a list: give --json-values to pass it as JSON")
        out.append((path, json.dumps(_json_ready(to_data(node)), ensure_ascii=False, separators=(",", ":"))))


def _json_ready(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _json_ready(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_json_ready(v) for v in data]
    if data is None or isinstance(data, str | bool | int | float):
        return data
    from ..stores.dotenv import scalar_text

    return scalar_text(data)  # timestamps and the like: their text


def _named(pairs: list[tuple[tuple[str, ...], str]], name: str, options: EnvOptions) -> dict[str, str]:
    out: dict[str, str] = {}
    origin: dict[str, tuple[str, ...]] = {}
    for path, value in pairs:
        joined = options.separator.join(path)
        var = options.prefix + (joined.upper() if options.upper else joined)
        if not _NAME.match(var):
            raise UsageError(f"{name}: key {key_path(path)} gives {json.dumps(var, ensure_ascii=False)}, not a valid "
                             "environment variable name (letters, digits and _, not starting with a digit)")
        if "\0" in value:
            raise UsageError(f"{name}: the value of {key_path(path)} holds a NUL byte, which an environment "
                             "variable cannot carry")
        if var in origin:
            raise UsageError(f"{name}: {key_path(origin[var])} and {key_path(path)} both give the variable {var}")
        origin[var] = path
        out[var] = value
    return out

"""``set`` and ``unset`` (sops 3.9+): change one value of an encrypted file by its path.

The file is decrypted in memory (MAC checked), the change is worked out on the document tree
(:func:`sopsy.edits.set_path`, :func:`sopsy.edits.unset_path`), applied to the plaintext by
the store as splices (``apply_edits``: the new value written as its neighbours are, everything
else byte for byte), and encrypted again with the same data key (:func:`sopsy.core.reencrypt`),
so every value the change does not touch keeps its ciphertext: the file changes in that value,
``lastmodified`` and ``mac`` only. The read and the write happen under the file's lock; the
write is atomic.

Values are JSON, as for sops. A JSON number is written as a person would write it: ``5`` an
integer, ``5.0`` or ``1e-07`` a float (sops makes every JSON number a float; the data read back
is the same, except that sopsy keeps an integer between 2**53 and 2**63 exact where sops rounds
it). A number past the 64-bit integers becomes a float, as in sops. Unlike sops, ``set`` takes
a JSON array as the value.
"""

from __future__ import annotations

import os

from . import core
from .edits import set_path, unset_path
from .errors import BadTreePath, InputError, InvalidSetFormat, KeyNotFound, SopsyError, UsageError
from .fileio import decode, locked
from .model import Mapping, Node, Scalar, Sequence
from .stores import get_store, store_name_for
from .values import INT64_MAX, INT64_MIN

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .edits import Edit, PathPart
    from .stores import Store

    Change = Callable[[Node], tuple[list[Edit], bool]]


def set_value(path: str, tree_path: str, value: str | bytes, *, input_type: str | None = None,
              ignore_mac: bool = False, idempotent: bool = False, decryption_order: str | None = None,
              output_type: str | None = None) -> bool:
    """Make ``tree_path`` hold the JSON ``value``; returns whether the file was written
    (``idempotent``: not when the path already holds that value). With an ``output_type`` other
    than the file's format, the file is rewritten in that format (as sops does)."""
    parts = _parts(tree_path, "set")
    try:
        node = parse_value(value)
    except InvalidSetFormat as exc:
        exc.args = (f"{path}: {tree_path}: {exc}",)
        raise
    return _rewrite(path, input_type, ignore_mac, decryption_order, idempotent,
                    lambda root: set_path(root, parts, node), output_type)


def unset_value(path: str, tree_path: str, *, input_type: str | None = None, ignore_mac: bool = False,
                idempotent: bool = False, decryption_order: str | None = None, output_type: str | None = None) -> bool:
    """Remove ``tree_path``; returns whether the file was written (``idempotent``: a path the
    file does not have is no error, and nothing is written)."""
    parts = _parts(tree_path, "unset")

    def change(root: Node) -> tuple[list[Edit], bool]:
        try:
            return unset_path(root, parts), True
        except KeyNotFound:
            if idempotent:
                return [], False
            raise

    return _rewrite(path, input_type, ignore_mac, decryption_order, idempotent, change, output_type)


def parse_value(value: str | bytes) -> Node:
    """A JSON value as a tree (exit 7, sops's InvalidSetFormat, when it is not JSON)."""
    import json

    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value  # as Go's decoder

    def no_constants(name: str) -> Any:
        raise ValueError(name)

    try:
        data = json.loads(text, parse_constant=no_constants, object_pairs_hook=dict)
    except (ValueError, RecursionError):
        raise InvalidSetFormat("the value is not valid JSON") from None
    return _node(data)


def _node(data: Any) -> Node:
    import math

    if isinstance(data, dict):
        return Mapping([(k, _node(v)) for k, v in data.items()])
    if isinstance(data, list):
        return Sequence([_node(v) for v in data])
    if isinstance(data, int) and not isinstance(data, bool) and not INT64_MIN <= data <= INT64_MAX:
        data = float(data)  # sops reads every JSON number as a float64
    if isinstance(data, float) and math.isinf(data):
        raise InvalidSetFormat("the value is not valid JSON (a number out of range)")
    return Scalar(data)


def _parts(tree_path: str, command: str) -> list[PathPart]:
    from .treepath import parse_path

    try:
        return parse_path(tree_path)
    except BadTreePath:
        raise InvalidSetFormat(f"invalid {command} path {tree_path!r}: expected [\"key\"] or [index] parts, "
                               """e.g. '["a"]["b"][0]'""") from None


def _editable(path: str, input_type: str | None) -> Store:
    store = get_store(input_type or store_name_for(path))
    if not hasattr(store, "apply_edits") and store.name != "binary":
        raise UsageError(f"{path}: a {store.name} file has no paths to set or unset")
    return store


def _binary_text(path: str, edits: list[Edit]) -> str:
    """A binary file's tree is one string, ``["data"]`` (as in sops, whose ``set`` of it
    replaces the file's contents); no other change can be written as binary."""
    from .edits import Replace

    edit = edits[0]
    if len(edits) == 1 and isinstance(edit, Replace) and list(edit.path) == ["data"] \
            and isinstance(edit.node, Scalar) and isinstance(edit.node.value, str):
        return edit.node.value
    raise UsageError(f'{path}: a binary file holds one string value, ["data"]: only it can be set')


def _rewrite(path: str, input_type: str | None, ignore_mac: bool, decryption_order: str | None,
             idempotent: bool, change: Change, output_type: str | None = None) -> bool:
    store = _editable(path, input_type)
    out_store = get_store(output_type) if output_type else store
    if not os.path.exists(path):
        raise InputError(f"cannot read {path}: no such file")  # sops: exit 2 here
    with locked(path) as f:
        opened = core.decrypt_text(store, decode(f.read()), ignore_mac, decryption_order, name=path)
        plain = opened.plaintext()
        try:
            parsed = store.parse(plain)  # (what a decrypt prints: sops can print YAML it cannot read)
            edits, changed = change(parsed.documents[0])
        except SopsyError as exc:  # key not found, a list where a mapping is...: name the file
            core.name_error(exc, path)
            raise
        if not changed and idempotent:
            return False
        if not edits:
            new_text = plain
        elif hasattr(store, "apply_edits"):
            new_text = store.apply_edits(parsed, edits)
        else:
            new_text = _binary_text(path, edits)
        if out_store is store:
            result = core.reencrypt(opened, new_text)
        else:  # sops writes the file in the output format: the same data key, values keep their IVs
            converted = core.convert(store.parse(new_text), out_store)
            result = core.encrypt_parsed(out_store, converted, core.EncryptOptions(key_groups=[]), opened.cipher,
                                         opened.metadata, opened.comments)
        from .commands import laid_out

        f.write(laid_out(result, out_store, True))
    return True

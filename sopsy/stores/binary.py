"""The binary store: a whole file as one ``data`` value, in sops's JSON envelope.

Encrypted form (as sops writes it): ``{"data": "ENC[...]", "sops": {...}}``, tab-indented by Go's
``json.Indent`` rules, with a trailing newline. The value is encrypted as ``type:str`` under the
AAD ``data:`` and the MAC is SHA-512 of the raw bytes, so sops and sopsy read each other's files.

The store works on ``str``: callers decode file bytes with ``("utf-8", "surrogateescape")`` and
encode the same way, so arbitrary bytes (keystores, DER certificates) survive; the value's
bytes for encryption and the MAC come from :func:`values.to_bytes`, which uses the same codec.

An encrypted JSON file whose tree is not one ``data`` value (sops writes one when JSON input
goes to a path without an extension, as Ansible's sops_encrypt does) is read and written as
JSON, as sops's binary store does: ``decrypt --output-type json`` then works on it.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import DumpError
from ..model import Mapping, Scalar
from ..values import to_bytes
from .json import STORE as JSON_STORE
from .json import go_quote, json_metadata

DATA_KEY = "data"


class BinaryFile:
    def __init__(self, documents: list[Mapping], metadata: dict[str, Any] | None) -> None:
        self.documents = documents
        self.metadata = metadata


def go_json_indent(value: Any, level: int = 0, indent: str = "\t") -> str:
    """``json.Marshal`` + ``json.Indent``: empty containers stay compact, ``": "`` separators."""
    pad = indent * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = ",\n".join(f"{pad}{go_quote(str(k))}: {go_json_indent(v, level + 1, indent)}"
                           for k, v in value.items())
        return "{\n" + inner + "\n" + indent * level + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        inner = ",\n".join(pad + go_json_indent(v, level + 1, indent) for v in value)
        return "[\n" + inner + "\n" + indent * level + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return go_quote(str(value))


class BinaryStore:
    name = "binary"

    def parse(self, text: str) -> BinaryFile:
        if text.lstrip().startswith("{"):
            try:
                loaded = json.loads(text)
            except (ValueError, RecursionError):
                loaded = None
            if isinstance(loaded, dict) and isinstance(loaded.get("sops"), dict):
                meta = loaded["sops"]
                data = loaded.get(DATA_KEY)
                if isinstance(data, str) and len(loaded) == 2:
                    return BinaryFile([Mapping([(DATA_KEY, Scalar(data))])], meta)
                return JSON_STORE.parse(text)  # type: ignore[return-value]
        return BinaryFile([Mapping([(DATA_KEY, Scalar(text))])], None)

    def layout_hints(self, parsed: Any) -> dict[str, Any]:
        if not isinstance(parsed, BinaryFile):
            return JSON_STORE.layout_hints(parsed)
        return {}  # the decrypted value is the file itself: nothing to remember

    def render(self, parsed: Any, metadata: dict[str, Any] | None,
               hints: dict[str, Any] | None = None) -> str:
        if not isinstance(parsed, BinaryFile):
            if metadata is None:  # a plaintext binary file must be one value, as with sops
                return self.emit(parsed.documents)
            return JSON_STORE.render(parsed, metadata, hints)
        doc = parsed.documents[0] if parsed.documents else Mapping()
        if metadata is not None:
            leaf = doc.get(DATA_KEY)
            if not isinstance(leaf, Scalar):
                raise DumpError("cannot write the file as binary: it has no 'data' value")
            data = leaf.enc if leaf.enc is not None else _text(leaf.value)
            return go_json_indent({DATA_KEY: data, "sops": json_metadata(metadata)}) + "\n"
        return self.emit([doc])

    def emit(self, documents: list[Mapping]) -> str:
        if len(documents) != 1 or [k for k, _ in documents[0].items if k is not None] != [DATA_KEY]:
            raise DumpError("cannot write the data as binary: only a file holding a single 'data' value can "
                            "be; give --output-type (yaml, json, dotenv, ini or tfvars)")
        leaf = documents[0].get(DATA_KEY)
        if not isinstance(leaf, Scalar):
            raise DumpError("cannot write the data as binary: 'data' is not a single value; give --output-type")
        return _text(leaf.value)

    def emit_value(self, value: Any) -> str:
        if isinstance(value, (dict, list, Mapping)):
            raise DumpError("cannot write a list or a mapping as binary; give --output-type")
        return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return to_bytes(value).decode("utf-8", "surrogateescape")


STORE = BinaryStore()

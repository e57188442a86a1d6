"""File formats ("stores"). Each is one module with a ``STORE`` object behind :class:`Store`.

A store parses text into a :class:`ParsedFile` (documents in the :mod:`sopsy.model`, the raw
metadata dict if the file has one) and writes a parsed file back *by splicing*: every leaf
whose state did not change keeps its exact source bytes, so a round trip is byte-exact.

Leaf state when rendering: ``leaf.enc`` set → write the ENC string; ``leaf.enc`` None → write
the plaintext ``leaf.value`` (in ``leaf.spelling`` when the leaf has one).
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ..errors import UsageError
from ..model import Mapping

# store name -> module holding STORE
STORES: dict[str, str] = {
    "yaml": "sopsy.stores.yaml",
    "json": "sopsy.stores.json",
    "dotenv": "sopsy.stores.dotenv",
    "tfvars": "sopsy.stores.tfvars",
    "ini": "sopsy.stores.ini",
    "binary": "sopsy.stores.binary",
}


class ParsedFile(Protocol):
    documents: list[Mapping]
    metadata: dict[str, Any] | None  # the raw sops metadata, None for a plaintext file


class Store(Protocol):
    name: str

    def parse(self, text: str) -> ParsedFile:
        """Parse plaintext or encrypted text. Raises InputError (one line) on bad input,
        AlreadyEncrypted never (the caller decides), NoDocument on empty input."""
        ...

    def render(self, parsed: ParsedFile, metadata: dict[str, Any] | None,
               hints: dict[str, Any] | None = None) -> str:
        """Write the file back: leaves per their state, the metadata block when given
        (replacing or inserting it), none when ``metadata`` is None."""
        ...

    def layout_hints(self, parsed: ParsedFile) -> dict[str, Any]:
        """After encryption: what a later decrypt needs to give back the exact source bytes that
        it cannot derive from the encrypted file, keyed by ENC IV. Stored encrypted."""
        ...

    def emit(self, documents: list[Mapping]) -> str:
        """A fresh file holding ``documents`` (format conversion; no source to preserve)."""
        ...

    def emit_value(self, value: Any) -> str:
        """One non-mapping value, for ``decrypt --extract``."""
        ...


def get_store(name: str) -> Store:
    module = STORES.get(name)
    if module is None:
        raise UsageError(f"unknown file type {name!r} (choose from {', '.join(STORES)})")
    return importlib.import_module(module).STORE  # type: ignore[no-any-return]


def store_name_for(path: str | None) -> str:
    """The store a file name asks for (sops's suffix rules, plus tfvars and dotenv names)."""
    if not path or path == "-":
        return "binary"
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".tfvars.json") or name.endswith(".json"):
        return "json"
    if name.endswith(".tfvars"):
        return "tfvars"
    if name.endswith(".env") or name == ".env" or name.startswith(".env."):
        return "dotenv"
    if name.endswith(".ini"):
        return "ini"
    return "binary"

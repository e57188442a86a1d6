"""File formats ("stores"). Each is one module with a ``STORE`` object behind :class:`Store`.

A store parses text into a :class:`ParsedFile` (documents in the :mod:`sopsy.model`, the raw
metadata dict if the file has one) and writes a parsed file back *by splicing*: every leaf
whose state did not change keeps its exact source bytes, so a round trip is byte-exact.

Leaf state when rendering: ``leaf.enc`` set → write the ENC string; ``leaf.enc`` None → write
the plaintext ``leaf.value`` (in ``leaf.spelling`` when the leaf has one).

A store may also offer ``fast_scan(data)`` (see :class:`FastScan`): whole-file decryption by
the native accelerator, for the common case of a file it can read exactly; anything else goes
through ``parse``/``render`` as usual.
"""

from __future__ import annotations

import importlib
import os

from ..errors import UsageError

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the blocks below
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any, Protocol

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


if TYPE_CHECKING:  # the interfaces, for the type checker only
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


class FastScan:
    """A file the native accelerator can decrypt whole: its raw metadata, and a function
    ``decrypt(data_key, suffix, encrypted_suffix, mac_only, mac_prefix)`` that returns the
    plaintext file and the MAC hex it computed, or None (the ordinary path must take over)."""

    __slots__ = ("metadata", "decrypt")

    def __init__(self, metadata: dict[str, Any],
                 decrypt: Callable[[bytes, bytes, bool, bool, bytes], tuple[bytes, str] | None]) -> None:
        self.metadata = metadata
        self.decrypt = decrypt


_native: ModuleType | None | bool = False


def native() -> ModuleType | None:
    """The compiled accelerator (sopsy/_native.c), or None where it was not built or
    ``SOPSY_NO_NATIVE`` is set (tests use that to run the pure-Python path)."""
    global _native
    if _native is False:
        try:
            if os.environ.get("SOPSY_NO_NATIVE"):
                raise ImportError
            from .. import _native as mod  # type: ignore[attr-defined]

            _native = mod
        except ImportError:
            _native = None
    return _native  # type: ignore[return-value]


def written_before(metadata: dict[str, Any] | None, release: tuple[int, int]) -> bool:
    """Whether a file's sops ``version`` field names a release before ``release`` (1.x and 2.x
    included): such files are laid out as older sops wrote them."""
    import re

    version = (metadata or {}).get("version")
    m = re.match(r"(\d+)\.(\d+)", str(version)) if version is not None else None
    return m is not None and (int(m.group(1)), int(m.group(2))) < release


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

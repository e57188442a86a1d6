"""The JSON store: sops-compatible JSON (and JSONC) that round-trips byte for byte.

Reading (:mod:`.scanner`): a small position-tracking scanner turns the text into the
:mod:`sopsy.model` tree, every node remembering where it sits in the source. The stdlib ``json``
module cannot be used for that: it gives no source positions (so nothing could be spliced back in
place), it turns ``1.0``/``1E2``/``12345678901234567890`` into Python numbers whose spelling is
lost, it merges duplicate keys, and it rejects comments.

Typing follows sops (reference §7.2): every number is a ``float`` leaf whose *spelling* is the
source text, so ``12345678901234567890`` is encrypted as written and comes back unchanged
(sops itself would read it as a double and give back ``12345678901234567000``); strings,
booleans and nulls are what they look like. Duplicate keys are kept, as sops keeps them.

JSONC: ``//`` and ``/* */`` comments (VS Code settings, devcontainer.json, tsconfig.json), and in
such a file trailing commas, are accepted. Comments are not data: they stay in place as
plaintext, are not encrypted and are not part of the MAC. Such a file is not JSON to the real
sops, which refuses it, both plain and encrypted; encrypting one says so on stderr. Everything
else that is not JSON is refused with its line and column: a trailing comma in a file without
comments, text that is not UTF-8, nesting deeper than sops can write (10,000 levels).

Writing (:mod:`.splice`) is splicing: each encrypted (or decrypted) leaf's token is replaced
and every other byte is kept. The metadata goes in as the last top-level key ``"sops": {...}``,
laid out in the file's own indentation, line ending and separators, and is taken out again
exactly on decrypt. A decrypted string is written in Go's escaping (:mod:`.emit`, as sops writes
it) unless a layout hint holds the source spelling (``\\u00e9``, ``\\/``, a literal ``<``...).

Editing (:mod:`.edit`): ``apply_edits`` applies :mod:`sopsy.edits` records as more splices.
"""

from __future__ import annotations

from .. import FastScan, native, written_before

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from ...edits import Edit
    from ...model import Mapping
    from .emit import go_number, go_quote, json_metadata
    from .scanner import ParsedJson

__all__ = ["STORE", "JsonStore", "ParsedJson", "go_number", "go_quote", "json_metadata"]
# the scanner, the writer and the emitter are loaded on first use: a decrypt the accelerator
# does whole needs none of them (~5 ms of every start)
_LAZY = {"ParsedJson": "scanner", "go_number": "emit", "go_quote": "emit", "json_metadata": "emit",
         "Layout": "emit"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


class JsonStore:
    name = "json"

    def parse(self, text: str) -> ParsedJson:
        from .scanner import parse

        return parse(text)

    def fast_scan(self, data: bytes) -> FastScan | None:
        """Plain JSON (no comments, no trailing commas, no escapes in keys) with one top-level
        "sops" object: the native accelerator decrypts it whole (see sopsy/_native.c)."""
        mod = native()
        member = mod.json_locate(data) if mod is not None else None
        if mod is None or member is None:
            return None
        import json

        try:
            metadata = json.loads(data[member[2]:member[3]])
        except (ValueError, RecursionError):
            return None

        def decrypt(key: bytes, suffix: bytes, encrypted_suffix: bool, mac_only: bool,
                    prefix: bytes) -> tuple[bytes, str] | None:
            return mod.json_decrypt(data, key, suffix, encrypted_suffix, mac_only, prefix, member)  # type: ignore[no-any-return]

        if not isinstance(metadata, dict) or (not data.endswith(b"\n") and written_before(metadata, (3, 10))) \
                or _sops_wrote_spaces(data, metadata):
            return None  # (see printed)
        return FastScan(metadata, decrypt)

    def render(self, parsed: Any, metadata: dict[str, Any] | None, hints: dict[str, Any] | None = None) -> str:
        from .scanner import ParsedJson
        from .splice import render

        if not isinstance(parsed, ParsedJson):
            raise TypeError("the JSON store renders only files it parsed")
        return render(parsed, metadata, hints)

    def printed(self, parsed: Any, hints: dict[str, Any]) -> str | None:
        """sops before 3.10 wrote JSON without a final newline; sops now prints one: so does
        ``decrypt`` for such a file. A file sops wrote with lines indented by spaces (hand-edited,
        or ``stores.json.indent``) is printed as sops prints it, one tab a level. None for every
        other file (a file sopsy wrote keeps its own layout)."""
        from .scanner import ParsedJson
        from .splice import render

        if hints or not isinstance(parsed, ParsedJson) or parsed.metadata is None:
            return None
        if _sops_wrote_spaces(parsed.text, parsed.metadata):
            from ..relayout import relaid

            return relaid(render(parsed, None, hints), "json", -1)
        if not written_before(parsed.metadata, (3, 10)):
            return None
        text = render(parsed, None, hints)
        return text if text.endswith("\n") else text + "\n"

    def apply_edits(self, parsed: Any, edits: Sequence[Edit], hints: dict[str, Any] | None = None) -> str:
        """The plaintext of ``parsed`` with ``edits`` applied (see :mod:`sopsy.edits`)."""
        from .scanner import ParsedJson

        if not isinstance(parsed, ParsedJson):
            raise TypeError("the JSON store edits only files it parsed")
        from .edit import apply_edits

        return apply_edits(parsed, edits, hints)

    def merge_view(self, parsed: Any) -> list[Mapping]:
        """The documents as the merge reads them: an object member's comments as items before
        it, so that they travel with it (:mod:`.view`)."""
        from .view import merge_view

        return merge_view(parsed)[0]

    def unmodelled_comments(self, text: str) -> list[str]:
        """The comments of a JSONC text the merge's view does not hold: a merge cannot carry
        them, so it compares them to say when their side's changes to them are not in the result."""
        from .scanner import has_comments

        if not has_comments(text):
            return []
        from .scanner import parse
        from .view import merge_view, unmodelled

        return unmodelled(text, merge_view(parse(text))[1])

    def layout_hints(self, parsed: Any) -> dict[str, Any]:
        from .scanner import ParsedJson
        from .splice import layout_hints

        return layout_hints(parsed) if isinstance(parsed, ParsedJson) else {}

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            from ...errors import NoDocument

            raise NoDocument("no document to write")
        from .emit import Layout

        # sops: json.Indent with one TAB per level, and a final newline
        return Layout().dump(documents[0], 0) + "\n"

    def emit_value(self, value: Any) -> str:
        from .emit import Layout

        return Layout().dump(value, 0)


STORE = JsonStore()


def _sops_wrote_spaces(text: str | bytes, metadata: dict[str, Any]) -> bool:
    """Whether sops (not sopsy: no data-key date of sopsy's) wrote the file and a line of it is
    indented by spaces, which sops's decrypt does not print (it indents by tabs)."""
    from ...core import DATAKEY_CREATED_FIELD

    if DATAKEY_CREATED_FIELD in metadata:
        return False
    return "\n " in text if isinstance(text, str) else b"\n " in text

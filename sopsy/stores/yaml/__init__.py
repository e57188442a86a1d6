"""The YAML store: byte-exact by construction.

sops re-emits YAML through go-yaml, which re-indents, moves comments, expands anchors and
respells numbers. sopsy never re-emits what it did not change: libyaml's event parser
(PyYAML's C binding) reports where every scalar starts and ends, and encryption splices each
value's ``ENC[...]`` into the original text in the value's own style (plain, quoted, or a
``|``/``>`` block whose header is kept). Decryption splices the plaintext back: derived from
the value and that style, or — where the source spelling cannot be derived (``0777``,
``"\\u00e9"``, folded lines, an alias) — from the encrypted ``sopsy_layout`` hint.

Anchors and aliases: sops expands an alias and decrypts each occurrence under its own path, so
an alias of an encrypted value cannot stay an alias. In the encrypted file such an alias is
written out as a flow-style copy encrypted under its own path; sopsy's decrypt turns it back
into the alias when the copy still equals the anchored node (else keeps the copy, so data is
never changed). See docs/yaml-format.md.

The package, by layer: :mod:`.refs` (where nodes sit in the text), :mod:`.reader` (events →
model, one method per event kind; :mod:`.sopsblock` reads the metadata and budgets aliases),
:mod:`.writer` (splicing leaves and the metadata block), :mod:`.hints` (layout hints),
:mod:`.goyaml` (what sops prints for a value), :mod:`.emit` (fresh text for metadata and format
conversion), :mod:`.edit` with :mod:`.extent`, :mod:`.compose` and :mod:`.anchors` (document
editing: where items sit, new text written as its neighbours are, aliases kept meaning what
they meant).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from ...errors import EncryptTreeError, InputError, NoDocument
from ...model import Mapping, to_data
from ...yamlscalar import NotResolvable
from .. import written_before
from .emit import emit_block, emit_document, sops_scalar
from .hints import layout_hints
from .reader import read
from .refs import CommentRef, CRef, DocInfo, ParsedYaml, SRef
from .writer import metadata_block, render, sops_made

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...edits import Edit

__all__ = ["STORE", "CRef", "CommentRef", "DocInfo", "ParsedYaml", "SRef", "YamlStore", "emit_block"]


class YamlStore:
    name = "yaml"

    def parse(self, text: str) -> ParsedYaml:
        parsed = ParsedYaml(text)
        try:
            read(parsed)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InputError(f"invalid YAML{where}: {exc.problem or exc.context}") from None
        except yaml.YAMLError as exc:
            raise InputError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else 'parse error'}") from None
        except NotResolvable as exc:
            raise InputError(f"invalid YAML value: {exc}") from None
        except UnicodeError:
            # bytes that are not UTF-8 arrive as surrogate escapes, which libyaml cannot take
            raise InputError("invalid YAML: the file is not valid UTF-8") from None
        if not parsed.docs:
            raise NoDocument("the file has no YAML document")
        if parsed.depth > 200:
            # every later walk of the tree (engine, writer) recurses once per level: give a
            # document libyaml accepts (up to 1,000 levels) the stack it needs
            import sys

            sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * parsed.depth + 1000))
        if parsed.nonstring_key:
            raise EncryptTreeError("the file has a mapping key that is not a string (sops supports only string keys)")
        return parsed

    def render(self, parsed: ParsedYaml, metadata: dict[str, Any] | None,
               hints: dict[str, Any] | None = None) -> str:
        return render(parsed, metadata, hints)

    def printed(self, parsed: ParsedYaml, hints: dict[str, Any]) -> str | None:
        """sops prints every file as go-yaml v3 emits it (step 4), whatever its own layout: a
        file sops before 3.7 wrote with yaml.v2 (block sequences flush with their key), one sops
        3.9+ wrote with another ``stores.yaml.indent``, one edited by hand. So does ``decrypt``
        for a file sops wrote (edits keep its layout). None for a file sopsy wrote (it keeps its
        own layout)."""
        if hints:
            return None
        if written_before(parsed.metadata, (3, 7)):
            return "---\n".join(emit_document(d) for d in parsed.documents)
        if not _sops_wrote(parsed) or not _unlike_go_yaml(parsed):
            return None  # (a file as sops wrote it prints as its splice: the same bytes, faster)
        from ..relayout import relaid

        return relaid(render(parsed, None, hints), "yaml", 4)

    def layout_hints(self, parsed: ParsedYaml) -> dict[str, Any]:
        return layout_hints(parsed)

    def apply_edits(self, parsed: ParsedYaml, edits: Sequence[Edit]) -> str:
        """Edits applied as splices of the text (see :mod:`.edit`)."""
        from .edit import apply_edits

        return apply_edits(parsed, list(edits))

    def metadata_block(self, metadata: dict[str, Any], column: int = 0) -> str:
        return metadata_block(metadata, column)

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            return "{}\n"
        return "---\n".join(emit_block(to_data(d), 0, 4, sops_scalar) or "{}\n" for d in documents)

    def emit_value(self, value: Any) -> str:
        if isinstance(value, (dict, list)):
            return emit_block(value, 0, 4, sops_scalar) or ("{}\n" if isinstance(value, dict) else "[]\n")
        return sops_scalar(value, 0, 4) + "\n"


STORE = YamlStore()


def _unlike_go_yaml(parsed: ParsedYaml) -> bool:
    """Whether the data's layout is one go-yaml v3 does not write (so sops prints the file
    otherwise): hand edits (blank lines, a document marker, CRLF), several documents, or an
    indentation step or sequence offset other than 4 (``stores.yaml.indent``)."""
    from .compose import indent_habits

    if len(parsed.docs) != 1:
        return True
    text, region = parsed.text, parsed.docs[0].sops_region
    end = region[0] if region else len(text)
    if text.startswith(("---", "%")) or any(text.find(mark, 0, end) >= 0 for mark in ("\n\n", "\n---", "\r")):
        return True
    return any(found not in (None, 4) for found in indent_habits(parsed, parsed.docs[0]))


def _sops_wrote(parsed: ParsedYaml) -> bool:
    """Whether sops wrote the file: sops prints such a file as go-yaml emits it, whatever hand
    edits or ``stores.yaml.indent`` did to its layout."""
    return parsed.metadata is not None and sops_made(parsed.metadata)

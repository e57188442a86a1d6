"""Terraform variable files (``.tfvars``, ``.auto.tfvars``): a format-preserving HCL scanner.

A tfvars file is an HCL body of attribute assignments. Every literal leaf (string, heredoc,
number, bool) is encrypted in place as a quoted HCL string ``"ENC[...]"``, so Terraform and
python-hcl2 still parse the encrypted file; comments, layout and ``null`` stay as they are. The
sops metadata is one last top-level attribute, ``sops = { ... }``. See docs/tfvars-format.md.

The package: :mod:`.scanner` reads the text (hand-written; its docstring says why),
:mod:`.emitter` writes values and fresh blocks, :mod:`.edit` applies document edits, and this
module is the store that splices leaves and metadata back into the source.

Values (sops type tags): an integral number literal is an ``int`` (a float when it does not fit
in 64 bits), any other number a ``float``, ``true``/``false`` a ``bool``. A string is a ``str``
holding the string as Terraform's JSON syntax would hold it: backslash escapes decoded, template
sequences (``${...}``, ``%{...}``, and the escapes ``$${``, ``%%{``) kept verbatim. Any other
expression ``E`` (``1 + 2``, ``var.x``, a ``for``) is the string ``${E}``, which Terraform evaluates
to the same value as ``E`` in both syntaxes; it is encrypted too, never left visible.
"""

from __future__ import annotations

from typing import Any

from ...cipher import is_encrypted_value, iv_of
from ...errors import DumpError
from ...model import Comment, Mapping, Node, Scalar, Sequence
from ...values import same_value
from .emitter import IDENT_FULL, derive, emit_node, from_plain, meta_block, parse_expression
from .scanner import Parser, Ref


class TfvarsFile:
    def __init__(self, text: str, documents: list[Mapping], metadata: dict[str, Any] | None,
                 leaves: list[tuple[Scalar, Ref]] | None = None, meta_span: tuple[int, int] | None = None) -> None:
        self.text = text
        self.documents = documents
        self.metadata = metadata
        self.leaves = leaves if leaves is not None else []
        self.meta_span = meta_span  # (start of the `sops` name, end of its value)


# -- the store -----------------------------------------------------------------------------------


class TfvarsStore:
    name = "tfvars"

    def parse(self, text: str) -> TfvarsFile:
        p = Parser(text)  # an empty file is an empty body, as for terraform (and `unset` of the last key)
        doc, meta, span = p.body()
        return TfvarsFile(text, [doc], meta, p.leaves, span)

    def _leaf_text(self, leaf: Scalar, ref: Ref, hints: dict[str, Any] | None) -> str | None:
        """New source text for a leaf, or None to keep the original bytes."""
        if leaf.enc is not None:
            if leaf.enc == "":
                return None  # an empty string: its source already says no more than `""`
            return '"' + leaf.enc + '"'
        if same_value(leaf.value, ref.orig):
            return None
        if hints and isinstance(ref.orig, str) and is_encrypted_value(ref.orig):
            hint = hints.get(iv_of(ref.orig) or "")
            if isinstance(hint, str):
                back = parse_expression(hint)
                if back is not None and same_value(back, leaf.value):
                    return hint
        return derive(leaf.value, leaf.spelling)

    def render(self, parsed: Any, metadata: dict[str, Any] | None, hints: dict[str, Any] | None = None) -> str:
        assert isinstance(parsed, TfvarsFile)
        if parsed.documents and _has_leaf_comment(parsed.documents[0]):
            raise DumpError("a value decrypted to a sops comment, which a tfvars file cannot hold in place")
        text = parsed.text
        edits: list[tuple[int, int, str]] = []
        for leaf, ref in parsed.leaves:
            new = self._leaf_text(leaf, ref, hints)
            if new is not None:
                edits.append((ref.start, ref.end, new))
        span = parsed.meta_span
        if span is not None:
            ms, me = span
            if metadata is not None:
                edits.append((ms, me, meta_block(metadata)))
            elif ms > 0 and text[ms - 1] == "\n" and text[me:] == "\n":
                edits.append((ms - 1, me + 1, ""))  # the block sopsy appended, with its separator
            else:
                edits.append((ms, me + 1 if text.startswith("\n", me) else me, ""))
        edits.sort(key=lambda e: e[0])
        out: list[str] = []
        pos = 0
        for start, end, new in edits:
            out.append(text[pos:start])
            out.append(new)
            pos = end
        out.append(text[pos:])
        if span is None and metadata is not None:
            # One newline always separates the body from the block, so decrypt can take both off.
            out.append("\n" + meta_block(metadata) + "\n")
        return "".join(out)

    def layout_hints(self, parsed: Any) -> dict[str, Any]:
        assert isinstance(parsed, TfvarsFile)
        hints: dict[str, Any] = {}
        text = parsed.text
        for leaf, ref in parsed.leaves:
            if not leaf.enc:
                continue
            src = text[ref.start:ref.end]
            try:
                derived = derive(leaf.value, leaf.spelling)
            except DumpError:
                derived = None
            if derived != src:
                iv = iv_of(leaf.enc)
                if iv is not None:
                    hints[iv] = src
        return hints

    def merge_view(self, parsed: Any) -> list[Mapping]:
        """The documents as the merge reads them: each comment's text with its mark (``# c``,
        ``// c``, ``/* c */``), so that a comment a merge moves or adds keeps the mark it was
        written with (new containers, the same leaves)."""
        from .emitter import marked_view

        assert isinstance(parsed, TfvarsFile)
        return [marked_view(d, parsed.text) for d in parsed.documents]  # type: ignore[misc]

    def apply_edits(self, parsed: Any, edits: Any) -> str:
        """Document edits as splices of the HCL source (see :mod:`.edit`)."""
        from .edit import apply_edits

        assert isinstance(parsed, TfvarsFile)
        return apply_edits(parsed, edits)

    def emit(self, documents: list[Mapping]) -> str:
        if not documents:
            return ""
        lines: list[str] = []
        for k, v in documents[0].items:
            if k is None:
                if isinstance(v, Comment):
                    lines.extend(f"#{t}" for t in v.text.split("\n"))
                continue
            if not IDENT_FULL.match(k):
                raise DumpError("a top-level key is not a valid tfvars attribute name")
            lines.append(f"{k} = {emit_node(v, '', literal=False)}")
        return "\n".join(lines) + "\n" if lines else ""

    def emit_value(self, value: Any) -> str:
        return emit_node(from_plain(value), "", literal=False) + "\n"


def _has_leaf_comment(node: Node) -> bool:
    """Whether the core turned a leaf into a Comment (its plaintext had the sops `comment` tag)."""
    stack = [node]
    while stack:
        n = stack.pop()
        items = n.items if isinstance(n, Mapping | Sequence) else ()
        for item in items:
            v = item[1] if isinstance(item, tuple) else item
            if isinstance(v, Comment):
                if isinstance(v.ref, Ref):
                    return True
            elif not isinstance(v, Scalar):
                stack.append(v)
    return False


STORE = TfvarsStore()

"""sops's ``--indent N``: the output written afresh, laid out as sops lays it out with that
indentation, instead of in the file's own layout (sopsy's default, byte-exact).

sops re-emits every YAML and JSON file it writes; ``--indent`` only sets the step (go-yaml's
``SetIndent``, Go's ``json.Indent``). Here the text sopsy would write (plaintext or encrypted) is
parsed again and emitted by the stores' fresh-text emitters with that step: for an encrypted file
the ``sops`` metadata goes in as the last key, as sops writes it, without sopsy's layout hint
(the layout it describes is gone; a later decrypt prints sops's layout, as sops would).
Other formats have no indentation: their text is returned as it is.
"""

from __future__ import annotations

from typing import Any

from ..errors import DumpError
from . import get_store

_ENC = "ENC[AES256_GCM,"
TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Comment, Node


def relaid(text: str, store_name: str, indent: int) -> str:
    """``text``, a whole YAML or JSON file as sopsy writes it, re-emitted with ``indent``. For
    the binary store (whose encrypted file is JSON) ``text`` is taken as that JSON."""
    if store_name == "yaml":
        return _yaml(text, indent)
    if store_name in ("json", "binary"):
        return _json(text, indent)
    return text


def _metadata(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    from ..core import LAYOUT_FIELD

    if metadata is None:
        return None
    return {k: v for k, v in metadata.items() if k != LAYOUT_FIELD}


def _yaml(text: str, indent: int) -> str:
    if indent < 0:  # sops: "YAML Negative indentation not accepted", exit 4
        raise DumpError(f"--indent {indent}: YAML cannot be indented by a negative number of spaces")
    from ..model import Mapping, from_data, iter_leaves
    from .yaml.emit import emit_document, go_step

    step = go_step(indent or 4)  # sops turns 0 (unset) into 4
    parsed = get_store("yaml").parse(text)
    metadata = _metadata(parsed.metadata)
    docs = []
    for doc in parsed.documents:
        _hoist_comments(doc, text)
        for leaf in iter_leaves(doc):
            if isinstance(leaf.value, str) and leaf.value.startswith(_ENC):
                leaf.value = leaf.value.strip()  # sopsy keeps a block scalar's style: its ENC string ends "\n"
        if metadata is not None and isinstance(doc, Mapping):
            doc = Mapping([*doc.items, ("sops", from_data(metadata))])
        docs.append(emit_document(doc, step))
    return "---\n".join(docs)


def _column(text: str, pos: int) -> int:
    return pos - (text.rfind("\n", 0, pos) + 1)


def _hoist_comments(node: Node, text: str) -> list[Comment]:
    """Comment lines that end a block collection but stand left of its items belong to the
    next item of an enclosing one (go-yaml reads them as its head comment): they move there,
    so that they are written at that level. Returns those of ``node`` itself, for its parent."""
    from ..model import Comment, Mapping, Sequence

    if not isinstance(node, (Mapping, Sequence)) or node.ref is None or getattr(node.ref, "flow", True):
        return []
    is_map = isinstance(node, Mapping)
    items: list[Any] = []
    item: Any
    for item in node.items:
        items.append(item)
        for c in _hoist_comments(item[1] if is_map else item, text):
            items.append((None, c) if is_map else c)
    column = _column(text, node.ref.start)
    tail: list[Comment] = []
    while items:
        last = items[-1][1] if is_map else items[-1]
        ref = getattr(last, "ref", None)
        if not isinstance(last, Comment) or ref is None or _column(text, ref.start - 1) >= column:
            break
        tail.insert(0, last)
        items.pop()
    node.items = items
    return tail


def _json(text: str, indent: int) -> str:
    if indent < -1:  # sops: "JSON Indentation parameter smaller than -1 is not accepted", exit 4
        raise DumpError(f"--indent {indent}: JSON indentation must be -1 (a tab) or more")
    from ..model import Mapping
    from .json.emit import Layout, Raw, json_metadata

    parsed = get_store("json").parse(text)
    doc: Any = parsed.documents[0] if parsed.documents else Mapping()
    metadata = _metadata(parsed.metadata)
    if isinstance(doc, Mapping):
        pairs: list[tuple[str, Any]] = [(k, v) for k, v in doc.items if k is not None]
        if metadata is not None:
            pairs.append(("sops", json_metadata(metadata)))
        doc = Raw({}, pairs)
    return Layout(unit="\t" if indent == -1 else " " * indent).dump(doc, 0) + "\n"

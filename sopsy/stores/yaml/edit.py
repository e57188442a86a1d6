"""Document editing for YAML (:mod:`sopsy.edits`): each edit becomes a splice of the source text.

Every edit of a batch is looked up in the document as parsed, then turned into splices:

* Replace: the old value's text gives way to the new one, written by :mod:`.compose` for its
  place (after ``key:``, after ``- ``, or inside a flow collection).
* Delete: a block item goes with its own lines (:mod:`.extent`), a blank line that set it apart
  with it; a flow item with one separator. A collection left empty becomes ``{}``/``[]``.
* Insert: new lines after the named sibling's lines (or before the first item), with a blank
  line where the collection sets its items apart; into a flow collection after a separator.
  An empty ``{}``/``[]`` in a block document becomes a block collection.

Two things the text needs beyond the tree: an edit inside an alias (``*name`` stands for a copy
of the anchored node) writes the edited copy in place of the alias; and an anchor whose
definition an edit removes is defined again at its first remaining alias, so every alias keeps
meaning what it meant.
"""

from __future__ import annotations

from typing import Any

from ...edits import Delete, Edit, Insert, Replace, apply_to_tree, find, path_text
from ...errors import UsageError
from ...model import Mapping, Node, Scalar, Sequence, comment_node
from .anchors import aliases_of, anchor_of, anchors_in, parent_of, same_edits
from .compose import (
    Style,
    block_body,
    document_style,
    flow_text,
    key_text,
    mapping_item,
    restyled,
    sequence_item,
    value_after_key,
    value_at,
)
from .extent import (
    after_line,
    block_extent,
    colon_after_key,
    flow_bounds,
    flow_separator,
    is_blank,
    item_pos,
    items_of,
    keeps_trailing_lines,
    line_start,
    value_end,
    value_start,
)
from .refs import CRef, DocInfo, ParsedYaml, without_comments
from .writer import Splice, splice


def apply_edits(parsed: ParsedYaml, edits: list[Edit]) -> str:
    return _Editor(parsed).run(edits)


class _Target:
    """An edit looked up in the document as parsed."""

    __slots__ = ("edit", "doc", "chain", "path")

    def __init__(self, edit: Edit, doc: DocInfo, chain: list[Node], path: tuple[Any, ...]) -> None:
        self.edit = edit
        self.doc = doc
        self.chain = chain  # root ... the node the edit names (an Insert: its parent)
        self.path = path


class _Editor:
    def __init__(self, parsed: ParsedYaml) -> None:
        self.parsed = parsed
        self.text = parsed.text
        self.splices: list[Splice] = []
        self.styles: dict[int, Style] = {}
        self.removed: list[tuple[DocInfo, int, int, Node]] = []  # (doc, start, end, node removed)
        self.alias_text: dict[int, str] = {}  # an alias rewritten: id(node) -> the splice's text

    def run(self, edits: list[Edit]) -> str:
        targets = [self._resolve(e) for e in edits]
        direct = [t for t in targets if _alias_index(t) is None]
        for doc, alias, rel in self._aliases_to_rewrite(targets).values():
            parent, part = parent_of(doc, alias)
            copy = without_comments(alias, None)
            apply_to_tree(copy, rel)
            self._replace(doc, parent, part, alias, copy)
        self._containers(direct)
        for t in direct:
            if isinstance(t.edit, Replace):
                self._replace(t.doc, t.chain[-2], t.path[-1], t.chain[-1], t.edit.node, like=t.edit.like)
        self._rescue_anchors()
        first_nl = self.text.find("\n")
        nl = "\r\n" if first_nl > 0 and self.text[first_nl - 1] == "\r" else "\n"
        if nl != "\n":
            self.splices = [(s, e, r.replace("\r\n", "\n").replace("\n", nl)) for s, e, r in self.splices]
        return splice(self.text, self.splices)

    def _aliases_to_rewrite(self, targets: list[_Target]) -> dict[int, tuple[DocInfo, Node, list[Edit]]]:
        """The aliases written out as edited copies: those edits reach into, and those whose
        anchored node an edit changes inside (the alias keeps its data: an edit changes one
        path), unless the alias gets the very same edits (it still equals its anchor then)."""
        in_alias: dict[int, tuple[DocInfo, Node, list[Edit]]] = {}
        anchored: dict[int, tuple[DocInfo, Node, list[Edit]]] = {}
        for t in targets:
            at = _alias_index(t)
            if at is not None:
                alias = t.chain[at]
                in_alias.setdefault(id(alias), (t.doc, alias, []))[2].append(_relative(t.edit, at))
                continue
            last = len(t.chain) - (0 if isinstance(t.edit, Insert) else 1)
            for i in range(1, last):
                if anchor_of(self.text, t.chain[i]):
                    anchored.setdefault(id(t.chain[i]), (t.doc, t.chain[i], []))[2].append(_relative(t.edit, i))
        for doc, node, rel in anchored.values():
            name = anchor_of(self.text, node)
            assert name is not None
            for copy in aliases_of(self.text, doc, name, node.ref.start):
                entry = in_alias.get(id(copy))
                if entry is None:
                    in_alias[id(copy)] = (doc, copy, [])
                elif same_edits(entry[2], rel):
                    del in_alias[id(copy)]
        # an alias that a Replace or Delete of the batch removes whole (itself or an ancestor) is
        # not written out: that edit's own splice covers it
        gone = [(t.chain[-1].ref.start, t.chain[-1].ref.end) for t in targets
                if not isinstance(t.edit, Insert) and _alias_index(t) is None and t.chain[-1].ref is not None]
        return {k: v for k, v in in_alias.items()
                if not any(start <= v[1].ref.start < end for start, end in gone)}

    # -- looking edits up -------------------------------------------------------------------

    def _resolve(self, edit: Edit) -> _Target:
        docs = [d for d in self.parsed.docs if d.root is not None]
        if not 0 <= edit.doc < len(docs):
            raise UsageError(f"the file has no document {edit.doc}")
        doc = docs[edit.doc]
        assert doc.root is not None
        if isinstance(edit, Insert):
            path = tuple(edit.parent)
            chain = find(doc.root, path)
            parent = chain[-1]
            where = path_text(path)
            if isinstance(parent, Mapping) != isinstance(edit.key, str) or not isinstance(parent, (Mapping, Sequence)):
                raise UsageError(f"{where or 'the document'}: an insert needs a key in a mapping, none in a sequence")
            if edit.after is not None:
                find(parent, [edit.after])
            if isinstance(parent, Mapping) and edit.key in set(parent.keys()):
                raise UsageError(f"{path_text((*path, edit.key or ''))} is already in the document")
            return _Target(edit, doc, chain, path)
        path = tuple(edit.path)
        if not path:
            raise UsageError("an edit needs a path inside the document")
        return _Target(edit, doc, find(doc.root, path), path)

    def _style(self, doc: DocInfo) -> Style:
        style = self.styles.get(id(doc))
        if style is None:
            style = self.styles[id(doc)] = document_style(self.parsed, doc)
        return style

    # -- collections: deletes and inserts, grouped per collection ---------------------------

    def _containers(self, targets: list[_Target]) -> None:
        groups: dict[int, tuple[DocInfo, list[Node], tuple[Any, ...], list[_Target]]] = {}
        for t in targets:
            if isinstance(t.edit, Insert):
                groups.setdefault(id(t.chain[-1]), (t.doc, t.chain, t.path, []))[3].append(t)
            elif isinstance(t.edit, Delete):
                groups.setdefault(id(t.chain[-2]), (t.doc, t.chain[:-1], t.path[:-1], []))[3].append(t)
        # deepest first: where an inner and an outer collection end at one point, the inner
        # collection's new items must come before the outer one's
        for doc, chain, path, group in sorted(groups.values(), key=lambda g: -len(g[1])):
            self._container(doc, chain, path, group)

    def _container(self, doc: DocInfo, chain: list[Node], path: tuple[Any, ...], group: list[_Target]) -> None:
        parent = chain[-1]
        items = items_of(parent)
        deleted = {id(t.chain[-1]) for t in group if isinstance(t.edit, Delete)}
        inserts = [t.edit for t in group if isinstance(t.edit, Insert)]
        kept = [it for it in items if id(it[1]) not in deleted]
        flow = isinstance(parent.ref, CRef) and parent.ref.flow
        if not kept:  # emptied, or an empty collection taking items: written anew as a whole
            new = _collection(parent, inserts)
            in_flow = (flow and bool(items)) or self._flow_context(chain)
            self._replace_container(doc, chain, path, new, in_flow)
            return
        for t in group:
            if isinstance(t.edit, Delete):
                self._delete(doc, parent, t.path[-1], t.chain[-1], kept, items, flow)
        for e in inserts:
            self._insert(doc, parent, e, deleted, kept, items, flow)

    def _flow_context(self, chain: list[Node]) -> bool:
        """Whether a collection sits inside a flow collection (its new items must be flow)."""
        return any(isinstance(n.ref, CRef) and n.ref.flow for n in chain[:-1])

    def _replace_container(self, doc: DocInfo, chain: list[Node], path: tuple[Any, ...], new: Node,
                           flow: bool) -> None:
        if len(chain) > 1:
            self._replace(doc, chain[-2], path[-1], chain[-1], new, flow, emptied=bool(items_of(chain[-1])))
            return
        root = chain[0]  # the document itself
        ref = root.ref
        assert isinstance(ref, CRef)
        start = ref.start if ref.flow or not items_of(root) else self._first_item_start(root)
        end = ref.end if ref.flow or not items_of(root) else value_end(self.text, root)
        tail = ""
        if not ref.flow and items_of(root):  # every item goes: with its own comments, as a deleted item's go
            (k0, v0), (k1, v1) = items_of(root)[0], items_of(root)[-1]
            first, last = block_extent(self.text, root, k0, v0), block_extent(self.text, root, k1, v1)
            if first.own_line and self.text[last.end - 1:last.end] == "\n":
                start, end, tail = first.start, last.end, "\n"
        if not items_of(new):
            rep = "{}"
        elif flow:
            rep = flow_text(new, self._style(doc))
        else:
            rep = "\n".join(block_body(new, doc.column, self._style(doc)))[doc.column:]
        self._splice(doc, start, end, rep + tail, root)

    def _first_item_start(self, root: Node) -> int:
        k, v = items_of(root)[0]
        return item_pos(self.text, root, k, v)

    # -- delete -----------------------------------------------------------------------------

    def _delete(self, doc: DocInfo, parent: Node, part: Any, node: Node, kept: list[Any], items: list[Any],
                flow: bool) -> None:
        text = self.text
        key = part if isinstance(parent, Mapping) else None
        if flow:
            self._delete_flow(doc, parent, key, node, kept, items)
            return
        ext = block_extent(text, parent, key, node)
        if not ext.own_line:  # the first item right after "- ": the next kept one moves up
            kept_ids = {id(v) for _, v in kept}
            nxt = next(it for it in items if id(it[1]) in kept_ids)
            nxt_pos = item_pos(text, parent, nxt[0], nxt[1])
            self._splice(doc, ext.pos, nxt_pos, "", node)
            return
        start, end = ext.start, ext.end
        i = [id(v) for _, v in items].index(id(node))
        # blank lines a `|+` block before it keeps are its value, not a separator
        floor = block_extent(text, parent, items[i - 1][0], items[i - 1][1]).end if i else 0
        before_blank = start > floor and is_blank(text[line_start(text, start - 1):start])
        if i and keeps_trailing_lines(text, items[i - 1][1]):
            while end < len(text) and is_blank(text[end:after_line(text, end + 1)]):
                end = after_line(text, end + 1)  # else they would join the `|+` value before it
        elif before_blank and end < len(text) and is_blank(text[end:after_line(text, end + 1)]):
            end = after_line(text, end + 1)  # set apart on both sides: one blank line stays
        elif before_blank and i == len(items) - 1:
            while start > floor and is_blank(text[line_start(text, start - 1):start]):
                start = line_start(text, start - 1)  # the last item: its separating blank goes too
        self._splice(doc, start, end, "", node)

    def _delete_flow(self, doc: DocInfo, parent: Node, key: str | None, node: Node, kept: list[Any],
                     items: list[Any]) -> None:
        text = self.text
        ids = [id(v) for _, v in items]
        i = ids.index(id(node))
        start, end = flow_bounds(text, parent, key, node)
        kept_ids = {id(v) for _, v in kept}
        if any(x in kept_ids for x in ids[i + 1:]):  # a kept item follows: take the separator after
            nk, nv = items[i + 1]
            end = item_pos(text, parent, nk, nv)
        else:  # the last kept item comes before: take the separator before
            prev = max(j for j in range(i) if ids[j] in kept_ids)
            start = value_end(text, items[prev][1])
        self._splice(doc, start, end, "", node)

    # -- insert -----------------------------------------------------------------------------

    def _insert(self, doc: DocInfo, parent: Node, e: Insert, deleted: set[int], kept: list[Any],
                items: list[Any], flow: bool) -> None:
        text = self.text
        style = self._style(doc)
        is_map = isinstance(parent, Mapping)
        anchor = find(parent, [e.after])[-1] if e.after is not None else None
        akey = e.after if is_map and isinstance(e.after, str) else None
        if flow:
            item = (key_text(e.key or "", style) + ": " if is_map else "") + flow_text(e.node, style)
            sep = flow_separator(text, parent)
            if anchor is not None and id(anchor) in deleted:  # after the nearest kept item before it
                ids = [id(v) for _, v in items]
                before = [v for k, v in items[:ids.index(id(anchor))] if id(v) not in deleted]
                anchor = before[-1] if before else None
            if anchor is None:
                k0, v0 = kept[0]
                at = item_pos(text, parent, k0, v0)
                self._splice(doc, at, at, item + sep)
            else:
                at = value_end(text, anchor)
                self._splice(doc, at, at, sep + item)
            return
        first_key, first = items[0]
        col = block_extent(text, parent, first_key, first).column
        new_flow = self._prefers_flow(parent, e.node)
        lines = (mapping_item(e.key or "", e.node, col, style, new_flow, e.comments) if is_map
                 else sequence_item(e.node, col, style, new_flow, e.comments))
        blank = "\n" if _set_apart(text, parent, items) else ""
        if anchor is None:
            ext = block_extent(text, parent, first_key, first)
            if not ext.own_line:  # on the "- " line: the new item takes it, the old one moves down
                self._splice(doc, ext.pos, ext.pos, "\n".join(lines)[col:] + "\n" + " " * col)
            else:
                self._splice(doc, ext.start, ext.start, "\n".join(lines) + "\n" + blank)
            return
        ext = block_extent(text, parent, akey, anchor)
        if id(anchor) in deleted:  # where the deleted item was
            if ext.own_line:
                self._splice(doc, ext.start, ext.start, "\n".join(lines) + "\n" + blank)
            else:
                self._splice(doc, ext.pos, ext.pos, "\n".join(lines)[col:] + "\n" + " " * col)
            return
        new = blank + "\n".join(lines) + "\n"
        at = ext.end
        if at == len(text) and not text.endswith("\n"):
            new = "\n" + new[:-1]
        self._splice(doc, at, at, new)

    def _prefers_flow(self, parent: Node, node: Node) -> bool:
        """A new collection is written in flow style where its siblings of the same kind are
        (short lists are often flow in a block document, mappings rarely)."""
        if not isinstance(node, (Mapping, Sequence)):
            return False
        for _, v in items_of(parent):
            if type(v) is type(node) and isinstance(v.ref, CRef) and not v.ref.alias and items_of(v):
                return v.ref.flow
        return False

    # -- replace ----------------------------------------------------------------------------

    def _replace(self, doc: DocInfo, parent: Node, part: Any, old: Node, new: Node, flow: bool = False,
                 like: Node | None = None, emptied: bool = False) -> None:
        text = self.text
        style = self._style(doc)
        pref = flow or self._prefers_flow(parent, new)
        start, end = value_start(old), value_end(text, old)
        first = None  # every item of a block collection goes: their comments go with them
        if emptied and not (isinstance(old.ref, CRef) and old.ref.flow):
            line_end = after_line(text, end) - (1 if text[end:].find("\n") >= 0 else 0)
            if text[end:line_end].strip(" \t\r").startswith("#"):  # the last item's comment
                end = line_end - (1 if text[end:line_end].endswith("\r") else 0)
            k0, v0 = items_of(old)[0]
            first = block_extent(text, old, k0, v0)
        if isinstance(parent.ref, CRef) and parent.ref.flow:
            self._splice(doc, start, end, restyled(old, new, 0, True, like) or flow_text(new, style), old)
            return
        if isinstance(parent, Sequence):
            col = start - line_start(text, start)
            self._splice(doc, start, end, restyled(old, new, col, pref, like) or value_at(new, col, style, pref), old)
            return
        key_pos = item_pos(text, parent, part, old)
        key_col = key_pos - line_start(text, key_pos)
        colon = colon_after_key(text, key_pos)
        kept = restyled(old, new, key_col + style.step, pref, like)
        rep = " " + kept if kept is not None else value_after_key(new, key_col, style, pref)
        if isinstance(old, Scalar) and start == end:  # an empty value: all goes after the colon
            self._splice(doc, colon, colon, rep, old)
            return
        inline_old = "\n" not in text[colon:start]
        if not inline_old and rep.startswith("\n"):
            # block for block: the key line stays as it is (the first item's comment lines go too)
            start = first.start if first is not None and first.own_line else line_start(text, start)
            rep = rep[1:]
        elif not (inline_old and rep.startswith(" ")):
            start = colon
        else:
            rep = rep[1:]
        self._splice(doc, start, end, rep, old)

    # -- aliases and anchors ----------------------------------------------------------------

    def _rescue_anchors(self) -> None:
        """An anchor whose definition went away is defined again at its first remaining alias."""
        for doc, start, end, node in list(self.removed):
            for name in anchors_in(self.text, node):
                self._rescue(doc, name, start, end)

    def _rescue(self, doc: DocInfo, name: str, start: int, end: int) -> None:
        for copy in aliases_of(self.text, doc, name, end):
            ref = copy.ref
            if any(s <= ref.start < e for _, s, e, _ in self.removed):
                continue
            style = self._style(doc)
            text = self.alias_text.get(id(copy))
            rep = "&" + name + " " + (text if text is not None else flow_text(copy, style))
            self.splices = [sp for sp in self.splices if sp[:2] != (ref.start, ref.end)]
            self.splices.append((ref.start, ref.end, rep))
            return

    def _splice(self, doc: DocInfo, start: int, end: int, text: str, removed: Node | None = None) -> None:
        self.splices.append((start, end, text))
        if removed is not None:
            self.removed.append((doc, start, end, removed))
            if isinstance(removed.ref, CRef) and removed.ref.alias:
                self.alias_text[id(removed)] = text


def _alias_index(t: _Target) -> int | None:
    """Where the chain enters an alias copy before the node the edit changes, if it does."""
    last = len(t.chain) - (0 if isinstance(t.edit, Insert) else 1)
    for i, n in enumerate(t.chain[:last]):
        if i and (n.ref is None or isinstance(n.ref, CRef) and n.ref.alias):
            return i
    return None


def _relative(edit: Edit, at: int) -> Edit:
    """``edit`` with its path starting at the alias it reaches through (``at``: the alias's
    depth in the path)."""
    if isinstance(edit, Insert):
        return Insert(tuple(edit.parent)[at:], edit.after, edit.key, edit.node, edit.comments)
    rel = tuple(edit.path)[at:]
    return Replace(rel, edit.node, like=edit.like) if isinstance(edit, Replace) else Delete(rel)


def _collection(parent: Node, inserts: list[Insert]) -> Node:
    """A new collection of the same kind as ``parent`` holding the inserted items, in order,
    with their comments."""
    if isinstance(parent, Mapping):
        m = Mapping()
        for e in inserts:
            m.items += [(None, comment_node(c)) for c in e.comments]
            m.items.append((e.key, e.node))
        return m
    s = Sequence()
    for e in inserts:
        s.items += [comment_node(c) for c in e.comments]
        s.items.append(e.node)
    return s


def _set_apart(text: str, parent: Node, items: list[Any]) -> bool:
    """Whether a block collection sets its items apart with blank lines (every gap has one)."""
    if len(items) < 2:
        return False
    for (k, v), (nk, nv) in zip(items, items[1:], strict=False):
        end = block_extent(text, parent, k, v).end
        nxt = line_start(text, item_pos(text, parent, nk, nv))
        if not any(is_blank(ln) for ln in text[end:nxt].split("\n")[:-1]):
            return False
    return True

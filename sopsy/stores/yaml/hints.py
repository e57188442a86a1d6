"""Layout hints: the source spellings a decrypt cannot derive from the encrypted file (see
docs/yaml-format.md), recorded at encryption and checked before use, so a hint never changes
data."""

from __future__ import annotations

import math
from typing import Any

import yaml

from ...cipher import iv_of
from ...values import Value, same_value, spelling_is_exact, to_bytes
from ...yamlscalar import NotResolvable, resolve
from .goyaml import float_text, value_text
from .refs import DocInfo, ParsedYaml, SRef, leaves


def layout_hints(parsed: ParsedYaml) -> dict[str, Any]:
    """Spellings a decrypt cannot derive, keyed by the IV of the value's new ciphertext."""
    from .writer import EMPTY_DOCS, derive, form_of

    text = parsed.text
    hints: dict[str, Any] = {}
    empty = [n for n, doc in enumerate(parsed.docs) if _was_empty(doc)]
    if empty:
        hints[EMPTY_DOCS] = empty
    for doc in parsed.docs:
        for copy in doc.aliases:
            first = next((leaf for leaf in leaves(copy) if leaf.enc), None)
            if first is not None and first.enc:
                iv = iv_of(first.enc)
                if iv:
                    hints[iv] = "*" + str(copy.ref.alias)
        if doc.root is None:
            continue
        alias_ids = {id(c) for c in doc.aliases}
        for leaf in leaves(doc.root, alias_ids):
            ref = leaf.ref
            if not leaf.enc or not isinstance(ref, SRef):
                continue
            original = text[ref.start:ref.end]
            value = leaf.value
            # the common plain value: a string that stays plain, or a number/bool a decrypt
            # writes in its own spelling (not sops's "True"/"False", nor a float whose source
            # spelling is sops's plaintext while sops prints it otherwise)
            if ref.style is None and ref.start == ref.body:
                if type(value) is str:
                    if original == value and value_text(value, None, 0, 4, ref.flow) == original:
                        continue
                elif original == leaf.spelling and original not in ("True", "False") and (
                        type(value) is not float or value_text(value, original, 0) == original):
                    continue
            spelling = leaf.spelling
            if spelling is None and not isinstance(leaf.value, str):
                spelling = to_bytes(leaf.value).decode()
            if derive(form_of(ref, text, clean=True), leaf.value, spelling) != original:
                iv = iv_of(leaf.enc)
                if iv:
                    hints[iv] = original
    return hints


def _was_empty(doc: DocInfo) -> bool:
    """A plaintext document with no node (the reader gave it an empty mapping of no extent)."""
    root = doc.root
    return (root is not None and doc.sops_region is None and root.ref.start == root.ref.end
            and not any(k is not None for k, _ in root.items))


def exact_spelling(src: str, value: Value) -> str | None:
    """The source text of a typed value when sops, decrypting it, gets the same value back; None
    where the text is what decrypting sops's own plaintext prints (``true`` for ``True``,
    ``1e-07`` for ``0.0000001``): that plaintext is encrypted, so a value of a sops-made file
    keeps its ciphertext through an edit, and the text comes back the same."""
    if type(value) is int and src.isdigit() and (len(src) == 1 or src[0] != "0"):
        return src  # the common case, without the Go-parser round trip
    if type(value) is bool and src in ("true", "false"):
        return None
    if type(value) is float and math.isfinite(value) and src == float_text(value):
        return None
    return src if spelling_is_exact(src, value) else None


def hint_matches(hint: str, value: Value, indent: int = 0) -> bool:
    """Whether a stored spelling reads back as the decrypted value (a hint never changes data).

    It is read after a key at its owner's column, so that block scalars with an indentation
    indicator (``|2-``) mean what they meant in place."""
    hint = " " * indent + "k: " + hint
    try:
        events = list(yaml.parse(hint, Loader=yaml.CSafeLoader))
    except yaml.YAMLError:
        try:  # libyaml rejects a few valid spellings (tabs in block indentation)
            events = list(yaml.parse(hint, Loader=yaml.SafeLoader))
        except yaml.YAMLError:
            return False
    scalars = [e for e in events if isinstance(e, yaml.ScalarEvent)]
    if len(scalars) != 2:
        return False
    ev = scalars[1]
    try:
        got = resolve(ev.value, ev.tag, not ev.style)
    except NotResolvable:
        return False
    return same_value(got, value)

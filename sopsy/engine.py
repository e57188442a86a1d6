"""Encrypting and decrypting a document tree, and its MAC — the format-neutral heart of sopsy.

The tree is walked depth-first in document order, as sops walks it: the AAD of a leaf is its
path of mapping keys joined with ``:`` plus a trailing ``:`` (list positions add nothing), and
the MAC is SHA-512 over the canonical bytes of every non-null, non-comment leaf.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

from .cipher import ValueCipher, is_encrypted_value
from .errors import DecryptTreeError, EncryptTreeError
from .model import Comment, Mapping, Node, Scalar, Sequence
from .rules import Matcher
from .values import COMMENT, INT64_MAX, INT64_MIN, from_bytes, to_bytes, type_tag

MAC_ONLY_ENCRYPTED_PREFIX = hashlib.sha256(b"sops").digest()

Visit = tuple[tuple[str, ...], Scalar | Comment, list[str]]


def walk(documents: list[Mapping], with_comments: bool = False) -> Iterator[Visit]:
    """(path keys, leaf or comment, active comments) for every leaf, in sops's order."""
    for doc in documents:
        yield from _walk(doc, (), [], with_comments)


def _walk(node: Node, path: tuple[str, ...], outer: list[str], with_comments: bool) -> Iterator[Visit]:
    active: list[str] = []
    if isinstance(node, Mapping):
        for key, child in node.items:
            if isinstance(child, Comment):
                if with_comments:
                    yield path, child, outer + active
                active.append(child.text)
                continue
            assert key is not None
            yield from _walk_child(child, (*path, key), outer + active, with_comments)
            active = []
    elif isinstance(node, Sequence):
        for child in node.items:
            if isinstance(child, Comment):
                if with_comments:
                    yield path, child, outer + active
                active.append(child.text)
                continue
            yield from _walk_child(child, path, outer + active, with_comments)
            active = []


def _walk_child(child: Node, path: tuple[str, ...], comments: list[str], with_comments: bool) -> Iterator[Visit]:
    if isinstance(child, Scalar):
        yield path, child, comments
    else:
        yield from _walk(child, path, comments, with_comments)


def aad_of(path: tuple[str, ...]) -> bytes:
    return (":".join(path) + ":").encode("utf-8", "surrogateescape")


def _check_encryptable(leaf: Scalar) -> None:
    v = leaf.value
    if isinstance(v, int) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX:
        raise EncryptTreeError("unknown type: uint64 (an integer does not fit in 64 bits)")


def encrypt_documents(documents: list[Mapping], cipher: ValueCipher, matcher: Matcher,
                      mac_only_encrypted: bool = False) -> str:
    """Encrypt every leaf the rules select (sets ``leaf.enc``); returns the MAC hex."""
    h = hashlib.sha512()
    if mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_PREFIX)
    uses_comments = matcher.rule.uses_comments
    for path, leaf, comments in walk(documents):
        assert isinstance(leaf, Scalar)
        if leaf.value is None:
            continue
        _check_encryptable(leaf)
        canonical = to_bytes(leaf.value)
        encrypt = matcher.should_encrypt(path, comments if uses_comments else None)
        if encrypt:
            plaintext = leaf.spelling.encode("utf-8", "surrogateescape") if leaf.spelling is not None else canonical
            leaf.enc = cipher.encrypt(plaintext, aad_of(path), type_tag(leaf.value))
        else:
            leaf.enc = None
        if encrypt or not mac_only_encrypted:
            h.update(canonical)
    return h.hexdigest().upper()


def decrypt_documents(documents: list[Mapping], cipher: ValueCipher, matcher: Matcher,
                      mac_only_encrypted: bool = False,
                      on_comment: Callable[[Scalar, str], None] | None = None) -> str:
    """Decrypt every leaf the rules say is encrypted (sets value/spelling, clears ``enc``);
    returns the MAC hex computed over the plaintext tree.

    A leaf whose plaintext is a comment (sops stores comments inside sequences as
    ``type:comment`` strings) is handed to ``on_comment`` and left out of the MAC.
    """
    h = hashlib.sha512()
    if mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_PREFIX)
    uses_comments = matcher.rule.uses_comments
    for path, leaf, comments in walk(documents, with_comments=True):
        if isinstance(leaf, Comment):
            # A comment line sops wrote encrypted (``#ENC[...]``): the store sets ``enc``. sops keeps
            # a comment it cannot decrypt as it is, so a failure here is not an error either.
            if leaf.enc:
                _decrypt_comment(leaf, path, cipher)
            continue
        value = leaf.value
        if value is None:
            continue
        encrypted = matcher.should_encrypt(path, comments if uses_comments else None)
        if encrypted:
            if not isinstance(value, str):
                raise DecryptTreeError(f"a value at {'.'.join(path) or '/'} should be encrypted but is a plain {type_tag(value)}")
            if value and not is_encrypted_value(value):
                raise DecryptTreeError(f"a value at {'.'.join(path) or '/'} should be encrypted but is not")
            plaintext, tag = cipher.decrypt(value, aad_of(path))
            if tag == COMMENT:
                if on_comment is not None:
                    on_comment(leaf, plaintext.decode("utf-8", "surrogateescape"))
                continue
            try:
                typed = from_bytes(plaintext, tag)
            except ValueError:
                raise DecryptTreeError(f"a value at {'.'.join(path) or '/'} decrypted to data its type ({tag}) does not accept") from None
            leaf.enc = None  # the store finds the source ciphertext through leaf.ref
            leaf.value = typed
            text = plaintext.decode("utf-8", "surrogateescape")
            leaf.spelling = text
            h.update(to_bytes(typed))
        else:
            leaf.enc = None
            if not mac_only_encrypted:
                h.update(to_bytes(value))
    return h.hexdigest().upper()


def _decrypt_comment(comment: Comment, path: tuple[str, ...], cipher: ValueCipher) -> None:
    """An ``#ENC[...]`` comment written by sops. Its AAD is the path of the container it sat in;
    where a format cannot say which container that was, the enclosing ones are tried too. A
    comment that does not decrypt stays as it is (sops does the same, with a warning)."""
    assert comment.enc is not None
    for n in range(len(path), -1, -1):
        got = cipher.try_decrypt(comment.enc, aad_of(path[:n]))
        if got is not None and got[1] == COMMENT:
            comment.text = got[0].decode("utf-8", "surrogateescape")
            comment.enc = None
            return

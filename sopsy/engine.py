"""Encrypting and decrypting a document tree, and its MAC — the format-neutral heart of sopsy.

The tree is walked depth-first in document order, as sops walks it: the AAD of a leaf is its
path of mapping keys joined with ``:`` plus a trailing ``:`` (list positions add nothing), and
the MAC is SHA-512 over the canonical bytes of every non-null, non-comment leaf.
"""

from __future__ import annotations

try:  # the built-in SHA-512 saves loading OpenSSL's hashlib (~4 ms) on every start
    from _sha512 import sha512  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2
    try:
        from _sha2 import sha512  # type: ignore[import-not-found]
    except ImportError:
        from hashlib import sha512
from .cipher import ValueCipher
from .errors import DecryptTreeError, EncryptTreeError
from .model import Comment, Mapping, Scalar
from .rules import Matcher
from .values import COMMENT, INT64_MAX, INT64_MIN, from_bytes, to_bytes, type_tag

# SHA-256("sops"), fed first when mac_only_encrypted is set
MAC_ONLY_ENCRYPTED_PREFIX = bytes.fromhex("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69")

def aad_of(path: tuple[str, ...]) -> bytes:
    return (":".join(path) + ":").encode("utf-8", "surrogateescape")


def _check_encryptable(leaf: Scalar, prefix: str) -> None:
    v = leaf.value
    if isinstance(v, int) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX:
        # sops reads such a number as a uint64 and fails with "unknown type: uint64"; the value
        # itself stays out of the message
        where = f"the value of {prefix.rstrip(':')!r}" if prefix else "a value"
        raise EncryptTreeError(f"cannot encrypt {where}: the integer is outside the signed 64-bit range "
                               "(-9223372036854775808 to 9223372036854775807) sops stores; quote it to keep "
                               "it as a string")


TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    # Leaf visitor: (leaf, AAD prefix, rule decision). The AAD prefix is the path joined with ":"
    # plus ":" ("" at the root, whose AAD is ":"); both are built once per container, not per leaf.
    LeafFn = Callable[[Scalar, str, bool], None]
    # Comment visitor: (comment, path of its container, rule decision for it)
    CommentFn = Callable[[Comment, tuple[str, ...], bool], None]


def _traverse(documents: list[Mapping], matcher: Matcher, on_leaf: LeafFn,
              on_comment: CommentFn | None = None) -> None:
    key_hit = matcher.key_hit
    decide = matcher.decide
    by_comments = matcher.rule.uses_comments
    # without comment rules the verdict depends on the path hit alone: ask the matcher once
    verdict = (decide(False, []), decide(True, []))

    for doc in documents:
        # An explicit stack, not recursion: JSON may nest 10,000 levels deep (sops's limit).
        # A frame: the container's remaining items, whether it is a mapping, its key path, AAD
        # prefix, rule hit and the comments above it. After a child container is done, the
        # comments seen before it no longer apply, so a resumed frame starts with none.
        stack: list[tuple[Iterator[Any], bool, tuple[str, ...], str, bool, list[str]]] = [
            (iter(doc.items), True, (), "", False, [])]
        while stack:
            items, is_map, path, prefix, hit, outer = stack[-1]
            active: list[str] = []
            for item in items:
                if is_map:
                    key, child = item
                else:
                    key, child = None, item
                cls = type(child)
                if cls is Scalar:  # the hot case first (model classes are never subclassed)
                    if key is not None:
                        child_prefix = prefix + key + ":"
                        child_hit = hit or key_hit(key)
                    else:
                        child_prefix, child_hit = prefix, hit
                    if by_comments:
                        on_leaf(child, child_prefix, decide(child_hit, outer + active))
                    else:
                        on_leaf(child, child_prefix, verdict[child_hit])
                    if active:
                        active = []
                    continue
                if cls is Comment:
                    if on_comment is not None:
                        on_comment(child, path, matcher.comment_verdict(hit, outer + active, child.text)
                                   if by_comments else verdict[hit])
                    active.append(child.text)
                    continue
                inner = (outer + active) if by_comments else outer
                if key is not None:
                    stack.append((iter(child.items), cls is Mapping, (*path, key), prefix + key + ":",
                                  hit or key_hit(key), inner))
                else:
                    stack.append((iter(child.items), cls is Mapping, path, prefix, hit, inner))
                break
            else:
                stack.pop()


def encrypt_documents(documents: list[Mapping], cipher: ValueCipher, matcher: Matcher,
                      mac_only_encrypted: bool = False, comments: dict[str, bytes] | None = None) -> str:
    """Encrypt every leaf the rules select (sets ``leaf.enc``); returns the MAC hex. With
    ``comments`` (a file whose comments sops encrypted: their texts and the AADs they were
    found under), every comment the rules select too, as sops does: its text becomes the
    ``ENC[...]`` string, under the path of the block it stands in (an unchanged comment in its
    place gets its very ciphertext back; 4,153 comments of 27 real files sops encrypted were
    all found under that path); comments are not in the MAC."""
    h = sha512()
    if mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_PREFIX)
    update = h.update
    cipher.new_pass()
    encrypt = cipher.encrypt

    def on_leaf(leaf: Scalar, prefix: str, should: bool) -> None:
        value = leaf.value
        if value is None:
            return
        if type(value) is str:  # the common case, without the type dispatch
            canonical = value.encode("utf-8", "surrogateescape")
            tag = "str"
        else:
            _check_encryptable(leaf, prefix)
            canonical = to_bytes(value)
            tag = type_tag(value)
        if should:
            plaintext = leaf.spelling.encode("utf-8", "surrogateescape") if leaf.spelling is not None else canonical
            leaf.enc = encrypt(plaintext, (prefix or ":").encode("utf-8", "surrogateescape"), tag)
            update(canonical)
        else:
            leaf.enc = None
            if not mac_only_encrypted:
                update(canonical)

    selected: list[tuple[Comment, tuple[str, ...]]] = []

    def on_comment(comment: Comment, path: tuple[str, ...], should: bool) -> None:
        if should:
            selected.append((comment, path))

    _traverse(documents, matcher, on_leaf, on_comment if comments is not None else None)
    for comment, path in selected:  # after the walk: comment rules read the plaintext texts
        # the path of the block sops gives the comment to (its AAD there), not the one it was
        # read under: a comment moved elsewhere in an edit must decrypt where it now stands
        aad = aad_of(path if comment.depth is None else path[:comment.depth])
        comment.text = comment.enc = encrypt(comment.text.encode("utf-8", "surrogateescape"), aad, COMMENT)
    return str(h.hexdigest()).upper()


def decrypt_documents(documents: list[Mapping], cipher: ValueCipher, matcher: Matcher,
                      mac_only_encrypted: bool = False,
                      on_comment: Callable[[Scalar, str], None] | None = None,
                      decrypted_comments: dict[str, bytes] | None = None) -> str:
    """Decrypt every leaf the rules say is encrypted (sets value/spelling, clears ``enc``);
    returns the MAC hex computed over the plaintext tree.

    A leaf whose plaintext is a comment (sops stores comments inside sequences as
    ``type:comment`` strings) is handed to ``on_comment`` and left out of the MAC. Comment
    nodes with ``enc`` set (``#ENC[...]`` lines sops wrote) are decrypted where they stand
    (each comment's text and AAD go to ``decrypted_comments``, for encrypting them again).
    """
    h = sha512()
    if mac_only_encrypted:
        h.update(MAC_ONLY_ENCRYPTED_PREFIX)
    update = h.update
    decrypt = cipher.decrypt

    def where(prefix: str) -> str:
        return prefix.rstrip(":").replace(":", ".") or "/"

    def on_leaf(leaf: Scalar, prefix: str, should: bool) -> None:
        value = leaf.value
        if value is None:
            return
        if not should:
            leaf.enc = None
            if not mac_only_encrypted:
                update(to_bytes(value))
            return
        if not isinstance(value, str):
            raise DecryptTreeError(f"a value at {where(prefix)} should be encrypted but is a plain {type_tag(value)}")
        if not value:
            leaf.enc = None
            return
        if not value.startswith("ENC[AES256_GCM,"):
            raise DecryptTreeError(f"a value at {where(prefix)} should be encrypted but is not")
        plaintext, tag = decrypt(value, (prefix or ":").encode("utf-8", "surrogateescape"))
        if tag == "str":  # the common case: the text is the value, and its bytes are the MAC's
            text = plaintext.decode("utf-8", "surrogateescape")
            leaf.enc = None
            leaf.value = text
            leaf.spelling = text
            update(plaintext)
            return
        if tag == COMMENT:
            text = plaintext.decode("utf-8", "surrogateescape")
            if decrypted_comments is not None:
                decrypted_comments.setdefault(text, (prefix or ":").encode("utf-8", "surrogateescape"))
            if on_comment is not None:
                on_comment(leaf, text)
            return
        try:
            typed = from_bytes(plaintext, tag)
        except ValueError:
            raise DecryptTreeError(f"a value at {where(prefix)} decrypted to data its type ({tag}) does not accept") from None
        leaf.enc = None  # the store finds the source ciphertext through leaf.ref
        leaf.value = typed
        leaf.spelling = plaintext.decode("utf-8", "surrogateescape")
        update(to_bytes(typed))

    def on_comment_node(comment: Comment, path: tuple[str, ...], should: bool) -> None:
        if comment.enc:
            aad = _decrypt_comment(comment, path, cipher)
            if aad is not None and decrypted_comments is not None:
                decrypted_comments.setdefault(comment.text, aad)

    _traverse(documents, matcher, on_leaf, on_comment_node)
    return str(h.hexdigest()).upper()


def _decrypt_comment(comment: Comment, path: tuple[str, ...], cipher: ValueCipher) -> bytes | None:
    """An ``#ENC[...]`` comment written by sops. Its AAD is the path of the container it sat in;
    where a format cannot say which container that was, the enclosing ones are tried too. A
    comment that does not decrypt stays as it is (sops does the same, with a warning). Returns
    the AAD it decrypted under."""
    assert comment.enc is not None
    for n in range(len(path), -1, -1):
        aad = aad_of(path[:n])
        got = cipher.try_decrypt(comment.enc, aad)
        if got is not None and got[1] == COMMENT:
            comment.text = got[0].decode("utf-8", "surrogateescape")
            comment.enc = None
            return aad
    return None

"""The sops value cipher: AES-256-GCM with a 32-byte IV, and the ``ENC[...]`` string grammar.

``ENC[AES256_GCM,data:<b64 ct>,iv:<b64 iv>,tag:<b64 tag>,type:<tag>]``. The empty plaintext is
special: it encrypts to the empty string, and the empty string decrypts to itself.
"""

from __future__ import annotations

import _thread
import binascii
import os
import re

from .errors import DecryptTreeError

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any


def _aesgcm_class() -> Any:
    """cryptography's AESGCM, imported on first use: the native fast path never needs it."""
    try:  # The public import drags in the whole ciphers package (~20 ms); the class itself lives
        # in the Rust binding. Start-up time matters for `git diff`, which runs us once per file.
        from cryptography.hazmat.bindings._rust import openssl as _rust_openssl

        return _rust_openssl.aead.AESGCM
    except (ImportError, AttributeError):  # pragma: no cover - other cryptography layouts
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM

_b64 = binascii.b2a_base64  # base64.b64encode is a Python wrapper around it
_a2b = binascii.a2b_base64

# sops parses with the regex ``^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`` (greedy
# groups, no end anchor); :func:`split_enc` accepts exactly what it accepts, in linear time.
ENC_PREFIX = "ENC[AES256_GCM,data:"
IV_SIZE = 32
TAG_SIZE = 16


def is_encrypted_value(s: object) -> bool:
    return isinstance(s, str) and s.startswith("ENC[AES256_GCM,")


class _IvPool:
    """Random IVs drawn in blocks: one getrandom call per 256 values instead of one per value.

    A block must never serve one IV twice: takes are serialised (threads of the Python API),
    and a forked child drops what it inherited (otherwise parent and child, e.g. two workers
    of a pre-forking server editing one file, would encrypt different values under one data
    key with the same IVs: GCM's keystream and authentication key would leak)."""

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self._lock = _thread.allocate_lock()

    def drop(self) -> None:
        self._buf = b""
        self._pos = 0
        self._lock = _thread.allocate_lock()  # a lock held by another thread at fork stays held

    def take(self) -> bytes:
        with self._lock:
            if self._pos + IV_SIZE > len(self._buf):
                self._buf = os.urandom(IV_SIZE * 256)
                self._pos = 0
            iv = self._buf[self._pos:self._pos + IV_SIZE]
            self._pos += IV_SIZE
            return iv


_IVS = _IvPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_IVS.drop)


class ValueCipher:
    """Encrypts and decrypts single values with one data key.

    It remembers the IV of every ``(plaintext, aad)`` it decrypted, and re-uses it when the same
    value is encrypted again (sops's "stash"): unchanged values keep their exact ciphertext
    through edit and rotate, which keeps diffs to the lines that really changed.

    Equal values under one key path (list items: indices are not in the AAD) each have their
    own IV in a file; sops's stash keeps one IV per pair, so an edit rewrites all but one of
    them, and to one ciphertext. Here the further IVs are kept in decryption order
    (``spare``) and given out again in that order within an encryption pass
    (:meth:`new_pass`), so each keeps its own; past them, the stashed IV, as in sops.
    """

    def __init__(self, data_key: bytes) -> None:
        if len(data_key) != 32:
            raise ValueError("the data key must be 32 bytes")
        self.data_key = data_key
        from cryptography.exceptions import InvalidTag

        self._aead = _aesgcm_class()(data_key)
        self._invalid_tag = InvalidTag
        self.stash: dict[tuple[bytes, bytes, str], bytes] = {}
        self.spare: dict[tuple[bytes, bytes, str], list[bytes]] = {}
        self._served: dict[tuple[bytes, bytes, str], int] = {}

    def new_pass(self) -> None:
        """The start of an encryption of a whole file: equal values take their IVs from the first."""
        self._served.clear()

    def _stashed_iv(self, key: tuple[bytes, bytes, str]) -> bytes | None:
        iv = self.stash.get(key)
        if iv is None:
            return None
        n = self._served.get(key, 0)
        self._served[key] = n + 1
        spare = self.spare.get(key)
        return spare[n - 1] if n and spare and n <= len(spare) else iv

    def encrypt(self, plaintext: bytes, aad: bytes, type_tag: str, fresh_iv: bool = False,
                iv: bytes | None = None) -> str:
        """``iv``: a given IV (the MAC's, see ruletag.py); else the stashed one, else a random one."""
        if not plaintext:
            return ""
        if iv is None and not fresh_iv:
            iv = self._stashed_iv((plaintext, aad, type_tag))
        if iv is None:
            iv = _IVS.take()
        sealed = self._aead.encrypt(iv, plaintext, aad)
        return (f"ENC[AES256_GCM,data:{_b64(sealed[:-TAG_SIZE], newline=False).decode()},"
                f"iv:{_b64(iv, newline=False).decode()},tag:{_b64(sealed[-TAG_SIZE:], newline=False).decode()},"
                f"type:{type_tag}]")

    def decrypt(self, enc: str, aad: bytes) -> tuple[bytes, str]:
        """Decrypt an ``ENC[...]`` string; returns (plaintext bytes, type tag)."""
        if enc == "":
            return b"", "str"
        data, iv, tag, type_tag = parse_enc(enc)
        try:
            plaintext = self._aead.decrypt(iv, data + tag, aad)
        except self._invalid_tag:
            raise DecryptTreeError("a value failed authentication (wrong key, or the file was altered)") from None
        except ValueError:
            raise DecryptTreeError("a value has an invalid IV") from None
        key = (plaintext, aad, type_tag)
        first = self.stash.setdefault(key, iv)
        if first != iv:
            self.spare.setdefault(key, []).append(iv)
        return plaintext, type_tag

    def try_decrypt(self, enc: str, aad: bytes) -> tuple[bytes, str] | None:
        try:
            return self.decrypt(enc, aad)
        except DecryptTreeError:
            return None


# The common, well-formed case in one regex step (its classes exclude the separators, so it
# cannot backtrack).
ENC_FAST = re.compile(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),type:([a-z]+)\]")


def split_enc(enc: str) -> tuple[str, str, str, str] | None:
    """The four fields of an ENC string as sops's regex groups them, or None.

    A backtracking engine needs time polynomial in the length for that regex on crafted input
    (many ``,iv:`` and ``,tag:`` pieces), so it is not used. Go's ``.`` stops at a newline and
    each greedy group takes the most it can while the rest still matches: the match ends at the
    line's last ``]``, each separator is the last one that leaves every later group non-empty.
    """
    m = ENC_FAST.match(enc)
    if m is not None:
        return m.groups()  # type: ignore[return-value]
    if not enc.startswith(ENC_PREFIX):
        return None
    start = len(ENC_PREFIX)
    newline = enc.find("\n", start)
    line_end = len(enc) if newline < 0 else newline
    close = enc.rfind("]", start, line_end)
    # (a negative end would count from the end of the string: each search is guarded)
    type_at = enc.rfind(",type:", start, close - 1) if close > start else -1  # y non-empty
    tag_at = enc.rfind(",tag:", start, type_at - 1) if type_at > start else -1
    iv_at = enc.rfind(",iv:", start, tag_at - 1) if tag_at > start else -1
    if iv_at <= start:  # also: the data group would be empty
        return None
    return enc[start:iv_at], enc[iv_at + 4:tag_at], enc[tag_at + 5:type_at], enc[type_at + 6:close]


def parse_enc(enc: str) -> tuple[bytes, bytes, bytes, str]:
    fields = split_enc(enc)
    if fields is None:
        raise DecryptTreeError("a value does not match sops' data format")
    d, i, t, type_tag = fields
    try:
        data = _a2b(d, strict_mode=True)
        iv = _a2b(i, strict_mode=True)
        tag = _a2b(t, strict_mode=True)
    except (binascii.Error, ValueError):
        raise DecryptTreeError("a value has invalid base64 in its ENC[] string") from None
    if len(tag) != TAG_SIZE or not iv:
        raise DecryptTreeError("a value has an invalid GCM tag or IV")
    return data, iv, tag, type_tag


def iv_of(enc: str) -> str | None:
    """The IV field text of an ENC string (a stable identity for a value's ciphertext)."""
    fields = split_enc(enc)
    return fields[1] if fields is not None else None

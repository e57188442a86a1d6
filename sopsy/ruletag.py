"""The MAC's IV carries a tag of the crypt rule, so that a file's rule cannot be changed unseen.

sops authenticates the values (the MAC) but not the metadata: adding ``unencrypted_regex:
^new$`` to a file leaves every value and the MAC valid (no existing key matches), and the next
``set``/``edit`` writes the key ``new`` in plaintext. The MAC is encrypted under a 32-byte IV
that sops never interprets, so sopsy derives that IV from the data key, the MAC text, the
timestamp and the crypt rule: its first half says "written by sopsy", its second half binds the
rule. Equal IVs only ever come with equal MAC text and timestamp (a synthetic IV), so GCM never
sees one IV with two messages. A file whose MAC sops wrote (random IV) carries no tag; a file
whose tag no longer matches its rule is refused like a MAC mismatch. Key groups are left out on
purpose: sops's ``updatekeys`` changes them and keeps the MAC as it was.
"""

from __future__ import annotations

import hashlib
import hmac
import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .rules import CryptRule

_HALF = 16


def _key(data_key: bytes) -> bytes:
    return hmac.new(data_key, b"sopsy mac iv key", hashlib.sha256).digest()


def _mark(key: bytes, lastmodified: str, mac_hex: str) -> bytes:
    return hmac.new(key, b"mark\0" + lastmodified.encode() + b"\0" + mac_hex.encode(), hashlib.sha256).digest()[:_HALF]


def _rules(key: bytes, lastmodified: str, mac_hex: str, rule: CryptRule | None, mac_only: bool) -> bytes:
    text = json.dumps([[rule.name, rule.value] if rule else None, bool(mac_only)], ensure_ascii=False)
    msg = b"rules\0" + text.encode("utf-8", "surrogateescape") + b"\0" + lastmodified.encode() + b"\0" + mac_hex.encode()
    return hmac.new(key, msg, hashlib.sha256).digest()[:_HALF]


def mac_iv(data_key: bytes, lastmodified: str, mac_hex: str, rule: CryptRule | None, mac_only: bool) -> bytes:
    """The IV to encrypt the MAC with: a mark of sopsy, then the rule's tag."""
    key = _key(data_key)
    return _mark(key, lastmodified, mac_hex) + _rules(key, lastmodified, mac_hex, rule, mac_only)


def rule_intact(data_key: bytes, iv: bytes, lastmodified: str, mac_hex: str, rule: CryptRule | None,
                mac_only: bool) -> bool:
    """False only when sopsy wrote this MAC under another crypt rule (the metadata was altered)."""
    key = _key(data_key)
    if len(iv) != 2 * _HALF or not hmac.compare_digest(iv[:_HALF], _mark(key, lastmodified, mac_hex)):
        return True  # not written by sopsy: nothing to check against
    return hmac.compare_digest(iv[_HALF:], _rules(key, lastmodified, mac_hex, rule, mac_only))

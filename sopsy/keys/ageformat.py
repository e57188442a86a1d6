"""The age v1 file format (C2SP age), for the recipient types pyrage cannot wrap or unwrap.

pyrage (rage) reads and writes age files, but only for the recipients and identities it knows;
a stanza computed in Python (the ML-KEM-768 + X25519 hybrid of age 1.3, see :mod:`.age_pq`)
cannot be handed to it. This module therefore writes and reads the rest of an age file by hand:
Bech32 keys (without BIP 173's 90-character limit, as age's keys are longer), the header (stanzas,
HMAC-SHA-256 under an HKDF key), the ChaCha20-Poly1305 STREAM payload and the ASCII armor.
sops stores one small age file per recipient (the 32-byte data key or a Shamir share), so the
payload is one chunk, but any size is handled. The primitives come from ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INTRO = b"age-encryption.org/v1\n"
ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
COLUMNS = 64
BYTES_PER_LINE = COLUMNS // 4 * 3
CHUNK = 64 * 1024
FILE_KEY_SIZE = 16


class AgeFormatError(ValueError):
    """The text is not a well-formed age file (or the MAC or payload does not verify)."""


class Stanza:
    __slots__ = ("type", "args", "body")

    def __init__(self, type: str, args: list[str], body: bytes) -> None:
        self.type = type
        self.args = args
        self.body = body


# -- base64 as age uses it: unpadded, canonical ------------------------------------------------


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    if "\n" in text or "\r" in text or text.endswith("="):
        raise AgeFormatError("malformed base64")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise AgeFormatError("malformed base64") from None
    if b64encode(data) != text:  # non-canonical trailing bits
        raise AgeFormatError("non-canonical base64")
    return data


# -- Bech32 (BIP 173 checksum, no length limit) -------------------------------------------------

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _GEN[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], frm: int, to: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    for v in data:
        acc = (acc << frm) | v
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & ((1 << to) - 1))
    if pad and bits:
        out.append((acc << (to - bits)) & ((1 << to) - 1))
    elif not pad and (bits >= frm or (acc << (to - bits)) & ((1 << to) - 1)):
        raise AgeFormatError("invalid Bech32 padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Lower-case Bech32 (callers upper-case identities, as age does)."""
    hrp = hrp.lower()
    values = _convert(data, 8, 5, True)
    poly = _polymod(_hrp_expand(hrp) + values + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """(hrp in the case it was written, data); raises AgeFormatError."""
    if text.lower() != text and text.upper() != text:
        raise AgeFormatError("mixed-case Bech32 string")
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise AgeFormatError("malformed Bech32 string")
    hrp, lower = text[:pos], text.lower()
    try:
        values = [_CHARSET.index(c) for c in lower[pos + 1:]]
    except ValueError:
        raise AgeFormatError("invalid Bech32 character") from None
    if _polymod(_hrp_expand(hrp.lower()) + values) != 1:
        raise AgeFormatError("invalid Bech32 checksum")
    return hrp, bytes(_convert(values[:-6], 5, 8, False))


# -- header, payload, armor ---------------------------------------------------------------------


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt or None, info).derive(ikm)


def _wrap_b64(body: bytes) -> str:
    text = b64encode(body)
    lines = [text[i:i + COLUMNS] for i in range(0, len(text), COLUMNS)]
    if not lines or len(lines[-1]) == COLUMNS:
        lines.append("")  # a body always ends with a short (possibly empty) line
    return "\n".join(lines) + "\n"


def encrypt(file_key: bytes, stanzas: list[Stanza], plaintext: bytes) -> str:
    """The armored age file holding ``plaintext`` under ``file_key``, wrapped by ``stanzas``."""
    header = INTRO.decode()
    for s in stanzas:
        header += "-> " + " ".join([s.type, *s.args]) + "\n" + _wrap_b64(s.body)
    header += "---"
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header.encode(), hashlib.sha256).digest()
    nonce = os.urandom(16)
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    chunks = [plaintext[i:i + CHUNK] for i in range(0, len(plaintext), CHUNK)] or [b""]
    payload = b"".join(aead.encrypt(_chunk_nonce(i, i == len(chunks) - 1), c, None) for i, c in enumerate(chunks))
    raw = (header + " " + b64encode(mac) + "\n").encode() + nonce + payload
    return armor(raw)


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def armor(raw: bytes) -> str:
    text = base64.b64encode(raw).decode()
    lines = [text[i:i + COLUMNS] for i in range(0, len(text), COLUMNS)]
    return ARMOR_BEGIN + "\n" + "".join(ln + "\n" for ln in lines) + ARMOR_END + "\n"


def dearmor(text: str) -> bytes:
    lines = [ln.rstrip("\r") for ln in text.strip().split("\n")]
    if len(lines) < 2 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END:
        raise AgeFormatError("not an armored age file")
    body = lines[1:-1]
    if any(not ln or len(ln) > COLUMNS for ln in body) or any(len(ln) != COLUMNS for ln in body[:-1]):
        raise AgeFormatError("malformed age armor")
    try:
        return base64.b64decode("".join(body), validate=True)
    except binascii.Error:
        raise AgeFormatError("malformed age armor") from None


class AgeFile:
    """A parsed age file: its stanzas, then :meth:`decrypt` with a file key to check and open it."""

    def __init__(self, raw: bytes) -> None:
        if not raw.startswith(INTRO):
            raise AgeFormatError("not an age v1 file")
        self.stanzas: list[Stanza] = []
        pos = len(INTRO)
        while not raw.startswith(b"---", pos):
            pos = self._stanza(raw, pos)
        end = raw.find(b"\n", pos)
        if end < 0:
            raise AgeFormatError("truncated age header")
        self._mac_input = raw[:pos + 3]
        parts = raw[pos:end].decode("ascii", "replace").split(" ")
        if len(parts) != 2 or parts[0] != "---":
            raise AgeFormatError("malformed age header closing line")
        self._mac = b64decode(parts[1])
        self._payload = raw[end + 1:]

    def _stanza(self, raw: bytes, pos: int) -> int:
        end = raw.find(b"\n", pos)
        if end < 0 or not raw.startswith(b"-> ", pos):
            raise AgeFormatError("malformed age stanza")
        args = raw[pos + 3:end].decode("ascii", "replace").split(" ")
        if any(not a or any(not 33 <= ord(c) <= 126 for c in a) for a in args):
            raise AgeFormatError("malformed age stanza")
        body: list[bytes] = []  # joined once: `+=` on bytes made a long body quadratic
        while True:
            pos, end = end + 1, raw.find(b"\n", end + 1)
            if end < 0:
                raise AgeFormatError("truncated age stanza")
            chunk = b64decode(raw[pos:end].decode("ascii", "replace"))
            if len(chunk) > BYTES_PER_LINE:
                raise AgeFormatError("age stanza body line too long")
            body.append(chunk)
            if len(chunk) < BYTES_PER_LINE:
                self.stanzas.append(Stanza(args[0], args[1:], b"".join(body)))
                return end + 1

    def decrypt(self, file_key: bytes) -> bytes:
        mac = hmac.new(_hkdf(file_key, b"", b"header"), self._mac_input, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, self._mac):
            raise AgeFormatError("the age header MAC does not verify")
        nonce, body = self._payload[:16], self._payload[16:]
        if len(nonce) != 16:
            raise AgeFormatError("truncated age payload")
        aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        size = CHUNK + 16
        chunks = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        out = []
        from cryptography.exceptions import InvalidTag

        try:
            for i, c in enumerate(chunks):
                last = i == len(chunks) - 1
                plain = aead.decrypt(_chunk_nonce(i, last), c, None)
                if not plain and (i > 0 or not last):
                    raise AgeFormatError("empty age payload chunk")
                out.append(plain)
        except InvalidTag:
            raise AgeFormatError("the age payload does not decrypt") from None
        return b"".join(out)


def parse(armored: str) -> AgeFile:
    return AgeFile(dearmor(armored))


def new_file_key() -> bytes:
    return os.urandom(FILE_KEY_SIZE)

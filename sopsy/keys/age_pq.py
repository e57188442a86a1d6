"""Post-quantum hybrid age keys (age 1.3): ``age1pq1…`` recipients, ``AGE-SECRET-KEY-PQ-1…`` identities.

The stanza is ``-> mlkem768x25519 <enc>`` with the file key sealed by HPKE (RFC 9180, base mode)
with KEM MLKEM768-X25519 (X-Wing, draft-ietf-hpke-pq), HKDF-SHA256, ChaCha20-Poly1305 and
info ``age-encryption.org/mlkem768x25519``. ``cryptography`` (47+) provides that HPKE suite; an
identity is a 32-byte seed that SHAKE256 expands into the ML-KEM-768 seed (64 bytes) and the
X25519 key (32 bytes), as filippo.io/hpke does, and a recipient is the ML-KEM encapsulation key
followed by the X25519 public key. pyrage has no hybrid keys and cannot take a stanza computed in
Python, so the rest of the age file is written and read by :mod:`.ageformat`.

Imported only when a ``age1pq1`` recipient or a post-quantum identity is used.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from . import ageformat
from .ageformat import AgeFormatError, Stanza

RECIPIENT_HRP = "age1pq"
IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
STANZA_TYPE = "mlkem768x25519"
LABEL = b"age-encryption.org/mlkem768x25519"
MLKEM_PK_SIZE = 1184
ENC_SIZE = 1120
SEED_SIZE = 32

_SUITE: hpke.Suite | None = None


def _suite() -> hpke.Suite:
    global _SUITE
    if _SUITE is None:
        _SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    return _SUITE


class PQError(ValueError):
    """A malformed post-quantum recipient or identity (the message names which, never the key)."""


_NO_MLKEM = "this build of cryptography has no ML-KEM (it needs OpenSSL 3.5+, BoringSSL or AWS-LC)"


def _components(seed: bytes) -> tuple[mlkem.MLKEM768PrivateKey, x25519.X25519PrivateKey]:
    expanded = hashlib.shake_256(seed).digest(64 + 32)
    try:
        pq = mlkem.MLKEM768PrivateKey.from_seed_bytes(expanded[:64])
    except UnsupportedAlgorithm:
        raise PQError(_NO_MLKEM) from None
    return pq, x25519.X25519PrivateKey.from_private_bytes(expanded[64:])


class HybridRecipient:
    def __init__(self, public: bytes) -> None:
        if len(public) != MLKEM_PK_SIZE + 32:
            raise PQError("a post-quantum age recipient has the wrong length")
        try:
            self._key = hpke.MLKEM768X25519PublicKey(mlkem.MLKEM768PublicKey.from_public_bytes(public[:MLKEM_PK_SIZE]),
                                                     x25519.X25519PublicKey.from_public_bytes(public[MLKEM_PK_SIZE:]))
        except ValueError:
            raise PQError("a post-quantum age recipient is not a valid ML-KEM-768 + X25519 key") from None
        except UnsupportedAlgorithm:
            raise PQError(_NO_MLKEM) from None
        self.public = public

    @classmethod
    def parse(cls, text: str) -> HybridRecipient:
        try:
            hrp, data = ageformat.bech32_decode(text)
        except AgeFormatError as exc:
            raise PQError(f"malformed post-quantum age recipient ({exc})") from None
        if hrp != RECIPIENT_HRP:
            raise PQError("not a post-quantum age recipient (age1pq1...)")
        return cls(data)

    def __str__(self) -> str:
        return ageformat.bech32_encode(RECIPIENT_HRP, self.public)

    def wrap(self, file_key: bytes) -> Stanza:
        sealed = _suite().encrypt(file_key, self._key, info=LABEL)
        return Stanza(STANZA_TYPE, [ageformat.b64encode(sealed[:ENC_SIZE])], sealed[ENC_SIZE:])


class HybridIdentity:
    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise PQError("a post-quantum age identity has the wrong length")
        self._seed = seed
        mk, xk = _components(seed)
        self._x25519 = xk
        self._key = hpke.MLKEM768X25519PrivateKey(mk, xk)
        self._public = mk.public_key().public_bytes_raw() + xk.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return "HybridIdentity(...)"  # never the seed

    @classmethod
    def parse(cls, text: str) -> HybridIdentity:
        try:
            hrp, data = ageformat.bech32_decode(text)
        except AgeFormatError:
            raise PQError("a post-quantum age identity is malformed") from None
        if hrp.upper() != IDENTITY_HRP:
            raise PQError("not a post-quantum age identity")
        return cls(data)

    @classmethod
    def generate(cls) -> HybridIdentity:
        import os

        return cls(os.urandom(SEED_SIZE))

    def __str__(self) -> str:
        return ageformat.bech32_encode(IDENTITY_HRP, self._seed).upper()

    def recipient(self) -> HybridRecipient:
        return HybridRecipient(self._public)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """The file key, or None when the stanza is not for this identity."""
        if stanza.type != STANZA_TYPE:
            return None
        if len(stanza.args) != 1:
            raise AgeFormatError("invalid mlkem768x25519 stanza")
        enc = ageformat.b64decode(stanza.args[0])
        if len(enc) != ENC_SIZE or len(stanza.body) != ageformat.FILE_KEY_SIZE + 16:
            raise AgeFormatError("invalid mlkem768x25519 stanza")
        try:  # age rejects a low-order X25519 share (an all-zero shared secret); HPKE here does not
            self._x25519.exchange(x25519.X25519PublicKey.from_public_bytes(enc[ENC_SIZE - 32:]))
        except ValueError:
            raise AgeFormatError("the mlkem768x25519 stanza has a low-order X25519 share") from None
        try:
            return _suite().decrypt(enc + stanza.body, self._key, info=LABEL)
        except InvalidTag:  # ML-KEM's implicit rejection: a key mismatch shows up as a failed open
            return None


def encrypt(recipient: str, plaintext: bytes) -> str:
    """The armored age file of ``plaintext`` for one post-quantum recipient."""
    file_key = ageformat.new_file_key()
    return ageformat.encrypt(file_key, [HybridRecipient.parse(recipient).wrap(file_key)], plaintext)


def decrypt(armored: str, identities: list[HybridIdentity]) -> bytes | None:
    """The plaintext, None when no identity matches; AgeFormatError for a damaged file."""
    return decrypt_file(ageformat.parse(armored), identities)


def decrypt_file(f: ageformat.AgeFile, identities: list[HybridIdentity]) -> bytes | None:
    for stanza in f.stanzas:
        for ident in identities:
            file_key = ident.unwrap(stanza)
            if file_key is not None:
                return f.decrypt(file_key)
    return None


def generate() -> tuple[str, str]:
    """A new post-quantum identity: (secret key line, public recipient)."""
    ident = HybridIdentity.generate()
    return str(ident), str(ident.recipient())

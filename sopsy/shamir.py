"""Shamir secret sharing exactly as sops does it (HashiCorp Vault's scheme).

GF(2^8) with the AES polynomial 0x11B, one random polynomial per secret byte, shares of
``len(secret) + 1`` bytes with the x coordinate last, group i getting x = i + 1. Hand-written
because the PyPI Shamir packages use other fields or share layouts, which sops would not read.
"""

from __future__ import annotations

import os

_EXP = [0] * 512
_LOG = [0] * 256


def _init_tables() -> None:
    x = 1
    for i in range(255):
        _EXP[i] = x
        _LOG[x] = i
        # multiply by the generator 3 in GF(2^8)/0x11B
        x ^= (x << 1) ^ (0x11B if x & 0x80 else 0)
        x &= 0xFF
    for i in range(255, 512):
        _EXP[i] = _EXP[i - 255]


_init_tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


def split(secret: bytes, parts: int, threshold: int) -> list[bytes]:
    if not 2 <= threshold <= parts <= 255:
        raise ValueError("Shamir needs 2 <= threshold <= parts <= 255")
    shares = [bytearray() for _ in range(parts)]
    for byte in secret:
        coeffs = [byte] + list(os.urandom(threshold - 1))
        for i in range(parts):
            x = i + 1
            y = 0
            for c in reversed(coeffs):  # Horner
                y = _mul(y, x) ^ c
            shares[i].append(y)
    for i in range(parts):
        shares[i].append(i + 1)
    return [bytes(s) for s in shares]


def combine(shares: list[bytes]) -> bytes:
    if len(shares) < 2:
        raise ValueError("at least two shares are needed")
    length = len(shares[0])
    if any(len(s) != length for s in shares) or length < 2:
        raise ValueError("shares have different lengths")
    xs = [s[-1] for s in shares]
    if len(set(xs)) != len(xs):
        raise ValueError("duplicate shares")
    secret = bytearray()
    for idx in range(length - 1):
        acc = 0
        for i, xi in enumerate(xs):
            # Lagrange basis at 0: prod x_j / (x_j - x_i); subtraction is XOR
            basis = 1
            for j, xj in enumerate(xs):
                if i != j:
                    basis = _mul(basis, _div(xj, xj ^ xi))
            acc ^= _mul(shares[i][idx], basis)
        secret.append(acc)
    return bytes(secret)

"""SoftHSM2 for tests: a config and token directory in a temp dir, tokens made with
softhsm2-util, key objects made through python-pkcs11 *in a child process*.

Why a child process: a python-pkcs11 ``lib`` object finalizes the module when it is dropped,
which would break the sessions of the provider under test loaded in the same process; and
SoftHSM reads its config (SOFTHSM2_CONF) once, at C_Initialize.

Run as a script (``python softhsm.py make-keys``) it reads a JSON job on stdin and prints JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def find_module() -> str | None:
    env = os.environ.get("SOFTHSM2_MODULE")
    if env and Path(env).is_file():
        return env
    return next((p for p in MODULE_CANDIDATES if Path(p).is_file()), None)


def missing_reason() -> str | None:
    """Why SoftHSM tests cannot run here (None when they can)."""
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util not found (apt-get install softhsm2)"
    if find_module() is None:
        return "libsofthsm2.so not found (set SOFTHSM2_MODULE)"
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        return "python-pkcs11 is not installed (pip install 'sopsy[pkcs11]')"
    return None


@dataclass
class SoftHsm:
    root: Path
    module: str
    conf: Path
    pins: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {"SOFTHSM2_CONF": str(self.conf)}

    def init_token(self, label: str, pin: str, so_pin: str = "87654321") -> None:
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin],
            check=True, capture_output=True, env={**os.environ, **self.env},
        )
        self.pins[label] = pin

    def make_keys(self, token: str, keys: list[dict[str, Any]]) -> dict[str, Any]:
        """Create key objects on ``token``; see :func:`_make_keys` for the job format."""
        job = {"module": self.module, "token": token, "pin": self.pins[token], "keys": keys}
        proc = subprocess.run(
            [sys.executable, __file__, "make-keys"], input=json.dumps(job), text=True,
            capture_output=True, env={**os.environ, **self.env}, check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"making SoftHSM keys failed: {proc.stderr.strip()[-2000:]}")
        return json.loads(proc.stdout)  # type: ignore[no-any-return]


def start(root: Path) -> SoftHsm:
    """A fresh, empty SoftHSM token store under ``root``; sets SOFTHSM2_CONF for this process."""
    module = find_module()
    if module is None:
        raise RuntimeError("libsofthsm2.so not found")
    tokens = root / "tokens"
    tokens.mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
                    "slots.removable = false\n")
    return SoftHsm(root, module, conf)


def _make_keys(job: dict[str, Any]) -> dict[str, Any]:
    """Job keys: ``{"kind": "rsa-generate"|"rsa-import"|"aes-generate"|"aes-import", "label", "id"
    (hex, optional)}``. Imports return their secret (PEM or hex) so tests can check the wire
    format independently of the token."""
    import pkcs11
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from pkcs11 import Attribute, KeyType, ObjectClass

    def b(n: int) -> bytes:
        return n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")

    out: dict[str, Any] = {}
    lib = pkcs11.lib(job["module"])
    token = lib.get_token(token_label=job["token"])
    with token.open(rw=True, user_pin=job["pin"]) as s:
        for k in job["keys"]:
            label = k["label"]
            ident = bytes.fromhex(k.get("id", "")) if k.get("id") else label.encode()
            kind = k["kind"]
            if kind == "rsa-generate":
                s.generate_keypair(KeyType.RSA, int(k.get("bits", 2048)), label=label, id=ident, store=True)
            elif kind == "rsa-import":
                priv = rsa.generate_private_key(65537, int(k.get("bits", 2048)))
                pn = priv.private_numbers()
                common = {Attribute.KEY_TYPE: KeyType.RSA, Attribute.TOKEN: True, Attribute.LABEL: label,
                          Attribute.ID: ident, Attribute.MODULUS: b(pn.public_numbers.n),
                          Attribute.PUBLIC_EXPONENT: b(pn.public_numbers.e)}
                s.create_object({**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ENCRYPT: True,
                                 Attribute.PRIVATE: False})
                s.create_object({**common, Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.DECRYPT: True,
                                 Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                                 Attribute.PRIVATE_EXPONENT: b(pn.d), Attribute.PRIME_1: b(pn.p),
                                 Attribute.PRIME_2: b(pn.q), Attribute.EXPONENT_1: b(pn.dmp1),
                                 Attribute.EXPONENT_2: b(pn.dmq1), Attribute.COEFFICIENT: b(pn.iqmp)})
                out[label] = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()).decode()
            elif kind == "aes-generate":
                s.generate_key(KeyType.AES, 256, label=label, id=ident, store=True)
            elif kind == "aes-import":
                value = os.urandom(32)
                s.create_object({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES,
                                 Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                                 Attribute.ENCRYPT: True, Attribute.DECRYPT: True, Attribute.LABEL: label,
                                 Attribute.ID: ident, Attribute.VALUE: value})
                out[label] = value.hex()
            else:
                raise ValueError(f"unknown key kind {kind}")
    return out


if __name__ == "__main__":
    if sys.argv[1:] == ["make-keys"]:
        print(json.dumps(_make_keys(json.load(sys.stdin))))
    else:
        sys.exit("usage: softhsm.py make-keys < job.json")

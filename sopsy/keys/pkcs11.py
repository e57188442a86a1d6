"""PKCS#11 tokens (HSMs, smart cards, SoftHSM) as master keys, named by RFC 7512 URIs.

Two mechanisms, picked by the kind of key object the URI names:

* ``rsa-oaep-sha256``: a token-held RSA key pair. Wrapping reads only the public key (no PIN)
  and encrypts in software; unwrapping runs on the token with the private key. Tokens that
  refuse SHA-256 OAEP parameters (SoftHSM 2.6 accepts only SHA-1) get a raw RSA decryption on
  the token and the OAEP decoding here, so the on-disk format never depends on the token.
* ``aes-gcm``: an AES key that never leaves the token; both directions run on the token, with
  a random 96-bit nonce; ``enc`` = base64(nonce || ciphertext || tag), AAD ``sopsy-pkcs11``.

URIs are parsed in :mod:`.pkcs11_uri`. The ``pkcs11`` package is imported only when a key is
used. See docs/pkcs11.md.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ctypes.util
import getpass
import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from ..errors import KeyUnavailable, UsageError
from ..fileio import interactive
from ..metadata import KeyEntry
from . import KeySpec, created_at
from .pkcs11_uri import (  # noqa: F401  (the URI API, re-exported: callers import it from here)
    ENV_ALLOW_ARGV_PIN,
    ENV_MODULE,
    ENV_PIN,
    ENV_URIS,
    Pin,
    Pkcs11Uri,
    env_specs,
    parse_arg,
    parse_pkcs11_arg,
    parse_uri,
    strip_pin_value,
)

MECH_RSA = "rsa-oaep-sha256"
MECH_AES = "aes-gcm"
MECHANISMS = (MECH_RSA, MECH_AES)
GCM_AAD = b"sopsy-pkcs11"
GCM_NONCE_BYTES = 12

# -- RSA-OAEP decoding (for tokens that only do raw RSA with SHA-256 OAEP) -------------------------


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def oaep_sha256_decode(em: bytes, k: int) -> bytes:
    """EME-OAEP decoding (RFC 8017 §7.1.2, SHA-256, MGF1-SHA-256, empty label).

    Every failure gives the same error, and the checks are combined before raising, so the
    reason does not leak (the classic Manger oracle)."""
    h = 32
    em = em.rjust(k, b"\x00")
    if len(em) != k or k < 2 * h + 2:
        raise KeyUnavailable("the token gave a raw RSA block of the wrong size")
    y, masked_seed, masked_db = em[0], em[1:1 + h], em[1 + h:]
    seed = bytes(a ^ b for a, b in zip(masked_seed, _mgf1(masked_db, h), strict=True))
    db = bytes(a ^ b for a, b in zip(masked_db, _mgf1(seed, k - h - 1), strict=True))
    good = hmac.compare_digest(db[:h], hashlib.sha256(b"").digest()) and y == 0
    rest = db[h:]
    sep = rest.find(b"\x01")
    good = good and sep >= 0 and not any(rest[:sep])
    if not good:
        raise KeyUnavailable("the token's RSA key did not decrypt this entry (wrong key?)")
    return rest[sep + 1:]


# -- the provider --------------------------------------------------------------------------------


def _pin_from_source(source: str) -> str:
    """RFC 7512 pin-source: a ``file:`` URI or a path; the PIN is the first line."""
    path = source
    if source.lower().startswith("file://"):
        path = unquote_to_bytes(source[7:]).decode()
    elif source.lower().startswith("file:"):
        path = unquote_to_bytes(source[5:]).decode()
    try:
        text = Path(path).expanduser().read_text()
    except OSError as exc:
        raise KeyUnavailable(f"cannot read the PIN from pin-source: {exc.strerror}") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def _require_sdk() -> None:
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        raise KeyUnavailable("PKCS#11 keys need python-pkcs11: pip install 'sopsy[pkcs11]'") from None


@contextlib.contextmanager
def _pkcs11_errors(uri: Pkcs11Uri) -> Iterator[None]:
    """Turn python-pkcs11 exceptions into one-line KeyUnavailable reasons."""
    import pkcs11.exceptions as px

    try:
        yield
    except KeyUnavailable:
        raise
    except px.NoSuchKey:
        raise KeyUnavailable(f"no key object matches {uri.object_label()} on token {uri.token_label()}") from None
    except px.MultipleObjectsReturned:
        raise KeyUnavailable(f"several key objects match {uri.object_label()}: add id= or type= to the URI") from None
    except (px.TokenNotPresent, px.DeviceRemoved, px.NoSuchToken, px.SlotIDInvalid):
        raise KeyUnavailable(f"token {uri.token_label()} is not present") from None
    except px.PinIncorrect:
        raise KeyUnavailable(f"wrong PIN for token {uri.token_label()}") from None
    except px.PinLocked:
        raise KeyUnavailable(f"the user PIN of token {uri.token_label()} is locked") from None
    except (px.PinInvalid, px.PinLenRange):
        raise KeyUnavailable(f"the PIN for token {uri.token_label()} has an invalid length or characters") from None
    except px.UserPinNotInitialized:
        raise KeyUnavailable(f"token {uri.token_label()} has no user PIN set") from None
    except px.PKCS11Error as exc:
        raise KeyUnavailable(f"PKCS#11 error {type(exc).__name__} on token {uri.token_label()}") from None


# One lib object per module for the whole process (shared by provider instances): a dropped
# lib object finalizes the module, which would break every other session on it.
_LIBS: dict[str, Any] = {}


class Pkcs11Provider:
    type_name = "pkcs11"

    def __init__(self) -> None:
        # PINs that worked, per (module, token serial), so several entries ask only once
        self._pins: dict[tuple[str, str], str] = {}

    # -- module, token, session --------------------------------------------------------------

    def _module_path(self, uri: Pkcs11Uri) -> str:
        explicit = uri.get("module-path")
        env = os.environ.get(ENV_MODULE)
        if explicit and (Path(explicit).exists() or not env):
            return explicit
        if env:
            # also when the URI's module-path does not exist here (a file made on another machine)
            return env
        name = uri.get("module-name")
        if name:
            found = ctypes.util.find_library(name)
            if found:
                return found
            raise KeyUnavailable(f"PKCS#11 module-name {name!r} was not found (give module-path= or {ENV_MODULE})")
        raise KeyUnavailable(f"no PKCS#11 module: add module-path= to the URI or set {ENV_MODULE}")

    def _lib(self, uri: Pkcs11Uri) -> Any:
        path = self._module_path(uri)
        lib = _LIBS.get(path)
        if lib is None:
            import pkcs11
            import pkcs11.exceptions as px

            try:
                lib = pkcs11.lib(path)
            except px.PKCS11Error as exc:
                reason = str(exc).split(": ")[-1] or type(exc).__name__
                raise KeyUnavailable(f"cannot load PKCS#11 module {path}: {reason}") from None
            _LIBS[path] = lib
        return lib

    def _token(self, uri: Pkcs11Uri) -> Any:
        from pkcs11 import TokenFlag

        lib = self._lib(uri)
        for name, got in (("library-manufacturer", lib.manufacturer_id),
                          ("library-description", lib.library_description),
                          ("library-version", "{}.{}".format(*lib.library_version))):
            want = uri.get(name)
            if want is not None and want != got:
                raise KeyUnavailable(f"the PKCS#11 module does not match {name}={want}")
        found = []
        for slot in lib.get_slots(token_present=True):
            if not _slot_matches(uri, slot):
                continue
            token = slot.get_token()
            if not token.flags & TokenFlag.TOKEN_INITIALIZED:
                continue
            if _token_matches(uri, token):
                found.append(token)
        if not found:
            raise KeyUnavailable(f"no token matching {uri.token_label()} is present")
        if len(found) > 1:
            raise KeyUnavailable(f"{len(found)} tokens match {uri.token_label()}: name one with token= or serial=")
        return found[0]

    def _pin(self, uri: Pkcs11Uri, token: Any, given: str | None) -> tuple[str, str]:
        """(PIN, where it came from) — the source goes into error messages, the PIN never."""
        if given is not None:
            return given, "the key's pin-value"
        pin = uri.get("pin-value")
        if pin is not None:
            return pin, "the URI"
        source = uri.get("pin-source")
        if source:
            return _pin_from_source(source), "pin-source"
        cached = self._pins.get(_token_key(uri, token))
        if cached is not None:
            return cached, "earlier"
        env = os.environ.get(ENV_PIN)
        if env is not None:
            return env, ENV_PIN
        if interactive():
            return getpass.getpass(f"PIN for PKCS#11 token {token.label}: "), "the prompt"
        raise KeyUnavailable(f"token {uri.token_label()} needs a PIN: use pin-source= in the URI, "
                             f"{ENV_PIN}, or run on a terminal")

    @contextlib.contextmanager
    def _session(self, uri: Pkcs11Uri, login: bool, given_pin: str | None = None) -> Iterator[Any]:
        from pkcs11 import PROTECTED_AUTH, TokenFlag
        from pkcs11.exceptions import PinIncorrect

        with _pkcs11_errors(uri):
            token = self._token(uri)
            if not login or not token.flags & TokenFlag.LOGIN_REQUIRED:
                session = token.open()
            elif token.flags & TokenFlag.PROTECTED_AUTHENTICATION_PATH:
                session = token.open(user_pin=PROTECTED_AUTH)  # PIN pad on the reader
            else:
                pin, origin = self._pin(uri, token, given_pin)
                try:
                    session = token.open(user_pin=pin)
                except PinIncorrect:
                    self._pins.pop(_token_key(uri, token), None)
                    raise KeyUnavailable(f"wrong PIN for token {uri.token_label()} (from {origin})") from None
                self._pins[_token_key(uri, token)] = pin
            with session:
                yield session

    # -- key objects ------------------------------------------------------------------------

    def _find(self, session: Any, uri: Pkcs11Uri, object_class: Any, key_type: Any = None) -> Any:
        import pkcs11.exceptions as px
        from pkcs11 import Attribute

        template: dict[Any, Any] = {Attribute.CLASS: object_class}
        if key_type is not None:
            template[Attribute.KEY_TYPE] = key_type
        label = uri.get("object")
        if label is not None:
            template[Attribute.LABEL] = label
        ident = uri.get_bytes("id")
        if ident is not None:
            template[Attribute.ID] = ident
        # list() runs the search to its end: an abandoned search breaks when the session closes
        found = list(session.get_objects(template))
        if len(found) > 1:
            raise px.MultipleObjectsReturned()
        return found[0] if found else None

    def _mechanism_for(self, uri: Pkcs11Uri, pin: str | None) -> str:
        """Which mechanism the URI's object supports: a public RSA key first (no PIN needed)."""
        from pkcs11 import KeyType, ObjectClass

        kind = uri.get("type")
        if kind in ("public", "private"):
            return MECH_RSA
        if kind == "secret-key":
            return MECH_AES
        if kind is not None:
            raise KeyUnavailable(f"a {kind} object cannot wrap a data key (use a key pair or an AES key)")
        with self._session(uri, login=False) as s:
            if self._find(s, uri, ObjectClass.PUBLIC_KEY, KeyType.RSA) is not None:
                return MECH_RSA
        with self._session(uri, login=True, given_pin=pin) as s:
            if self._find(s, uri, ObjectClass.SECRET_KEY, KeyType.AES) is not None:
                return MECH_AES
            if self._find(s, uri, ObjectClass.PUBLIC_KEY, KeyType.RSA) is not None:
                return MECH_RSA
        raise KeyUnavailable(f"no RSA public key or AES key matches {uri.object_label()} on token {uri.token_label()}")

    def _rsa_public(self, uri: Pkcs11Uri, pin: str | None) -> Any:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from pkcs11 import Attribute, KeyType, ObjectClass

        numbers: tuple[bytes, bytes] | None = None
        # public objects are usually readable without login; try that first so no PIN is asked
        for login in (False, True):
            with self._session(uri, login=login, given_pin=pin) as s:
                key = self._find(s, uri, ObjectClass.PUBLIC_KEY, KeyType.RSA)
                if key is not None:
                    numbers = (key[Attribute.MODULUS], key[Attribute.PUBLIC_EXPONENT])
                    break
        if numbers is None:
            raise KeyUnavailable(f"no RSA public key matches {uri.object_label()} on token {uri.token_label()}")
        n, e = (int.from_bytes(b, "big") for b in numbers)
        return rsa.RSAPublicNumbers(e, n).public_key()

    # -- KeyProvider ----------------------------------------------------------------------------

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        try:
            _require_sdk()
            uri = parse_uri(spec.id)
            pin = spec.options.get("pin")
            mech = spec.options.get("mechanism") or self._mechanism_for(uri, pin)
            if mech == MECH_RSA:
                enc = self._wrap_rsa(uri, pin, payload)
            elif mech == MECH_AES:
                enc = self._wrap_aes(uri, pin, payload)
            else:
                raise KeyUnavailable(f"unknown mechanism {mech!r} (sopsy knows {', '.join(MECHANISMS)})")
        except KeyUnavailable as exc:
            # encryption cannot skip a key the way decryption does: make it a user-facing error
            raise UsageError(f"cannot wrap the data key for PKCS#11 key {strip_pin_value(spec.id)}: {exc}") from None
        return KeyEntry("pkcs11", {"uri": uri.text(with_pin=False), "mechanism": mech,
                                   "created_at": created_at(), "enc": enc})

    def _wrap_rsa(self, uri: Pkcs11Uri, pin: str | None, payload: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        public = self._rsa_public(uri, pin)
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        try:
            ct = public.encrypt(payload, oaep)
        except ValueError:
            raise KeyUnavailable("the RSA key is too small for OAEP with SHA-256") from None
        return base64.b64encode(ct).decode()

    def _wrap_aes(self, uri: Pkcs11Uri, pin: str | None, payload: bytes) -> str:
        from pkcs11 import KeyType, Mechanism, ObjectClass
        from pkcs11.mechanisms import GCMParams

        nonce = os.urandom(GCM_NONCE_BYTES)
        with self._session(uri, login=True, given_pin=pin) as s:
            key = self._find(s, uri, ObjectClass.SECRET_KEY, KeyType.AES)
            if key is None:
                raise KeyUnavailable(f"no AES key matches {uri.object_label()} on token {uri.token_label()}")
            ct = key.encrypt(payload, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, GCM_AAD))
        return base64.b64encode(nonce + bytes(ct)).decode()

    def unwrap(self, entry: KeyEntry) -> bytes:
        _require_sdk()
        try:
            uri = parse_uri(str(entry.fields.get("uri") or ""))
        except UsageError as exc:
            raise KeyUnavailable(str(exc)) from None
        mech = str(entry.fields.get("mechanism") or "")
        try:
            blob = base64.b64decode(entry.enc, validate=True)
        except (ValueError, binascii.Error):
            raise KeyUnavailable("the enc field is not base64") from None
        if mech == MECH_RSA:
            return self._unwrap_rsa(uri, blob)
        if mech == MECH_AES:
            return self._unwrap_aes(uri, blob)
        raise KeyUnavailable(f"unknown mechanism {mech!r} (sopsy knows {', '.join(MECHANISMS)})")

    def _unwrap_rsa(self, uri: Pkcs11Uri, blob: bytes) -> bytes:
        import pkcs11.exceptions as px
        from pkcs11 import MGF, KeyType, Mechanism, ObjectClass

        with self._session(uri, login=True) as s:
            key = self._find(s, uri, ObjectClass.PRIVATE_KEY, KeyType.RSA)
            if key is None:
                raise KeyUnavailable(f"no RSA private key matches {uri.object_label()} on token {uri.token_label()}")
            try:
                return bytes(key.decrypt(blob, mechanism=Mechanism.RSA_PKCS_OAEP,
                                         mechanism_param=(Mechanism.SHA256, MGF.SHA256, None)))
            except (px.ArgumentsBad, px.MechanismParamInvalid, px.MechanismInvalid):
                pass  # the token cannot do SHA-256 OAEP: raw RSA on the token, OAEP decoding here
            except (px.EncryptedDataInvalid, px.EncryptedDataLenRange):
                raise KeyUnavailable("the token's RSA key did not decrypt this entry (wrong key?)") from None
            k = (int(key.key_length) + 7) // 8
            if len(blob) != k:
                raise KeyUnavailable("the entry was not made for this RSA key (size differs)")
            try:
                raw = bytes(key.decrypt(blob, mechanism=Mechanism.RSA_X_509))
            except (px.EncryptedDataInvalid, px.EncryptedDataLenRange, px.GeneralError, px.FunctionFailed):
                # SoftHSM answers a ciphertext above the key's modulus (someone else's key) with
                # CKR_GENERAL_ERROR, below it with a wrong padding: both mean "not this key"
                raise KeyUnavailable("the token's RSA key did not decrypt this entry (wrong key?)") from None
            return oaep_sha256_decode(raw, k)

    def _unwrap_aes(self, uri: Pkcs11Uri, blob: bytes) -> bytes:
        import pkcs11.exceptions as px
        from pkcs11 import KeyType, Mechanism, ObjectClass
        from pkcs11.mechanisms import GCMParams

        if len(blob) < GCM_NONCE_BYTES + 16:
            raise KeyUnavailable("the enc field is too short for AES-GCM")
        nonce, ct = blob[:GCM_NONCE_BYTES], blob[GCM_NONCE_BYTES:]
        with self._session(uri, login=True) as s:
            key = self._find(s, uri, ObjectClass.SECRET_KEY, KeyType.AES)
            if key is None:
                raise KeyUnavailable(f"no AES key matches {uri.object_label()} on token {uri.token_label()}")
            try:
                return bytes(key.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, GCM_AAD)))
            except (px.EncryptedDataInvalid, px.EncryptedDataLenRange, px.FunctionFailed, px.GeneralError):
                raise KeyUnavailable("the token's AES key did not authenticate this entry (wrong key?)") from None

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        mech = entry.fields.get("mechanism")
        return KeySpec("pkcs11", str(entry.fields.get("uri", "")), {"mechanism": mech} if mech else {})


def _slot_matches(uri: Pkcs11Uri, slot: Any) -> bool:
    want_id = uri.get("slot-id")
    if want_id is not None and int(want_id) != int(slot.slot_id):
        return False
    for name, got in (("slot-description", slot.slot_description), ("slot-manufacturer", slot.manufacturer_id)):
        want = uri.get(name)
        if want is not None and want != str(got).rstrip():
            return False
    return True


def _token_matches(uri: Pkcs11Uri, token: Any) -> bool:
    serial = token.serial.decode("ascii", "replace") if isinstance(token.serial, bytes) else str(token.serial)
    for name, got in (("token", token.label), ("manufacturer", token.manufacturer_id),
                      ("model", token.model), ("serial", serial)):
        want = uri.get(name)
        if want is not None and want != str(got).rstrip():
            return False
    return True


def _token_key(uri: Pkcs11Uri, token: Any) -> tuple[str, str]:
    serial = token.serial.decode("ascii", "replace") if isinstance(token.serial, bytes) else str(token.serial)
    return (uri.get("module-path") or "", f"{token.label}/{serial}")


PROVIDER = Pkcs11Provider()

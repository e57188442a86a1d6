"""The Python API: decrypt, encrypt and edit sops files from a program.

Everything here is reached through ``import sopsy`` (``sopsy.load``, ``sopsy.decrypt``...), and
importing ``sopsy`` imports none of it until it is used (no cloud SDK, no typer). The CLI runs
the same core functions (:mod:`sopsy.core`, the stores, the editing operations), so a file the
API writes is the file the CLI would write. Errors are the classes of :mod:`sopsy.errors`, each
with the exit code the CLI would give (``exc.exit_code``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import core
from .errors import UsageError
from .fileio import decode, encode, read_bytes, write_if_unchanged
from .model import Node, Scalar, to_data
from .stores import get_store, store_name_for
from .values import GoTime

__all__ = ["load", "loads", "decrypt", "encrypt", "edit"]

_INTEGER = re.compile(r"-?[0-9]+")


def _store(format: str | None, path: str | None) -> Any:
    return get_store(format or store_name_for(path))


def _python(value: Any) -> Any:
    """Model data as Python data: a timestamp becomes a ``datetime`` (to the microsecond)."""
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, GoTime):
        from datetime import datetime

        text = value.text.replace("Z", "+00:00")
        head, dot, rest = text.partition(".")
        if dot:  # Python keeps microseconds: cut nanoseconds, keep the offset
            digits = "".join(c for c in rest if c.isdigit())
            text = f"{head}.{digits[:6]}{rest[len(digits):]}"
        return datetime.fromisoformat(text)
    return value


def _leaf(node: Scalar) -> Any:
    """A scalar's Python value: a number written as an integer is an ``int``, as ``json.loads``
    gives it (sops's model makes every JSON number a float: ``5432`` would be ``5432.0``)."""
    v, spelling = node.value, node.spelling
    if isinstance(v, float) and spelling is not None and _INTEGER.fullmatch(spelling):
        return int(spelling)
    return v


def _view(node: Node) -> Any:
    return _python(to_data(node, _leaf))


def _opened_data(opened: core.Opened) -> Any:
    if opened.store.name == "dotenv":
        from .commands import environment_of

        return environment_of(opened)
    docs = [_view(d) for d in opened.parsed.documents]
    return docs[0] if len(docs) == 1 else docs


def loads(data: bytes | str, *, format: str, ignore_mac: bool = False,
          decryption_order: str | None = None) -> Any:
    """Decrypt an encrypted file's contents and parse them into Python data: a dict for YAML,
    JSON, INI and tfvars (a list of dicts for a multi-document YAML file), the variables
    (str to str) for dotenv, ``{"data": str}`` for binary. The MAC is checked first."""
    return _loads(data, format, ignore_mac, decryption_order)


def _loads(data: bytes | str, format: str, ignore_mac: bool, decryption_order: str | None,
           name: str | None = None) -> Any:
    text = decode(data) if isinstance(data, bytes) else data
    return _opened_data(core.decrypt_text(get_store(format), text, ignore_mac, decryption_order, name=name))


def load(path: str | os.PathLike[str], *, format: str | None = None, ignore_mac: bool = False,
         decryption_order: str | None = None) -> Any:
    """:func:`loads` of the file at ``path`` (format from its name unless given)."""
    name = os.fspath(path)
    return _loads(read_bytes(name), format or store_name_for(name), ignore_mac, decryption_order, name)


def decrypt(data: bytes | str, *, format: str, ignore_mac: bool = False,
            decryption_order: str | None = None) -> bytes:
    """The plaintext file, byte for byte as it was before encryption (MAC checked first)."""
    text = decode(data) if isinstance(data, bytes) else data
    return encode(core.decrypt_text(get_store(format), text, ignore_mac, decryption_order).printed())


def _strings(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def encrypt(data: bytes | str, *, format: str, age: str | Sequence[str] = (), pgp: str | Sequence[str] = (),
            kms: str | Sequence[str] = (), gcp_kms: str | Sequence[str] = (), azure_kv: str | Sequence[str] = (),
            hc_vault: str | Sequence[str] = (), pkcs11: str | Sequence[str] = (),
            rules: Mapping[str, str] | None = None, path: str | None = None) -> bytes:
    """Encrypt a plaintext file's contents. Keys are given as on the command line (each a
    recipient, fingerprint, ARN, ... or a comma-separated list); with none, the creation rule
    that matches ``path`` in the nearest ``.sops.yaml`` decides, as for the CLI. ``rules`` is
    one crypt rule, e.g. ``{"encrypted_regex": "^(password|token)$"}``."""
    from .commands import KeyOptions, encrypt_options

    keys = {"age": _strings(age), "pgp": _strings(pgp), "kms": _strings(kms), "gcp_kms": _strings(gcp_kms),
            "azure_kv": _strings(azure_kv), "hc_vault": _strings(hc_vault), "pkcs11": _strings(pkcs11)}
    opts = encrypt_options(path, KeyOptions(keys=keys, crypt=dict(rules or {})))
    text = decode(data) if isinstance(data, bytes) else data
    store = get_store(format)
    parsed = store.parse(text)
    return encode(core.encrypt_parsed(store, parsed, opts))


@contextlib.contextmanager
def edit(path: str | os.PathLike[str], *, format: str | None = None,
         decryption_order: str | None = None) -> Iterator[Any]:
    """Decrypt ``path`` into Python data, let the caller change it, and write it back on a
    normal exit (nothing is written if the block raises or changes nothing). Only the changed
    values change in the file: they go through the same editing operations as ``sopsy set``,
    so layout, comments and the ciphertext of every other value stay as they were."""
    from .treediff import diff

    name = os.fspath(path)
    store = _store(format, name)
    raw = read_bytes(name)
    opened = core.decrypt_text(store, decode(raw), False, decryption_order, name=name)
    if store.name in ("dotenv", "binary"):
        raise UsageError(f"{name}: sopsy.edit works on YAML, JSON, INI and tfvars files")
    docs = opened.parsed.documents
    if len(docs) != 1:
        raise UsageError(f"{name}: sopsy.edit needs a single-document file")
    data = _view(docs[0])
    yield data
    plain = store.parse(opened.plaintext())
    edits = diff(plain.documents[0], data, view=_view, build=_model_data)
    if edits:
        new_text = store.apply_edits(plain, edits)
        # the block may take any time: write only if nobody changed the file meanwhile
        write_if_unchanged(name, raw, core.reencrypt(opened, new_text))


def _model_data(value: Any) -> Any:
    """Python data back to model data (a datetime becomes a sops timestamp)."""
    from datetime import datetime

    if isinstance(value, dict):
        return {str(k): _model_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_model_data(v) for v in value]
    if isinstance(value, datetime):
        from .values import canonical_time

        off = value.utcoffset()
        if off is None:
            raise UsageError("a datetime needs a time zone to be stored (sops timestamps carry one)")
        return canonical_time(value.year, value.month, value.day, value.hour, value.minute, value.second,
                              f"{value.microsecond:06d}", int(off.total_seconds() // 60))
    if value is not None and not isinstance(value, str | int | float | bool):
        raise UsageError(f"sopsy.edit cannot store a {type(value).__name__} value")
    return value

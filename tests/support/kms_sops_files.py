"""Whole sops files for the KMS interop tests, built without any store: the tree is encrypted by
the core engine and written as JSON by hand (the JSON store is developed separately)."""

from __future__ import annotations

import json
from typing import Any

from sopsy import SOPS_FORMAT_VERSION, engine
from sopsy.cipher import ValueCipher
from sopsy.metadata import KeyEntry, Metadata, mac_aad, now_rfc3339
from sopsy.model import Mapping, Node, Scalar, Sequence, from_data
from sopsy.rules import Matcher


def _encrypted_data(node: Node) -> Any:
    if isinstance(node, Scalar):
        return node.enc if node.enc is not None else node.value
    if isinstance(node, Mapping):
        return {k: _encrypted_data(v) for k, v in node.items if k is not None}
    if isinstance(node, Sequence):
        return [_encrypted_data(v) for v in node.items]
    return None


def sops_json(data: dict[str, Any], data_key: bytes, entries: list[KeyEntry]) -> str:
    """A sops JSON file holding ``data``, its values encrypted with ``data_key``, keys in one group."""
    cipher = ValueCipher(data_key)
    doc = from_data(data)
    assert isinstance(doc, Mapping)
    mac_hex = engine.encrypt_documents([doc], cipher, Matcher(None))
    meta = Metadata(key_groups=[entries], version=SOPS_FORMAT_VERSION)
    meta.lastmodified = now_rfc3339()
    meta.mac = cipher.encrypt(mac_hex.encode(), mac_aad(meta.lastmodified), "str", fresh_iv=True)
    out = _encrypted_data(doc)
    out["sops"] = meta.to_dict()
    return json.dumps(out, indent=4) + "\n"


def decrypt_value(enc: str, data_key: bytes, path: tuple[str, ...]) -> bytes:
    """One value of a sops file, decrypted with the data key and its tree path as AAD."""
    plaintext, _tag = ValueCipher(data_key).decrypt(enc, engine.aad_of(path))
    return plaintext

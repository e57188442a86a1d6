"""``sopsy git textconv FILE``: what ``git diff`` shows for an encrypted file. It never fails.

* a file without sops metadata (a README under ``secrets/``) passes through unchanged;
* without a usable key (or with a MAC that does not match) the file is shown as it is, after a
  one-line note on stderr, and the exit status is 0: a diff must not abort because one file
  cannot be decrypted;
* with a key: the plaintext, then a short summary of the metadata that matters in a review
  (recipients per key group, the crypt rule, Shamir threshold, ``mac_only_encrypted``, and a
  fingerprint of the data key that changes when it is rotated), never ``lastmodified``, the MAC
  or wrapped-key blobs, whose churn would only hide the change;
* a file the merge driver left with conflict markers (``git diff`` during a conflict): both
  sides decrypted, with plain markers around what clashed, as ``sopsy git resolve`` shows it.

git runs this once per file and version, so it starts on the typer-free path (sopsy/entry.py).
"""

from __future__ import annotations

import sys

from . import core
from .errors import KeyRetrievalError, SopsyError
from .fileio import decode, read_bytes, write_stdout
from .stores import get_store, store_name_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .metadata import Metadata
    from .stores import Store

FOOTER = "# --- sops metadata (shown by sopsy for diffs; not part of the file) ---\n"


def textconv(path: str, input_type: str | None = None) -> int:
    data = read_bytes(path)
    try:
        out = convert(data, path, input_type)
    except KeyRetrievalError:
        _note(f"{path}: no key to decrypt it here; showing the encrypted file")
        out = data
    except SopsyError as exc:
        _note(f"{path}: not decrypted ({exc}); showing the file as it is")
        out = data
    write_stdout(out)
    return 0


def _note(message: str) -> None:
    print(f"sopsy: {message}", file=sys.stderr)


def convert(data: bytes, path: str, input_type: str | None = None) -> bytes:
    """The plaintext and the metadata summary, or ``data`` itself for a file without sops metadata."""
    from .merge.markers import has_conflict

    store = get_store(input_type or store_name_for(path))
    if has_conflict(data):
        return _conflict_view(store, data, path)
    plain, data_key = core.decrypt_fast(store, data)
    scan_fn = getattr(store, "fast_scan", None)
    scan = scan_fn(data) if plain is not None and scan_fn is not None else None
    if plain is not None and scan is not None and data_key is not None:
        from .metadata import Metadata

        return _with_summary(plain, Metadata.from_dict(scan.metadata), data_key)
    try:
        parsed = store.parse(decode(data))
    except SopsyError:
        if b"ENC[AES256_GCM," in data and b"sops" in data:
            raise
        return data  # not something sopsy reads: show it as it is
    if parsed.metadata is None:
        return data
    opened = core.open_parsed(store, parsed, data_key=data_key)
    return _with_summary(opened.printed().encode("utf-8", "surrogateescape"), opened.metadata,
                         opened.cipher.data_key)


def _conflict_view(store: Store, data: bytes, path: str) -> bytes:
    """A file the merge driver left marked (``git diff`` during a conflict): both sides decrypted,
    with plain markers around what clashed, as ``sopsy git resolve`` shows it."""
    from .merge import markers
    from .merge.resolve import open_sides

    try:
        ours, theirs, _ = open_sides(store, path, decode(data))
    except KeyRetrievalError:
        raise
    except (SopsyError, ValueError) as exc:
        from .merge.remerge import HINT, is_line_merge

        why = f"{HINT}; `sopsy git resolve {path}` merges it again" if is_line_merge(decode(data)) else str(exc)
        _note(f"{path}: holds conflict markers that sopsy cannot open ({why}); showing the file as it is")
        return data
    text = markers.interleave(ours.plaintext(), theirs.plaintext(), "ours", "theirs")
    return _with_summary(text.encode("utf-8", "surrogateescape"), ours.metadata, ours.cipher.data_key)


def summary(meta: Metadata, data_key: bytes) -> str:
    from hashlib import sha256

    lines = []
    for gi, group in enumerate(meta.key_groups):
        for e in group:
            lines.append(f"# key group {gi + 1}: {e.type} {e.identity}\n")
    if meta.shamir_threshold:
        lines.append(f"# shamir_threshold: {meta.shamir_threshold}\n")
    if meta.crypt_rule is not None:
        lines.append(f"# {meta.crypt_rule.name}: {meta.crypt_rule.value}\n")
    if meta.mac_only_encrypted:
        lines.append("# mac_only_encrypted: true\n")
    # 32 bits of a hash of a random 256-bit key: enough to see a rotation, nothing to attack
    fingerprint = sha256(b"sopsy data key fingerprint\0" + data_key).hexdigest()[:8]
    lines.append(f"# data key fingerprint: {fingerprint}\n")
    return FOOTER + "".join(lines)


def _with_summary(plain: bytes, meta: Metadata, data_key: bytes) -> bytes:
    sep = b"" if not plain or plain.endswith(b"\n") else b"\n"
    return plain + sep + b"\n" + summary(meta, data_key).encode("utf-8", "surrogateescape")

"""Resolving a conflict the merge driver left: ``sopsy git resolve FILE`` (and ``sopsy edit`` on
a file with conflict markers).

The file holds ours' encrypted file with theirs' side of each clash between markers, both in
ciphertext. Each side is decrypted and checked: ours by the file's MAC, theirs by the MAC the
driver stored for it (``sopsy_conflict_mac``), or by its own metadata when the markers came from
git's line merge of two encrypted files. The editor then opens the plaintext with ordinary
markers around the clashing items; the file is written (encrypted, markers gone) only once no
marker is left. A clash in the metadata (crypt rule, threshold, ``mac_only_encrypted``) is
settled by ``--metadata ours|theirs`` or a question on the terminal.
"""

from __future__ import annotations

import json
import sys

from .. import core
from ..errors import InputError, UsageError
from ..fileio import atomic_write, interactive, read_text
from ..rules import CryptRule
from . import markers
from .driver import CONFLICT_MAC, CONFLICT_META, CONFLICT_META_AAD, _stash

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..metadata import Metadata
    from ..stores import Store


def open_sides(store: Store, path: str, text: str,
               decryption_order: str | None = None) -> tuple[core.Opened, core.Opened, dict[str, Any]]:
    """Ours' and theirs' side of a marked file, both checked, and theirs' metadata values that clash."""
    try:
        sides = markers.split(text)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    if sides is None:
        raise UsageError(f"{path}: no conflict markers: nothing to resolve")
    ours = core.decrypt_text(store, sides[0], decryption_order=decryption_order)
    parsed_b = store.parse(sides[1])
    mac_b = ours.metadata.extra.get(CONFLICT_MAC)
    if isinstance(mac_b, str) and parsed_b.metadata is not None:
        parsed_b.metadata = {**store.parse(sides[0]).metadata, "mac": mac_b}  # type: ignore[dict-item]
        theirs = core.open_parsed(store, parsed_b, data_key=ours.cipher.data_key)
    else:  # markers from git's own line merge: theirs' side carries its own metadata
        theirs = core.open_parsed(store, parsed_b, decryption_order=decryption_order)
    clashes: dict[str, Any] = {}
    blob = ours.metadata.extra.get(CONFLICT_META)
    if isinstance(blob, str):
        got = ours.cipher.try_decrypt(blob, CONFLICT_META_AAD)
        if got is None:
            raise InputError(f"{path}: the stored metadata conflict does not decrypt (the file was altered)")
        clashes = json.loads(got[0])
    return ours, theirs, clashes


def _choose(path: str, meta: Metadata, clashes: dict[str, Any], choice: str | None) -> None:
    for field, theirs in clashes.items():
        ours = {"crypt rule": [meta.crypt_rule.name, meta.crypt_rule.value] if meta.crypt_rule else None,
                "shamir_threshold": meta.shamir_threshold, "mac_only_encrypted": meta.mac_only_encrypted}.get(field)
        pick = choice
        if pick is None:
            if not interactive():
                raise UsageError(f"{path}: both sides changed the sops metadata ({field}: ours {ours}, theirs "
                                 f"{theirs}): choose with --metadata ours or --metadata theirs")
            answer = input(f"{path}: both sides changed {field}: ours {ours}, theirs {theirs}. "
                           "Keep [o]urs or [t]heirs? ").strip().lower()
            pick = "theirs" if answer.startswith("t") else "ours"
        if pick == "theirs":
            if field == "crypt rule":
                meta.crypt_rule = CryptRule(*theirs)
            elif field == "shamir_threshold":
                meta.shamir_threshold = int(theirs)
            elif field == "mac_only_encrypted":
                meta.mac_only_encrypted = bool(theirs)


def resolve(path: str, *, input_type: str | None = None, metadata: str | None = None,
            decryption_order: str | None = None) -> None:
    from ..commands import stores_for
    from ..editor import private_file, run_editor

    if metadata not in (None, "ours", "theirs"):
        raise UsageError("--metadata takes ours or theirs")
    store, _ = stores_for(path, input_type, None)
    ours, theirs, clashes = open_sides(store, path, read_text(path), decryption_order)
    _choose(path, ours.metadata, clashes, metadata)
    for field in (CONFLICT_MAC, CONFLICT_META):
        ours.metadata.extra.pop(field, None)
    _stash(ours.cipher, [theirs.cipher])
    plain_a, plain_b = ours.plaintext(), theirs.plaintext()
    if plain_a == plain_b:  # only the metadata clashed
        atomic_write(path, core.reencrypt(ours, plain_a))
        return
    marked = markers.interleave(plain_a, plain_b, "ours", "theirs")
    with private_file(marked, path) as tmp:
        while True:
            run_editor(tmp)
            with open(tmp, "rb") as f:
                edited = f.read().decode("utf-8", "surrogateescape")
            left = markers.marker_lines(edited)
            problem = (f"conflict markers remain at line{'s' if len(left) > 1 else ''} "
                       f"{', '.join(map(str, left[:10]))}: keep the lines you want and delete the markers") if left \
                else None
            if problem is None:
                try:
                    result = core.reencrypt(ours, edited)
                    break
                except (InputError, UsageError) as exc:
                    problem = str(exc)
            if not interactive():
                raise UsageError(f"{path}: {problem}; the file was not changed")
            print(f"sopsy: {path}: {problem}", file=sys.stderr)
            input("Press Enter to edit again, or Ctrl-C to give up: ")
    atomic_write(path, result)

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

from .. import core, datakey
from ..cipher import ValueCipher
from ..errors import InputError, NoFile, SopsyError, UsageError
from ..fileio import decode, interactive, locked, write_if_unchanged
from ..metadata import Metadata
from ..rules import RULE_NAMES, CryptRule
from . import markers
from .driver import CONFLICT_MAC, CONFLICT_META, CONFLICT_META_AAD, _stash
from .remerge import is_line_merge, remerge

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..stores import Store


def open_sides(store: Store, path: str, text: str,
               decryption_order: str | None = None) -> tuple[core.Opened, core.Opened, dict[str, Any]]:
    """Ours' and theirs' side of a marked file, both checked, and what the driver recorded about
    clashes in the metadata (``ours``/``theirs`` values by field)."""
    try:
        sides = markers.split(text)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    if sides is None:
        raise UsageError(f"{path}: no conflict markers: nothing to resolve")
    parsed_a, parsed_b = store.parse(sides[0]), store.parse(sides[1])
    if parsed_a.metadata is None:
        raise InputError(f"{path}: our side of the conflict has no sops metadata")
    meta = Metadata.from_dict(parsed_a.metadata)
    key = datakey.recover(meta, decryption_order)
    info: dict[str, Any] = {}
    blob = meta.extra.get(CONFLICT_META)
    if isinstance(blob, str):
        got = ValueCipher(key).try_decrypt(blob, CONFLICT_META_AAD)
        if got is None:
            raise InputError(f"{path}: the conflict record in the metadata does not decrypt (the file was altered)")
        info = json.loads(got[0])
    raw = dict(parsed_a.metadata)
    if info.get("values_rule"):  # the driver encrypted every value while the rule was in dispute
        for name in RULE_NAMES:
            raw.pop(name, None)
        raw[info["values_rule"][0]] = info["values_rule"][1]
    parsed_a.metadata = raw
    ours = core.open_parsed(store, parsed_a, data_key=key)
    mac_b = meta.extra.get(CONFLICT_MAC)
    if isinstance(mac_b, str):
        parsed_b.metadata = {**raw, "mac": mac_b}
        theirs = core.open_parsed(store, parsed_b, data_key=key)
    else:  # markers from git's own line merge: theirs' side carries its own metadata
        theirs = core.open_parsed(store, parsed_b, decryption_order=decryption_order)
    if "crypt rule" in info.get("ours", {}):
        ours.metadata.crypt_rule = _rule(info["ours"]["crypt rule"])
    return ours, theirs, info


def _rule(value: Any) -> CryptRule | None:
    return CryptRule(*value) if value else None


def _choose(path: str, meta: Metadata, info: dict[str, Any], choice: str | None) -> None:
    for field, theirs in info.get("theirs", {}).items():
        ours = info.get("ours", {}).get(field)
        pick = choice
        if pick is None:
            if not interactive():
                raise UsageError(f"{path}: both sides changed the sops metadata ({field}: ours {ours}, theirs "
                                 f"{theirs}): choose with --metadata ours or --metadata theirs")
            answer = input(f"{path}: both sides changed {field}: ours {ours}, theirs {theirs}. "
                           "Keep [o]urs or [t]heirs? ").strip().lower()
            pick = "theirs" if answer.startswith("t") else "ours"
        value = theirs if pick == "theirs" else ours
        if field == "crypt rule":
            meta.crypt_rule = _rule(value)
        elif field == "shamir_threshold":
            meta.shamir_threshold = int(value)
        elif field == "mac_only_encrypted":
            meta.mac_only_encrypted = bool(value)


def resolve(path: str, *, input_type: str | None = None, metadata: str | None = None,
            decryption_order: str | None = None, take: str | None = None) -> None:
    """Resolve in the editor, or with ``take`` (ours or theirs) each clash that side's way, as
    ``git merge -X ours|theirs`` would (git passes no -X to a merge driver)."""
    from ..commands import stores_for
    from ..editor import PrivateFile, run_editor

    if metadata not in (None, "ours", "theirs"):
        raise UsageError("--metadata takes ours or theirs")
    if take not in (None, "ours", "theirs"):
        raise UsageError("--take takes ours or theirs")
    metadata = metadata or take
    store, _ = stores_for(path, input_type, None)
    with locked(path) as f:
        raw = f.data
    if raw is None:
        raise NoFile(f"no such file: {path}")
    if markers.has_conflict(raw) and is_line_merge(decode(raw)):
        again = remerge(path, input_type)  # git's line merge of ciphertext: the driver's merge instead
        if again is not None:
            write_if_unchanged(path, raw, again[0])
            if not again[1]:
                return
            raw = again[0].encode("utf-8", "surrogateescape")
    ours, theirs, info = open_sides(store, path, decode(raw), decryption_order)
    _choose(path, ours.metadata, info, metadata)
    for field in (CONFLICT_MAC, CONFLICT_META):
        ours.metadata.extra.pop(field, None)
    _stash(ours.cipher, [theirs.cipher])
    plain_a, plain_b = ours.plaintext(), theirs.plaintext()
    if plain_a == plain_b or take is not None:  # only the metadata clashed, or a side is taken
        write_if_unchanged(path, raw, core.reencrypt(ours, plain_b if take == "theirs" else plain_a))
        return
    with PrivateFile(markers.interleave(plain_a, plain_b, "ours", "theirs"), path) as tmp:
        while True:
            run_editor(tmp.path)
            edited = tmp.read()
            left = markers.marker_lines(edited)
            problem = (f"conflict markers remain at line{'s' if len(left) > 1 else ''} "
                       f"{', '.join(map(str, left[:10]))}: keep the lines you want and delete the markers") if left \
                else None
            if problem is None:
                try:
                    result = core.reencrypt(ours, edited)
                    break
                except SopsyError as exc:
                    problem = str(exc)
            if not interactive():
                raise UsageError(f"{path}: {problem}; the file was not changed")
            print(f"sopsy: {path}: {problem}", file=sys.stderr)
            try:
                input("Press Enter to edit again, or Ctrl-C to give up: ")
            except EOFError:
                raise UsageError(f"{path}: {problem}; the file was not changed") from None
        try:
            write_if_unchanged(path, raw, result)
        except SopsyError as exc:  # changed meanwhile, or cannot be written: keep the resolution
            raise type(exc)(f"{exc}; your resolution is kept in {tmp.keep()} (plaintext: delete it when done)",
                            exc.exit_code) from None

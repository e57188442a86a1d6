"""``groups add`` / ``groups delete``: change a file's key groups, keeping its data key.

As in sops, the data key is recovered, the groups change, and every key re-wraps it (a new
Shamir split when there are several groups); values, MAC and ``lastmodified`` stay as they are.
"""

from __future__ import annotations

from . import core, datakey
from .errors import MetadataNotFound, UsageError
from .fileio import read_text
from .keys import KeySpec, provider
from .metadata import Metadata

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .stores import Store


def _load(store: Store, path: str) -> tuple[object, Metadata]:
    parsed = store.parse(read_text(path))
    if parsed.metadata is None:
        raise MetadataNotFound(f"{path}: sops metadata not found")
    return parsed, Metadata.from_dict(parsed.metadata)


def _rewrap(meta: Metadata, groups: list[list[KeySpec]], threshold: int, decryption_order: str | None) -> None:
    data_key = datakey.recover(meta, decryption_order)
    if len(groups) > 1 and threshold > len(groups):
        raise UsageError(f"a Shamir threshold of {threshold} cannot be met by {len(groups)} key groups")
    meta.key_groups, meta.shamir_threshold = datakey.wrap(data_key, groups, threshold if len(groups) > 1 else 0)


def _specs(meta: Metadata) -> list[list[KeySpec]]:
    return [[provider(e.type).spec_of(e) for e in group] for group in meta.key_groups]


def add(store: Store, path: str, group: Sequence[KeySpec], threshold: int | None = None,
        decryption_order: str | None = None) -> str:
    """The file with ``group`` appended as a new key group."""
    if not group:
        raise UsageError("groups add: give at least one key (--age, --pgp, --kms, ...)")
    parsed, meta = _load(store, path)
    groups = [*_specs(meta), list(group)]
    _rewrap(meta, groups, threshold or meta.shamir_threshold or len(groups), decryption_order)
    return _written(store, core.render_metadata_only(store, parsed, meta))  # type: ignore[arg-type]


def delete(store: Store, path: str, index: int, threshold: int | None = None,
           decryption_order: str | None = None) -> str:
    """The file without key group ``index`` (counted from 0, as sops counts)."""
    parsed, meta = _load(store, path)
    groups = _specs(meta)
    if not 0 <= index < len(groups):
        raise UsageError(f"groups delete: the file has {len(groups)} key group(s); there is no group {index}")
    if len(groups) == 1:
        raise UsageError("groups delete: cannot remove the only key group")
    del groups[index]
    wanted = threshold or meta.shamir_threshold
    if wanted > len(groups):
        raise UsageError(f"removing this key group will make the Shamir threshold impossible to satisfy: "
                         f"Shamir threshold is {wanted}, but we only have {len(groups)} key groups")
    _rewrap(meta, groups, wanted or len(groups), decryption_order)
    return _written(store, core.render_metadata_only(store, parsed, meta))  # type: ignore[arg-type]


def _written(store: Store, text: str) -> str:
    from .commands import laid_out  # sops's --indent applies to what groups writes too

    return laid_out(text, store, True)

"""Merging encrypted files the way a person would: as trees, with keys and rules merged too.

git hands the driver (``sopsy merge %O %A %B %P``) three encrypted versions. The pieces:

* :mod:`.tree` merges the decrypted documents as trees (mapping items by key, sequence items by
  content, comments with their item) into a merged tree, noting clashes;
* :mod:`.plan` turns the merged tree into edits of ours' plaintext (:mod:`sopsy.edits`), which
  the store applies as splices, so ours' layout and comments stay and nothing is re-rendered;
* :mod:`.meta` merges the sops metadata three-way (recipients per key group, data key, rules);
* :mod:`.markers` writes and reads git-style conflict markers;
* :mod:`.driver` runs a merge end to end; :mod:`.resolve` opens a conflicted file in the editor.

It never falls back to a line merge of plaintext (which can bring back a key one side
deleted); only files without sops metadata on either side are merged as text, by git itself.
Nothing here imports the CLI.
"""

from __future__ import annotations

__all__ = ["merge_files"]


def merge_files(base_path: str, ours_path: str, theirs_path: str, path_name: str | None = None,
                input_type: str | None = None) -> None:
    """Merge git's three versions into ``ours_path`` (see :func:`.driver.merge_files`)."""
    from .driver import merge_files as run

    run(base_path, ours_path, theirs_path, path_name, input_type)

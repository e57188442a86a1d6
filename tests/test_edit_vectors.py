"""Document edit vectors (testdata/edits/<format>/<behaviour>.*): each store applies the edits of
``<behaviour>.edits.json`` to ``<behaviour>.before.<ext>`` and must give ``<behaviour>.after.<ext>``
byte for byte (the after files are written by hand). The result must also parse back to the data
the same edits give on plain data (tests/support/edit_data.py), and, where sops reads the format,
the real sops must decrypt sopsy's re-encrypted result to that data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import RECIPIENT, TESTDATA, run_sops
from support.edit_data import apply_data, load_edits, ordered

from sopsy import core
from sopsy.keys import KeySpec
from sopsy.model import to_data
from sopsy.stores import get_store

EDITS = TESTDATA / "edits"
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
SOPS_READS = {"dotenv", "ini", "yaml", "json"}  # sops has no tfvars


def _vectors() -> list[tuple[str, Path]]:
    out = []
    for spec in sorted(EDITS.glob("*/*.edits.json")):
        store = get_store(spec.parent.name)
        if hasattr(store, "apply_edits"):
            out.append((spec.parent.name, spec))
    return out


VECTORS = _vectors()


def files(spec: Path) -> tuple[Path, Path]:
    name = spec.name[: -len(".edits.json")]
    (before,) = spec.parent.glob(f"{name}.before.*")
    (after,) = spec.parent.glob(f"{name}.after.*")
    return before, after


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def expected_data(fmt: str, before: str, spec: Path) -> Any:
    data = to_data(get_store(fmt).parse(before).documents[0]) if before.strip() or fmt != "tfvars" else {}
    got = apply_data(data, load_edits(spec))
    if fmt == "ini" and "DEFAULT" in got:  # the keys before the first header come first in any INI file
        got = {"DEFAULT": got["DEFAULT"], **{k: v for k, v in got.items() if k != "DEFAULT"}}
    return got


@pytest.mark.parametrize("fmt,spec", VECTORS, ids=[f"{f}/{s.name[:-11]}" for f, s in VECTORS])
def test_edit_vector(fmt: str, spec: Path) -> None:
    store = get_store(fmt)
    before, after = (read(p) for p in files(spec))
    got = store.apply_edits(store.parse(before), load_edits(spec))  # type: ignore[attr-defined]
    assert got == after
    if not _duplicate_keys(store.parse(before).documents[0]):  # plain data cannot hold two equal keys
        assert ordered(to_data(store.parse(got).documents[0])) == ordered(expected_data(fmt, before, spec))
    for i, doc in enumerate(store.parse(got).documents[1:], 1):  # later documents of a YAML file
        old = to_data(store.parse(before).documents[i])
        assert ordered(to_data(doc)) == ordered(apply_data(old, load_edits(spec), doc=i))


def _duplicate_keys(node: Any) -> bool:
    items = getattr(node, "items", None)
    if not isinstance(items, list):
        return False
    keys = [k for k, _ in items if isinstance(k, str)] if items and isinstance(items[0], tuple) else []
    children = [v for _, v in items] if keys or (items and isinstance(items[0], tuple)) else items
    return len(keys) != len(set(keys)) or any(_duplicate_keys(c) for c in children)


def _sops_reads(fmt: str, spec: Path) -> bool:
    """sops refuses an empty file and JSON with comments (JSONC): those vectors are checked by the
    test above only (tests/test_json_edits.py covers JSONC otherwise)."""
    text = files(spec)[0].read_bytes()
    return fmt in SOPS_READS and bool(text.strip()) and not (fmt == "json" and spec.name.startswith("jsonc_"))


SOPS_VECTORS = [(f, s) for f, s in VECTORS if _sops_reads(f, s)]


@pytest.mark.parametrize("fmt,spec", SOPS_VECTORS, ids=[f"{f}/{s.name[:-11]}" for f, s in SOPS_VECTORS])
def test_sops_decrypts_the_reencrypted_result(fmt: str, spec: Path, tmp_path: Path) -> None:
    """The edit flow of ``set``/merge: decrypt, edit the plaintext, re-encrypt with the same data
    key; the real sops reads the result as the edited data."""
    store = get_store(fmt)
    before, after = (read(p) for p in files(spec))
    opened = core.decrypt_text(store, core.encrypt_text(store, before, OPTS))
    edited = store.apply_edits(store.parse(opened.plaintext()), load_edits(spec))  # type: ignore[attr-defined]
    assert edited == after
    again = core.reencrypt(opened, edited)
    f = tmp_path / f"x.{fmt}"
    f.write_bytes(again.encode())
    done = run_sops("decrypt", "--input-type", fmt, "--output-type", "json", str(f))
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == to_data(store.parse(after).documents[0])
    assert core.decrypt_text(store, again).plaintext() == after


@pytest.mark.parametrize("fmt,plain,change,expected", [
    ("ini", "; db\n[db]\nhost = x\nport = 5432\n\n[cache]\nurl = y\n",
     lambda d: d["db"].update(port="5433", user="app"),
     "; db\n[db]\nhost = x\nport = 5433\nuser = app\n\n[cache]\nurl = y\n"),
    ("tfvars", 'region = "eu"\ntags = {\n  a = "1"\n}\n',
     lambda d: (d["tags"].update(b="2"), d.pop("region")),
     'tags = {\n  a = "1"\n  b = "2"\n}\n'),
])
def test_api_edit_changes_only_what_changed(fmt: str, plain: str, change: Any, expected: str, tmp_path: Path) -> None:
    """sopsy.edit (the Python API) goes through these stores' edits: only the changed values
    change in the encrypted file, the others keep their ciphertext."""
    import sopsy

    store = get_store(fmt)
    f = tmp_path / f"x.{fmt}"
    f.write_text(core.encrypt_text(store, plain, OPTS))
    before = f.read_text()
    with sopsy.edit(f) as data:
        change(data)
    after = f.read_text()
    assert core.decrypt_text(store, after).plaintext() == expected
    kept = [ln for ln in before.splitlines() if ("host" in ln or "url" in ln or '"1"' in ln or "a =" in ln)]
    assert kept and all(ln in after.splitlines() for ln in kept)
    if fmt == "ini":
        assert run_sops("decrypt", "--output-type", "json", str(f)).returncode == 0

"""A command that changes only the metadata (``updatekeys``: other key groups, same values) leaves
every byte outside the metadata block as it was, for dotenv, INI and tfvars files made by sopsy
and by the real sops.

The metadata block is cut out by the rules of each format written here, independently of the
stores: dotenv ``sops_*`` lines, the INI ``[sops]`` section, the tfvars ``sops = { ... }``
attribute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import CORPUS, RECIPIENT, RECIPIENT2, VECTORS, run_sops

from sopsy import commands, core
from sopsy.keys import KeySpec
from sopsy.stores import get_store

OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
INI_SAMPLE = ("; top\ntop = 1\n[s1]\nkey1   = value1\n; about key2\nkey2 = 42 ; inline\nq = \"  sp  \"\n"
              "multi = \"\"\"a\nb\"\"\"\nempty =\nk_unencrypted = visible\n\n[s2]\n# hash\nfoo: bar\n")


def strip_metadata(kind: str, text: str) -> str:
    if kind == "dotenv":
        return "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith("sops_"))
    if kind == "ini":
        # from the [sops] header to the next header or the end
        return re.sub(r"(?ms)^\[sops\][^\n]*\n.*?(?=^\[|\Z)", "", text)
    # tfvars: `sops = {` up to the `}` that closes it at the start of a line
    return re.sub(r"(?ms)^sops = \{\n.*?^\}\n?", "", text)


# corpus files sopsy refuses (a line without '='), and those sops refuses (multi-line values):
# their refusal is tested in the store's tests
SOPSY_REFUSES = {"dotenvx__dotenvx__tests_.env.multiline"}
SOPS_REFUSES = {"dotenvx__dotenvx__tests_.env.multiline", "joho__godotenv__fixtures_quoted.env"}


def _plain_files() -> list[tuple[str, str, str]]:
    """(id, kind, plaintext) for the sopsy-made cases."""
    out = [(f"dotenv/{p.name}", "dotenv", p.read_bytes().decode()) for p in sorted((CORPUS / "dotenv").iterdir())
           if p.name not in SOPSY_REFUSES]
    out += [(f"tfvars/{p.name}", "tfvars", p.read_bytes().decode()) for p in sorted((CORPUS / "tfvars").iterdir())]
    out += [("ini/sample", "ini", INI_SAMPLE), ("ini/plain.ini", "ini", (VECTORS / "plain.ini").read_text()),
            ("ini/no-final-newline", "ini", "[a]\nx = 1"), ("dotenv/no-final-newline", "dotenv", "A=1\n#c")]
    return out


def _sops_files() -> list[tuple[str, str, Path]]:
    """(id, kind, plaintext path) for the sops-made cases (sops has no tfvars)."""
    out = [(f"sops/dotenv/{p.name}", "dotenv", p) for p in sorted((CORPUS / "dotenv").iterdir())
           if p.name not in SOPS_REFUSES]
    return out + [("sops/ini/plain.ini", "ini", VECTORS / "plain.ini")]


def update_keys(tmp_path: Path, name: str, encrypted: str, kind: str) -> str:
    f = tmp_path / name
    f.write_bytes(encrypted.encode())
    # a second recipient and a second key group: the metadata block changes a lot, nothing else
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - key_groups:\n      - age: [{RECIPIENT}, {RECIPIENT2}]\n      - age: [{RECIPIENT2}]\n"
        "    shamir_threshold: 2\n")
    assert commands.updatekeys(str(f), yes=True, input_type=kind)
    return f.read_bytes().decode()


EXT = {"dotenv": "env", "ini": "ini", "tfvars": "tfvars"}


@pytest.mark.parametrize("case", _plain_files(), ids=lambda c: c[0])
def test_updatekeys_on_sopsy_files_changes_only_metadata(case: tuple[str, str, str], tmp_path: Path) -> None:
    _, kind, plain = case
    store = get_store(kind)
    enc = core.encrypt_text(store, plain, OPTS)
    after = update_keys(tmp_path, f"f.{EXT[kind]}", enc, kind)
    assert after != enc and RECIPIENT2 in after
    assert strip_metadata(kind, after) == strip_metadata(kind, enc)
    assert core.decrypt_text(store, after).plaintext() == plain


@pytest.mark.parametrize("case", [("vector/enc.env", "dotenv", VECTORS / "enc.env"),
                                  ("vector/enc.ini", "ini", VECTORS / "enc.ini")], ids=lambda c: c[0])
def test_updatekeys_on_sops_vectors_changes_only_metadata(case: tuple[str, str, Path], tmp_path: Path) -> None:
    _, kind, path = case
    enc = path.read_text()
    after = update_keys(tmp_path, f"f.{EXT[kind]}", enc, kind)
    assert strip_metadata(kind, after) == strip_metadata(kind, enc)
    assert run_sops("decrypt", "--input-type", kind, "--output-type", "json", str(tmp_path / f"f.{EXT[kind]}")).returncode == 0


@pytest.mark.parametrize("case", _sops_files(), ids=lambda c: c[0])
def test_updatekeys_on_sops_made_files_changes_only_metadata(case: tuple[str, str, Path], tmp_path: Path) -> None:
    _, kind, path = case
    done = run_sops("encrypt", "--input-type", kind, "--output-type", kind, "--age", RECIPIENT, str(path))
    assert done.returncode == 0, done.stderr.decode()
    enc = done.stdout.decode()
    after = update_keys(tmp_path, f"f.{EXT[kind]}", enc, kind)
    assert strip_metadata(kind, after) == strip_metadata(kind, enc)
    f = tmp_path / f"f.{EXT[kind]}"
    assert run_sops("decrypt", "--input-type", kind, "--output-type", "json", str(f)).returncode == 0


def test_ini_sops_section_not_last_keeps_what_follows(tmp_path: Path) -> None:
    enc = core.encrypt_text(get_store("ini"), "[a]\nx = 1\n", OPTS)
    moved = enc + "\n\n[z]\nlate = ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\n"  # a section after [sops]
    after = update_keys(tmp_path, "f.ini", moved, "ini")
    assert strip_metadata("ini", after) == strip_metadata("ini", moved)

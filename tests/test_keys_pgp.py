"""PGP master keys through the gpg binary, checked against the real sops both ways.

Keys are made at test time in a throwaway GNUPGHOME (tests/support/gnupg.py); the sops-made
corpus files open with the OpenPGP test keys their projects published (testdata/corpus).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS, RECIPIENT, TESTDATA, run_sops, run_sopsy
from support.gnupg import GnuPGHome

from sopsy.keys import KeySpec, pgp

PLAIN = "db:\n    password: hunter2\nport: 5432\n"
SOPS_CORPUS = CORPUS / "sops-encrypted"
NO_AGE = {"SOPS_AGE_KEY_FILE": os.devnull}


@pytest.fixture(scope="module")
def gnupg() -> Iterator[tuple[GnuPGHome, str]]:
    home = GnuPGHome()
    try:
        yield home, home.generate("alice")
    finally:
        home.close()


@pytest.fixture()
def empty_gnupg() -> Iterator[GnuPGHome]:
    home = GnuPGHome()
    try:
        yield home
    finally:
        home.close()


def _plain(tmp_path: Path, name: str = "secret.yaml") -> Path:
    f = tmp_path / name
    f.write_text(PLAIN)
    return f


def _sops_block(text: str) -> dict[str, object]:
    block = yaml.safe_load(text)["sops"]
    assert isinstance(block, dict)
    return block


# -- spec parsing ---------------------------------------------------------------------------------


def test_parse_arg_removes_spaces_like_sops_and_drops_empty_items() -> None:
    fp = "FBC7 B9E2 A4F9 289A C0C1  D484 3D16 CEE4 A273 81B4"
    assert pgp.parse_arg(f"{fp}, D7229043384BCC60326C6FB9D8720D957C3D3074,") == [
        KeySpec("pgp", "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"),
        KeySpec("pgp", "D7229043384BCC60326C6FB9D8720D957C3D3074"),
    ]
    assert pgp.parse_arg("") == []


def test_short_id_is_the_long_key_id_and_keeps_a_subkey_bang() -> None:
    assert pgp.short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4") == "3D16CEE4A27381B4"
    assert pgp.short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4!") == "3D16CEE4A27381B4!"
    assert pgp.short_id("A27381B4") == "A27381B4"


# -- both ways with sops --------------------------------------------------------------------------


def test_sopsy_pgp_file_decrypts_with_sops_and_has_sops_layout(gnupg: tuple[GnuPGHome, str], tmp_path: Path) -> None:
    home, fp = gnupg
    f = _plain(tmp_path)
    r = run_sopsy("encrypt", "-i", str(f), env={**home.env(), "SOPS_PGP_FP": fp})
    assert r.returncode == 0, r.stderr.decode()
    ours = f.read_text()
    assert "hunter2" not in ours
    back = run_sops("decrypt", str(f), env={**home.env(), **NO_AGE})
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout.decode() == PLAIN
    theirs = run_sops("encrypt", "--pgp", fp, str(_plain(tmp_path, "other.yaml")), env=home.env())
    assert theirs.returncode == 0, theirs.stderr.decode()
    a, b = _sops_block(ours), _sops_block(theirs.stdout.decode())
    # pgp after mac, as sops writes it; sopsy's own fields (sopsy_*, ignored by sops) come last
    assert [k for k in a if not k.startswith("sopsy_")] == list(b)
    entry_a, entry_b = a["pgp"][0], b["pgp"][0]  # type: ignore[index]
    assert list(entry_a) == list(entry_b) == ["created_at", "enc", "fp"]
    assert entry_a["fp"] == entry_b["fp"] == fp
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry_a["created_at"])
    assert "    pgp:\n        - created_at:" in ours and "          enc: |-\n" in ours


def test_sops_pgp_file_decrypts_with_sopsy(gnupg: tuple[GnuPGHome, str], tmp_path: Path) -> None:
    home, fp = gnupg
    f = _plain(tmp_path)
    assert run_sops("encrypt", "-i", "--pgp", fp, str(f), env=home.env()).returncode == 0
    r = run_sopsy("decrypt", str(f), env={**home.env(), **NO_AGE})
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == PLAIN


@pytest.mark.parametrize("maker", ["sops", "sopsy"])
def test_file_with_pgp_and_age_opens_with_either_key_alone(maker: str, gnupg: tuple[GnuPGHome, str],
                                                           empty_gnupg: GnuPGHome, tmp_path: Path) -> None:
    home, fp = gnupg
    f = _plain(tmp_path)
    run = run_sops if maker == "sops" else run_sopsy
    made = run("encrypt", "-i", "--age", RECIPIENT, str(f), env={**home.env(), "SOPS_PGP_FP": fp})
    assert made.returncode == 0, made.stderr.decode()
    block = _sops_block(f.read_text())
    assert len(block["pgp"]) == 1 and len(block["age"]) == 1  # type: ignore[arg-type]
    for tool in (run_sops, run_sopsy):
        only_pgp = tool("decrypt", str(f), env={**home.env(), **NO_AGE})
        assert only_pgp.returncode == 0, only_pgp.stderr.decode()
        assert only_pgp.stdout.decode() == PLAIN
        only_age = tool("decrypt", str(f), env=empty_gnupg.env())
        assert only_age.returncode == 0, only_age.stderr.decode()


@pytest.mark.parametrize("maker", ["sops", "sopsy"])
def test_shamir_groups_mixing_pgp_and_age(maker: str, gnupg: tuple[GnuPGHome, str], empty_gnupg: GnuPGHome,
                                          tmp_path: Path) -> None:
    home, fp = gnupg
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - pgp: [{fp}]\n      - age: [{RECIPIENT}]\n")
    f = _plain(tmp_path)
    run = run_sops if maker == "sops" else run_sopsy
    made = run("encrypt", "-i", str(f), env=home.env(), cwd=str(tmp_path))
    assert made.returncode == 0, made.stderr.decode()
    groups = _sops_block(f.read_text())["key_groups"]
    assert [sorted(k for k, v in g.items() if v) for g in groups] == [["pgp"], ["age"]]  # type: ignore[attr-defined]
    for tool in (run_sops, run_sopsy):
        both = tool("decrypt", str(f), env=home.env())
        assert both.returncode == 0, both.stderr.decode()
        assert both.stdout.decode() == PLAIN
    # one share is not enough: both tools refuse with sops's exit code
    for tool in (run_sops, run_sopsy):
        assert tool("decrypt", str(f), env=empty_gnupg.env()).returncode == 128
        assert tool("decrypt", str(f), env={**home.env(), **NO_AGE}).returncode == 128


def test_gpg_is_run_with_the_arguments_sops_gives_it(gnupg: tuple[GnuPGHome, str], tmp_path: Path) -> None:
    """SOPS_GPG_EXEC names the binary; a logging wrapper sees the same calls from sops and sopsy."""
    home, fp = gnupg
    logs = {}
    for name, tool in (("sops", run_sops), ("sopsy", run_sopsy)):
        log = tmp_path / f"{name}.log"
        wrapper = tmp_path / f"gpg-{name}"
        wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec gpg "$@"\n')
        wrapper.chmod(0o755)
        env = {**home.env(), **NO_AGE, "SOPS_GPG_EXEC": str(wrapper), "SOPS_PGP_FP": fp}
        f = _plain(tmp_path, f"{name}.yaml")
        assert tool("encrypt", "-i", str(f), env=env).returncode == 0
        assert tool("decrypt", str(f), env=env).stdout.decode() == PLAIN
        logs[name] = log.read_text().splitlines()
    assert logs["sopsy"] == logs["sops"] == [
        f"--no-default-recipient --yes --encrypt -a -r {fp} --trusted-key {fp[-16:]} --no-encrypt-to", "-d"]


def test_pgp_flags_encrypt_rotate_and_groups(gnupg: tuple[GnuPGHome, str], empty_gnupg: GnuPGHome,
                                             tmp_path: Path) -> None:
    """--pgp / -p, rotate --add-pgp / --rm-pgp and groups add --pgp, each result read by sops."""
    home, alice = gnupg
    bob = home.generate("bob")
    f = _plain(tmp_path)
    env = {**home.env(), **NO_AGE}
    assert run_sopsy("encrypt", "-i", "-p", alice, str(f), env=env).returncode == 0
    r = run_sopsy("rotate", "-i", "--add-pgp", bob, "--add-age", RECIPIENT, str(f), env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(e["fp"] for e in _sops_block(f.read_text())["pgp"]) == sorted([alice, bob])  # type: ignore[attr-defined]
    r = run_sopsy("rotate", "-i", "--rm-pgp", f"{alice},{bob}", str(f), env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert "pgp" not in _sops_block(f.read_text())
    assert run_sops("decrypt", str(f), env=empty_gnupg.env()).stdout.decode() == PLAIN  # age only now
    r = run_sopsy("groups", "add", "-i", "--file", str(f), "--pgp", bob, env=home.env())
    assert r.returncode == 0, r.stderr.decode()
    groups = _sops_block(f.read_text())["key_groups"]
    assert [g["pgp"][0]["fp"] for g in groups if g.get("pgp")] == [bob]  # type: ignore[attr-defined]
    assert run_sops("decrypt", str(f), env=home.env()).stdout.decode() == PLAIN


# -- failures: one line, sops's exit codes, nothing lost ------------------------------------------


def _one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def test_missing_gpg_binary(gnupg: tuple[GnuPGHome, str], tmp_path: Path) -> None:
    home, fp = gnupg
    f = _plain(tmp_path)
    env = {**home.env(), **NO_AGE, "SOPS_GPG_EXEC": str(tmp_path / "no-such-gpg"), "SOPS_PGP_FP": fp}
    r = run_sopsy("encrypt", "-i", str(f), env=env)
    assert r.returncode == 1
    assert "gpg binary was not found" in _one_line(r.stderr) and fp in r.stderr.decode()
    assert f.read_text() == PLAIN
    assert run_sops("encrypt", "-i", "--pgp", fp, str(f), env=home.env()).returncode == 0
    r = run_sopsy("decrypt", str(f), env=env)
    assert r.returncode == 128 and r.stdout == b""
    assert f"pgp {fp}: the gpg binary was not found (SOPS_GPG_EXEC names" in _one_line(r.stderr)


def test_unknown_public_key_on_encrypt_leaves_the_file_untouched(gnupg: tuple[GnuPGHome, str], tmp_path: Path) -> None:
    home, _ = gnupg
    f = _plain(tmp_path)
    missing = "0123456789ABCDEF0123456789ABCDEF01234567"
    r = run_sopsy("encrypt", "-i", str(f), env={**home.env(), "SOPS_PGP_FP": missing})
    assert r.returncode == 1
    assert f"PGP key {missing}: the public key is not in the GnuPG keyring" in _one_line(r.stderr)
    assert f.read_text() == PLAIN
    assert run_sops("encrypt", "--pgp", missing, str(f), env=home.env()).returncode == 1  # sops refuses too


def test_no_secret_key_on_decrypt(gnupg: tuple[GnuPGHome, str], empty_gnupg: GnuPGHome, tmp_path: Path) -> None:
    home, fp = gnupg
    f = _plain(tmp_path)
    assert run_sops("encrypt", "-i", "--pgp", fp, str(f), env=home.env()).returncode == 0
    ours = run_sopsy("decrypt", str(f), env={**empty_gnupg.env(), **NO_AGE})
    theirs = run_sops("decrypt", str(f), env={**empty_gnupg.env(), **NO_AGE})
    assert ours.returncode == theirs.returncode == 128
    assert f"pgp {fp}: no secret key for it in the GnuPG keyring" in _one_line(ours.stderr)


# -- sops-made files from public projects ---------------------------------------------------------


def _pgp_corpus() -> list[Path]:
    return sorted(p for p in SOPS_CORPUS.glob("getsops__sops__*") if p.is_file())


@pytest.fixture(scope="module")
def corpus_gnupg() -> Iterator[GnuPGHome]:
    home = GnuPGHome()
    try:
        for key in sorted((SOPS_CORPUS / "keys").glob("*.asc")):
            home.import_key(str(key))
        yield home
    finally:
        home.close()


@pytest.mark.parametrize("path", _pgp_corpus(), ids=lambda p: p.name)
def test_sops_corpus_file_with_pgp_keys_decrypts_like_sops(path: Path, corpus_gnupg: GnuPGHome) -> None:
    types = ("--input-type", "dotenv", "--output-type", "dotenv") if path.name.endswith(".env") else ()
    r = run_sopsy("decrypt", *types, str(path), env={**corpus_gnupg.env(), **NO_AGE})
    assert r.returncode == 0, r.stderr.decode()
    # byte for byte what sops printed, files written by older sops (3.5.0: yaml.v2 layout, JSON
    # without a final newline) included
    assert r.stdout == (SOPS_CORPUS / "decrypted-by-sops" / path.name).read_bytes()


def test_sops_nix_file_opens_through_its_pgp_entry(corpus_gnupg: GnuPGHome) -> None:
    name = "Mic92__sops-nix__pkgs_sops-install-secrets_test-assets_secrets.yaml"
    r = run_sopsy("decrypt", str(SOPS_CORPUS / name), env={**corpus_gnupg.env(), **NO_AGE})
    assert r.returncode == 0, r.stderr.decode()
    assert yaml.safe_load(r.stdout) == yaml.safe_load((SOPS_CORPUS / "decrypted-by-sops" / name).read_bytes())


def test_corpus_has_pgp_files() -> None:
    assert len(_pgp_corpus()) == 5, "testdata/corpus/sops-encrypted lost its getsops PGP files"
    assert (TESTDATA / "corpus" / "SOURCES.tsv").read_text().count("getsops/sops") >= 5


def test_set_on_a_file_in_an_old_sops_layout_keeps_that_layout(corpus_gnupg: GnuPGHome, tmp_path: Path) -> None:
    # decrypt prints what sops prints (go-yaml v3's layout); an edit splices into the file's own
    # layout (yaml.v2's, sequences flush with their key): one value line changes, and the
    # comment sops encrypted stays encrypted
    f = tmp_path / "old.yaml"
    before = (SOPS_CORPUS / "getsops__sops__example.sops-3.5.0.yaml").read_text()
    f.write_text(before)
    r = run_sopsy("set", str(f), '["app2"]["db"]["user"]', '"root"', env={**corpus_gnupg.env(), **NO_AGE})
    assert r.returncode == 0, r.stderr.decode()
    body = [(a, b) for a, b in zip(before.split("\nsops:")[0].splitlines(), f.read_text().split("\nsops:")[0]
                                   .splitlines(), strict=True) if a != b]
    assert len(body) == 1 and body[0][1].startswith("        user: ENC[")
    out = run_sopsy("decrypt", str(f), env={**corpus_gnupg.env(), **NO_AGE}).stdout.decode()
    assert "        user: root\n" in out and "\n    - secretuser1\n" in out  # as sops prints it


def test_hand_edited_sops_json_prints_as_sops_prints_it(corpus_gnupg: GnuPGHome, tmp_path: Path) -> None:
    # terraform-provider-sops's fixture (sops 3.3.1) has a line someone added by hand, indented
    # by four spaces: sops prints every level with a tab (and a final newline)
    name = "carlpett__terraform-provider-sops__sops_test-fixtures_basic.json"
    env = {**corpus_gnupg.env(), **NO_AGE}
    assert b'\n    "null": null' in (SOPS_CORPUS / name).read_bytes()
    expected = (SOPS_CORPUS / "decrypted-by-sops" / name).read_bytes()
    assert b'\n\t"null": null\n}\n' in expected
    assert run_sopsy("decrypt", str(SOPS_CORPUS / name), env=env).stdout == expected
    f = tmp_path / "basic.json"
    f.write_bytes((SOPS_CORPUS / name).read_bytes())
    r = run_sopsy("set", str(f), '["hello"]', '"there"', env=env)
    assert r.returncode == 0, r.stderr.decode()
    changed = expected.replace(b'"world"', b'"there"')
    assert run_sops("decrypt", str(f), env=env).stdout == changed
    assert run_sopsy("decrypt", str(f), env=env).stdout == changed


@pytest.mark.parametrize("name", ["getsops__sops__example.sops-3.5.0.yaml",
                                  "carlpett__terraform-provider-sops__sops_test-fixtures_basic.json"])
def test_textconv_shows_what_decrypt_prints(name: str, corpus_gnupg: GnuPGHome) -> None:
    # git diff's plaintext is decrypt's (sops's layout for files whose own layout sops does not
    # print), followed by the metadata summary
    r = run_sopsy("git", "textconv", str(SOPS_CORPUS / name), env={**corpus_gnupg.env(), **NO_AGE})
    assert r.returncode == 0, r.stderr.decode()
    expected = (SOPS_CORPUS / "decrypted-by-sops" / name).read_bytes()
    assert r.stdout.startswith(expected + b"\n# --- sops metadata"), r.stdout[:300]


def test_hand_edited_sops_yaml_prints_as_sops_re_emits_it(corpus_gnupg: GnuPGHome, tmp_path: Path) -> None:
    # community.sops's fixture: a '---' and licence comments put by hand before what sops wrote;
    # sops re-emits the file (no '---', no blank line), so does sopsy for a file sops wrote, also
    # after a sopsy set
    name = "ansible-collections__community.sops__tests_integration_targets_vars_sops_test-success_group_vars_all_test-template.sops.yml"
    env = {**corpus_gnupg.env(), **NO_AGE}
    assert (SOPS_CORPUS / name).read_bytes().startswith(b"---\n# Copyright")
    expected = (SOPS_CORPUS / "decrypted-by-sops" / name).read_bytes()
    assert expected.startswith(b"# Copyright") and b"\n\n" not in expected
    assert run_sopsy("decrypt", str(SOPS_CORPUS / name), env=env).stdout == expected
    f = tmp_path / "vars.sops.yml"
    f.write_bytes((SOPS_CORPUS / name).read_bytes())
    assert run_sopsy("set", str(f), '["var_with_template"]', '"x"', env=env).returncode == 0
    assert f.read_bytes().startswith(b"---\n# Copyright")  # the edit keeps the file's own text
    changed = expected.replace(b"'{{ 1 + 1 }}'", b"x")
    assert run_sops("decrypt", str(f), env=env).stdout == changed
    assert run_sopsy("decrypt", str(f), env=env).stdout == changed

"""The YAML store and the core, against the real sops binary and sops's own vectors."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import CORPUS, RECIPIENT, VECTORS, need_shared, run_sops, run_sopsy
from support.gnupg import GnuPGHome

from sopsy import core
from sopsy.errors import EncryptTreeError, InputError, SopsyError
from sopsy.keys import KeySpec
from sopsy.stores import get_store

STORE = get_store("yaml")
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])

YAML_VECTORS = [("enc.yaml", "dec.yaml"), ("enc_multi.yaml", None), ("enc_regex.yaml", None),
                ("enc_regex_maconly.yaml", None), ("shamir/shamir.enc.yaml", "shamir/shamir.plain.yaml")]
CORPUS_YAML = sorted((CORPUS / "yaml").glob("*")) if CORPUS.is_dir() else []
# The two corpus files the sops format cannot hold (sops refuses them too): a top-level
# sequence, and a document with a null key and an empty document.
UNHOLDABLE = {"nodeca__js-yaml__test_samples-common_construct-merge.yml": InputError,
              "nodeca__js-yaml__test_samples-common_construct-null.yml": EncryptTreeError}


def _all_docs(text: str) -> list[object]:
    return [d for d in yaml.safe_load_all(text)]


@pytest.mark.parametrize("enc_name,dec_name", YAML_VECTORS)
def test_sops_vectors_decrypt_to_sops_data(enc_name: str, dec_name: str | None) -> None:
    need_shared()
    enc = (VECTORS / enc_name).read_text()
    ours = core.decrypt_text(STORE, enc).plaintext()
    # what the real sops makes of the same file, decrypted now
    theirs = run_sops("decrypt", str(VECTORS / enc_name))
    assert theirs.returncode == 0, theirs.stderr
    assert _all_docs(ours) == _all_docs(theirs.stdout.decode())
    if dec_name:
        assert _all_docs(ours) == _all_docs((VECTORS / dec_name).read_text())


def test_vector_comments_come_back_as_comments() -> None:
    need_shared()
    out = core.decrypt_text(STORE, (VECTORS / "enc.yaml").read_text()).plaintext()
    assert out.startswith("# top comment\n")
    assert "# comment before number\n" in out
    assert "        # comment in list\n" in out  # a sequence comment sops stored as a value


@pytest.mark.parametrize("path", CORPUS_YAML, ids=lambda p: p.name[:50])
def test_corpus_round_trip_is_byte_exact(path: Path) -> None:
    src = path.read_bytes().decode("utf-8", "surrogateescape")
    if path.name in UNHOLDABLE:
        with pytest.raises(UNHOLDABLE[path.name]) as err:
            core.encrypt_text(STORE, src, OPTS)
        assert "\n" not in str(err.value)
        return
    enc = core.encrypt_text(STORE, src, OPTS)
    assert core.decrypt_text(STORE, enc).plaintext() == src


@pytest.mark.parametrize("path", [p for p in CORPUS_YAML if p.name not in UNHOLDABLE], ids=lambda p: p.name[:50])
def test_sops_reads_what_sopsy_encrypts(path: Path, tmp_path: Path) -> None:
    """sops decrypts sopsy's file to the same data it gets from its own encryption of the original."""
    src = path.read_bytes().decode("utf-8", "surrogateescape")
    ours = tmp_path / "ours.yaml"
    ours.write_bytes(core.encrypt_text(STORE, src, OPTS).encode("utf-8", "surrogateescape"))
    original = tmp_path / "orig.yaml"
    original.write_bytes(path.read_bytes())
    a = run_sops("decrypt", "--output-type", "json", str(ours))
    assert a.returncode == 0, a.stderr.decode()[-500:]
    theirs = run_sops("encrypt", "--age", RECIPIENT, str(original))
    if theirs.returncode != 0:
        # sops's parser (like libyaml) rejects this valid file; PyYAML reads it: compare with that
        assert json.loads(a.stdout) == json.loads(json.dumps(yaml.safe_load(src)))
        return
    theirs_file = tmp_path / "theirs.yaml"
    theirs_file.write_bytes(theirs.stdout)
    b = run_sops("decrypt", "--output-type", "json", str(theirs_file))
    assert b.returncode == 0
    assert json.loads(a.stdout) == json.loads(b.stdout)


def test_sops_encrypted_corpus_files_decrypt() -> None:
    need_shared()
    base = CORPUS / "sops-encrypted"
    keys = {"Mic92__sops-nix": "Mic92__sops-nix__pkgs_sops-install-secrets_test-assets_age-keys.txt",
            "denis256__terragrunt-tests": "denis256__terragrunt-tests__issue-2103_keys.txt",
            "jkroepke__helm-secrets": "jkroepke__helm-secrets__tests_assets_age_key.txt",
            "fluxcd__kustomize-controller": "fluxcd__kustomize-controller__internal_controller_testdata_sops_keys_age.txt"}
    checked = 0
    # the PGP-keyed getsops files are checked in tests/test_keys_pgp.py
    for enc in sorted(p for p in base.glob("*.yaml") if not p.name.startswith("getsops__")):
        key = next(v for k, v in keys.items() if enc.name.startswith(k))
        out = run_sopsy("decrypt", str(enc), env={"SOPS_AGE_KEY_FILE": str(base / "keys" / key)})
        assert out.returncode == 0, out.stderr
        expected = (base / "decrypted-by-sops" / enc.name).read_text()
        assert _all_docs(out.stdout.decode()) == _all_docs(expected)
        checked += 1
    assert checked == 4


SAMPLE = """\
# settings
app: demo   # trailing comment
port: 0777
hex: 0x1F
big: 1_000
ratio: 6.85e+5
on_flag: True
when: 2024-01-02
quoted: "tab\\there \\u00e9"
single: 'it''s'
block: |
  line one
    indented
keep: |+
  kept

folded: >-
  folded
  text
list: [a, "b c", 3]
empty: ""
nothing:
secret_unencrypted: visible
anchors:
  base: &base
    user: admin
    pass: hunter2
  copy: *base
  merged:
    <<: *base
    extra: x
  scalar: &s tok
  again: *s
tagged: !Ref something
binary: !!binary aGVsbG8=
---
second: doc
"""


def test_sample_round_trip_and_sops_agrees(tmp_path: Path) -> None:
    enc = core.encrypt_text(STORE, SAMPLE, OPTS)
    assert core.decrypt_text(STORE, enc).plaintext() == SAMPLE
    assert "hunter2" not in enc and "user: admin" not in enc and "&s tok" not in enc
    assert "visible" in enc and "# trailing comment" in enc
    f = tmp_path / "s.yaml"
    f.write_text(enc)
    got = run_sops("decrypt", "--output-type", "json", str(f))
    assert got.returncode == 0, got.stderr
    data = json.loads(got.stdout)  # sops's view of the first document
    assert data["port"] == 511 and data["hex"] == 31 and data["big"] == 1000
    assert data["ratio"] == 685000 and data["on_flag"] is True
    assert data["when"] == "2024-01-02T00:00:00Z"
    assert data["quoted"] == "tab\there é" and data["single"] == "it's"
    assert data["block"] == "line one\n  indented\n" and data["keep"] == "kept\n\n"
    assert data["folded"] == "folded text"
    assert data["list"] == ["a", "b c", 3]
    assert data["anchors"]["copy"] == {"user": "admin", "pass": "hunter2"}
    assert data["anchors"]["merged"]["<<"] == {"user": "admin", "pass": "hunter2"}
    assert data["anchors"]["again"] == "tok"
    assert data["tagged"] == "something" and data["binary"] == "hello"


def test_aliases_of_encrypted_values_are_expanded_in_the_encrypted_file() -> None:
    enc = core.encrypt_text(STORE, SAMPLE, OPTS)
    assert "copy: *base" not in enc and "again: *s" not in enc
    assert "base: &base" in enc  # the anchor itself stays


def test_changed_alias_copy_is_kept_as_data(tmp_path: Path) -> None:
    """If a copy no longer equals its anchor (sops edited one of them), sopsy keeps the data."""
    src = "a: &x secret\nb: *x\n"
    enc = core.encrypt_text(STORE, src, OPTS)
    assert core.decrypt_text(STORE, enc).plaintext() == src
    f = tmp_path / "f.yaml"
    f.write_text(enc)
    # sops rewrites the file: the layout hint disappears, the data stays
    assert run_sops("set", str(f), '["b"]', '"changed"').returncode == 0
    out = core.decrypt_text(STORE, f.read_text()).plaintext()
    assert yaml.safe_load(out) == {"a": "secret", "b": "changed"}


def test_one_value_edit_changes_one_line_plus_metadata() -> None:
    src = "a: one\nb: two\nc: three\n"
    enc = core.encrypt_text(STORE, src, OPTS)
    opened = core.decrypt_text(STORE, enc)
    new = core.reencrypt(opened, src.replace("two", "TWO"))
    old_lines, new_lines = enc.splitlines(), new.splitlines()
    changed = [(o, n) for o, n in zip(old_lines, new_lines, strict=True) if o != n]
    kinds = [o.lstrip().split(":")[0] for o, _ in changed]
    # lastmodified changes too unless both writes fell in the same second
    assert kinds in (["b", "lastmodified", "mac"], ["b", "mac"])


def test_rotate_keeps_ivs_and_changes_the_key() -> None:
    src = "a: one\nb: 2\n"
    enc = core.encrypt_text(STORE, src, OPTS)
    rotated = core.rotate(core.decrypt_text(STORE, enc))
    iv = re.compile(r"iv:([^,]+)")
    assert iv.findall(enc)[:2] == iv.findall(rotated)[:2]
    assert enc.splitlines()[0] != rotated.splitlines()[0]  # new data key, new ciphertext
    assert core.decrypt_text(STORE, rotated).plaintext() == src


def test_missing_final_newline_and_crlf_survive() -> None:
    # (a block scalar last in the file: its region took the line break the metadata removal
    # needed, and the whole metadata block came out in the plaintext)
    for src in ["a: 1\nb: x", "a: 1\r\nb: x\r\n", "  a: 1\n  b: x\n", "a: >-\n  x", "a: |-\n  x\n  y",
                "q:\n  a: >-\n    (\n      {\n      }\n    )", "a: |-\r\n  x\r\n  y"]:
        enc = core.encrypt_text(STORE, src, OPTS)
        assert core.decrypt_text(STORE, enc).plaintext() == src


def test_empty_documents_come_back_empty_and_sops_reads_them_as_empty_mappings(tmp_path: Path) -> None:
    # a file ending in a bare `---` (seen in helm-secrets' test values and an EKS blueprint
    # manifest): sops prints `{}` for the empty document, sopsy's own file gives back the source
    sops_made = tmp_path / "sops.yaml"
    for src in ["a: 1\n---\n", "a: 1\n--- \n", "a: 1\n---", "a: 1\r\n---\r\n", "---\n---\na: 1\n",
                "a: 1\n---\n---\nb: 2\n", "a: 1\n---\n...\n"]:
        enc = core.encrypt_text(STORE, src, OPTS)
        assert core.decrypt_text(STORE, enc).plaintext() == src
        f = tmp_path / "empty-doc.yaml"
        f.write_bytes(enc.encode())
        ours = run_sops("decrypt", str(f))
        sops_made.write_bytes(src.encode())
        theirs = run_sops("encrypt", "--age", RECIPIENT, str(sops_made))
        assert ours.returncode == 0 and theirs.returncode == 0
        sops_made.write_bytes(theirs.stdout)
        # sops reads both alike, and a sops-made file still decrypts to what sops prints
        assert ours.stdout == run_sops("decrypt", str(sops_made)).stdout
        assert core.decrypt_text(STORE, theirs.stdout.decode()).plaintext().encode() == ours.stdout
    # an explicit `{}` is data, not an empty document: it stays; its metadata is a block in its
    # place, as sops writes it (so set on a sops-made file with an empty document, which goes
    # through the `{}` a decrypt prints, leaves that document as sops wrote it)
    for src in ["a: 1\n---\n{}\n", "{}\n", "{}\r\n", "a: 1\n---\n{}"]:
        enc = core.encrypt_text(STORE, src, OPTS)
        assert core.decrypt_text(STORE, enc).plaintext() == src
        assert re.search(r"(?m)^sops:\r?$", enc) and '{"sops"' not in enc
    sops_made.write_bytes(b"kind: a\n---\n")
    sops_made.write_bytes(run_sops("encrypt", "--age", RECIPIENT, str(sops_made)).stdout)
    before = sops_made.read_text()
    assert run_sopsy("set", str(sops_made), '["kind"]', '"b"').returncode == 0
    after = sops_made.read_text()
    assert after.count("\nsops:\n") == before.count("\nsops:\n") == 2 and '{"sops"' not in after
    assert run_sops("decrypt", str(sops_made)).stdout == b"kind: b\n---\n{}\n"


def test_refusals_are_one_line() -> None:
    for bad, exc in [("- a\n- b\n", InputError), ("a: [1\n", InputError), ("1: x\n", EncryptTreeError),
                     ("a: 1\na: 2\n", InputError), ("big: 18446744073709551615\n", EncryptTreeError)]:
        with pytest.raises(exc) as err:
            core.encrypt_text(STORE, bad, OPTS)
        assert isinstance(err.value, SopsyError) and "\n" not in str(err.value)


def test_crlf_file_gets_crlf_metadata_and_sops_reads_it(tmp_path: Path) -> None:
    for src in ["a: 1\r\nb: secret\r\n", "a: 1\r\nb: secret"]:
        enc = core.encrypt_text(STORE, src, OPTS)
        assert "\n" not in enc.replace("\r\n", "")  # no bare LF was added
        assert core.decrypt_text(STORE, enc).plaintext() == src
        f = tmp_path / "crlf.yaml"
        f.write_bytes(enc.encode())
        got = run_sops("decrypt", "--output-type", "json", str(f))
        assert got.returncode == 0 and json.loads(got.stdout) == {"a": 1, "b": "secret"}


@pytest.mark.parametrize("flag", ["--encrypted-comment-regex", "--unencrypted-comment-regex"])
def test_comment_rules_pick_the_same_values_as_sops(flag: str, tmp_path: Path) -> None:
    src = textwrap.dedent("""\
        plain: one
        # sops:mark
        marked: two
        after: three
        nested:
          # sops:mark
          inner: four
          other: five
        line: six # sops:mark
        last: seven
    """)
    f = tmp_path / "c.yaml"
    f.write_text(src)
    theirs = run_sops(flag, "sops:mark", "--age", RECIPIENT, "-e", str(f))
    assert theirs.returncode == 0, theirs.stderr
    ours = run_sopsy("encrypt", flag, "sops:mark", "--age", RECIPIENT, str(f))
    assert ours.returncode == 0, ours.stderr

    def encrypted_paths(text: str) -> set[str]:
        data = yaml.safe_load(text)
        data.pop("sops")
        out: set[str] = set()

        def walk(d: object, path: str) -> None:
            if isinstance(d, dict):
                for k, v in d.items():
                    walk(v, f"{path}.{k}")
            elif isinstance(d, str) and d.startswith("ENC["):
                out.add(path)

        walk(data, "")
        return out

    assert encrypted_paths(ours.stdout.decode()) == encrypted_paths(theirs.stdout.decode())
    back = run_sops("decrypt", "--input-type", "yaml", "--output-type", "json", "/dev/stdin", input=ours.stdout)
    assert back.returncode == 0 and json.loads(back.stdout)["last"] == "seven"


def test_a_key_that_fails_is_skipped_and_reported(tmp_path: Path) -> None:
    """A sops file that also has a PGP key opens through its age key; with only a PGP key that
    gpg cannot open, exit 128 names the key and gpg's reason in one line (sops: 128 too)."""
    need_shared()
    enc = (VECTORS / "enc.yaml").read_text()
    pgp = ("    pgp:\n        - created_at: \"2026-11-22T02:33:26Z\"\n          enc: |-\n"
           "            -----BEGIN PGP MESSAGE-----\n            x\n            -----END PGP MESSAGE-----\n"
           "          fp: 0123456789ABCDEF0123456789ABCDEF01234567\n")
    with_pgp = enc.replace("    unencrypted_suffix:", pgp + "    unencrypted_suffix:")
    f = tmp_path / "mixed.yaml"
    f.write_text(with_pgp)
    gnupg = GnuPGHome()  # empty: never the developer's keyring
    try:
        ours, theirs = run_sopsy("decrypt", str(f), env=gnupg.env()), run_sops("decrypt", str(f), env=gnupg.env())
        assert ours.returncode == 0 == theirs.returncode
        assert _all_docs(ours.stdout.decode()) == _all_docs(theirs.stdout.decode())
        only_pgp = re.sub(r"    age:\n(?:        .*\n|            .*\n)+", "", with_pgp)
        g = tmp_path / "pgp-only.yaml"
        g.write_text(only_pgp)
        r = run_sopsy("decrypt", str(g), env=gnupg.env())
        assert r.returncode == 128 == run_sops("decrypt", str(g), env=gnupg.env()).returncode
        assert r.stdout == b"" and r.stderr.decode().count("\n") == 1
        assert "pgp 0123456789ABCDEF0123456789ABCDEF01234567: gpg: no valid OpenPGP data found" in r.stderr.decode()
    finally:
        gnupg.close()


def test_unquoted_times_in_metadata_are_read_as_sops_reads_them(tmp_path: Path) -> None:
    """Hand-edited or old files may write `lastmodified: 2026-...Z` unquoted (a YAML timestamp)."""
    need_shared()
    enc = re.sub(r'lastmodified: "([^"]+)"', r"lastmodified: \1", (VECTORS / "enc.yaml").read_text())
    assert 'lastmodified: "' not in enc
    f = tmp_path / "unquoted.yaml"
    f.write_text(enc)
    ours, theirs = run_sopsy("decrypt", str(f)), run_sops("decrypt", str(f))
    assert ours.returncode == 0 == theirs.returncode
    assert _all_docs(ours.stdout.decode()) == _all_docs(theirs.stdout.decode())


def test_block_with_leading_blank_under_a_dash_decrypts_to_yaml_that_reads_back(tmp_path: Path) -> None:
    # go-yaml (so sops) writes `run: |4-` inside a sequence item with its lines only 2 columns
    # past the key: YAML no parser reads, sops included (a GitHub Actions step `run: |` whose
    # script starts with a blank line, in actions/starter-workflows). sopsy writes the real
    # indicator, so its output, and `set` (which re-reads it), work.
    plain = ('k: "\\n x"\nm:\n  k: " x\\ny"\nl:\n  - "\\nx\\ny"\n  - name: a\n    run: "\\nx\\n"\n'
             '  - - " x\\ny"\nsteps:\n  - name: Show output\n    run: |2-\n\n      echo done\n')
    f = tmp_path / "blocks.yaml"
    f.write_text(plain)
    made = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    out = run_sopsy("decrypt", str(f))
    assert out.returncode == 0 and yaml.safe_load(out.stdout) == yaml.safe_load(plain)
    assert b"run: |2-\n\n" in out.stdout and b"k: |4-\n\n     x" in out.stdout  # (sops's where valid)
    back = tmp_path / "plain.yaml"
    back.write_bytes(out.stdout)
    assert run_sops("encrypt", "--age", RECIPIENT, str(back)).returncode == 0  # sops reads it too
    assert run_sopsy("set", str(f), '["k2"]', '"v"').returncode == 0
    got = run_sops("decrypt", "--output-type", "json", str(f))
    assert got.returncode == 0 and json.loads(got.stdout) == {**yaml.safe_load(plain), "k2": "v"}

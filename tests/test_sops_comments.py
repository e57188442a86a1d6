"""Comments the real sops encrypted stay encrypted when sopsy writes the file again (set, unset,
rotate, edit): sopsy keeps its own files' comments readable, but must not turn text a sops user
had encrypted into plaintext. And decrypting such a file prints the comments as sops does.

Every file here is made by the real sops; the checks read the result with sops too."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from conftest import RECIPIENT, run_sops, run_sopsy

# format -> (suffix, plaintext with comments, a path to set, the comment texts)
CASES = {
    "yaml": (".yaml", "# top secret note\na: 1 # inline note\nb:\n  # item note\n  - x\n  - y\nn:\n  # nested note\n"
             "  k: v\n", '["a"]', ["top secret note", "inline note", "item note", "nested note"]),
    "dotenv": (".env", "# top secret note\nA=1\n# mid note\nB=2\n", '["A"]', ["top secret note", "mid note"]),
    "ini": (".ini", "; top secret note\n[s]\n# key note\na = 1\nb = 2\n", '["s"]["a"]', ["top secret note", "key note"]),
}


def _sops_made(tmp_path: Path, fmt: str) -> tuple[Path, str]:
    suffix, plain, *_ = CASES[fmt]
    f = tmp_path / f"s{suffix}"
    f.write_text(plain)
    r = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert r.returncode == 0, r.stderr
    f.write_bytes(r.stdout)
    return f, r.stdout.decode()


def _comment_encs(text: str) -> set[str]:
    return set(re.findall(r"ENC\[AES256_GCM,[^\]]*type:comment\]", text))


@pytest.mark.parametrize("fmt", sorted(CASES))
@pytest.mark.parametrize("command", ["set", "rotate"])
def test_comments_sops_encrypted_stay_encrypted(fmt: str, command: str, tmp_path: Path) -> None:
    f, before = _sops_made(tmp_path, fmt)
    *_, path, notes = CASES[fmt]
    assert _comment_encs(before) and not any(n in before for n in notes)
    args = ("set", str(f), path, '"2"') if command == "set" else ("rotate", "-i", str(f))
    r = run_sopsy(*args)
    assert r.returncode == 0, r.stderr
    after = f.read_text()
    assert not any(n in after for n in notes), after  # no comment text in plaintext
    if command == "set":  # same data key: an unchanged comment keeps its very ciphertext
        assert _comment_encs(before) & _comment_encs(after)
    out = run_sops("decrypt", str(f))
    assert out.returncode == 0, out.stderr
    assert b"possibly unencrypted comment" not in out.stderr  # sops decrypts every comment
    assert run_sopsy("decrypt", str(f)).stdout == out.stdout  # and prints what sops prints
    for n in notes[:2]:  # sops sees the comments (INI: the first line of a block, see docs/formats.md)
        assert n.encode() in out.stdout


def test_sopsy_own_files_keep_comments_readable(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("# a note\na: 1\n")
    assert run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f)).returncode == 0
    assert run_sopsy("set", str(f), '["a"]', "2").returncode == 0
    assert "# a note" in f.read_text()


def test_ini_comment_block_decrypts_as_sops_prints_it(tmp_path: Path) -> None:
    # go-ini joins a comment block into one value, which sops encrypts whole; decrypting it
    # writes each line with one blank after the mark ('#  x' -> '# x', '#' -> '# ')
    f = tmp_path / "u.ini"
    f.write_text("#  SPDX: x\n#\n#  This file is part of y.\n\n[Unit]\n# key note\n#   more\nA=1\n")
    r = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert r.returncode == 0, r.stderr
    f.write_bytes(r.stdout)
    out = run_sops("decrypt", str(f))
    assert out.stdout.startswith(b"; SPDX: x\n# \n# This file is part of y.\n[Unit]\n; key note\n# more\n")
    assert run_sopsy("decrypt", str(f)).stdout == out.stdout
    # written again by sopsy, each block is one encrypted comment again, which sops prints
    # whole; its text is the one go-ini writes (as after a sops edit), and from then on an edit
    # keeps its ciphertext
    assert run_sopsy("set", str(f), '["Unit"]["A"]', '"2"').returncode == 0
    assert len(_comment_encs(f.read_text())) == 2
    again = run_sops("decrypt", str(f))
    assert again.stdout == out.stdout.replace(b"A = 1", b"A = 2") and not again.stderr
    before = _comment_encs(f.read_text())
    assert run_sopsy("set", str(f), '["Unit"]["A"]', '"3"').returncode == 0
    assert _comment_encs(f.read_text()) == before


def test_merge_keeps_comments_sops_encrypted(tmp_path: Path) -> None:
    base, _ = _sops_made(tmp_path, "yaml")
    ours, theirs = tmp_path / "ours.yaml", tmp_path / "theirs.yaml"
    ours.write_bytes(base.read_bytes())
    theirs.write_bytes(base.read_bytes())
    assert run_sopsy("set", str(ours), '["a"]', "2").returncode == 0
    assert run_sopsy("set", str(theirs), '["n"]["k"]', '"w"').returncode == 0
    r = run_sopsy("merge", str(base), str(ours), str(theirs), "s.yaml")
    assert r.returncode == 0, r.stderr
    merged = ours.read_text()
    assert not any(n in merged for n in CASES["yaml"][3])
    out = run_sops("decrypt", str(ours))
    assert b"possibly unencrypted comment" not in out.stderr and b"k: w" in out.stdout and b"a: 2" in out.stdout


def test_one_comment_text_in_two_places_keeps_each_ciphertext(tmp_path: Path) -> None:
    """sops encrypts a comment under its container's path: the same text in two mappings has
    two AADs. A rewrite by sopsy gives each its own back (so its own IV: the line is unchanged),
    and sops decrypts every comment of the result."""
    plain = b"a:\n  # same\n  x: 1\nb:\n  # same\n  y: 2\n  # other\n  z: 3\n"
    r = run_sops("encrypt", "--age", RECIPIENT, "--filename-override", "s.yaml", "/dev/stdin", input=plain)
    assert r.returncode == 0, r.stderr
    f = tmp_path / "s.yaml"
    f.write_bytes(r.stdout)
    before = [ln for ln in r.stdout.decode().splitlines() if ln.lstrip().startswith("#ENC")]
    assert len(before) == 3
    assert run_sopsy("set", str(f), '["b"]["y"]', "5").returncode == 0
    after = [ln for ln in f.read_text().splitlines() if ln.lstrip().startswith("#ENC")]
    assert after == before
    out = run_sops("decrypt", str(f))
    assert out.returncode == 0 and b"possibly unencrypted" not in out.stderr, out.stderr
    assert out.stdout.count(b"# same") == 2 and b"\"y\": 5" in out.stdout


def test_changed_comment_after_a_nested_block_stays_readable_to_sops(tmp_path: Path) -> None:
    """go-yaml gives a comment that ends a nested block to the block its column is in, and sops
    encrypts it under that block's path: a comment sopsy re-encrypts (its text edited) must use
    the same path, or sops cannot decrypt it and shows the ciphertext."""
    f = tmp_path / "s.yaml"
    f.write_text("l:\n  - x\n# after list\nz: 9\nn:\n  p:\n    q: 1\n    # at q\n  # at p\n# at top\nw: 1\n")
    made = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    script = tmp_path / "ed.py"
    script.write_text("import sys\np = sys.argv[1]\nt = open(p).read()\n"
                      "open(p, 'w').write(t.replace('# a', '# changed a').replace('\\nw: 1', '\\n# new\\nw: 1'))\n")
    r = run_sopsy("edit", str(f), env={"SOPS_EDITOR": f"{sys.executable} {script}", "EDITOR": ""})
    assert r.returncode == 0, r.stderr
    assert "changed" not in f.read_text()
    out = run_sops("decrypt", str(f))
    assert out.returncode == 0 and b"possibly unencrypted comment" not in out.stderr, out.stderr
    assert out.stdout.decode().count("# changed a") == 4 and b"# new\n" in out.stdout, out.stdout


def test_comment_moved_to_another_block_stays_readable_to_sops(tmp_path: Path) -> None:
    """An unchanged comment moved in an edit is encrypted for where it now stands (it kept the
    AAD of its old block, and sops could not decrypt it there); one left in place keeps its
    very ciphertext."""
    f = tmp_path / "s.yaml"
    f.write_text("m:\n  # moving note\n  k: 1\n# staying note\nz: 2\n")
    made = run_sops("encrypt", "--age", RECIPIENT, str(f))
    assert made.returncode == 0, made.stderr
    f.write_bytes(made.stdout)
    script = tmp_path / "ed.py"
    script.write_text("import sys\np = sys.argv[1]\nt = open(p).read().replace('    # moving note\\n', '')\n"
                      "open(p, 'w').write(t.replace('z: 2', 'z: 2\\n# moving note\\nw: 3'))\n")
    r = run_sopsy("edit", str(f), env={"SOPS_EDITOR": f"{sys.executable} {script}", "EDITOR": ""})
    assert r.returncode == 0, r.stderr
    staying = [e for e in _comment_encs(made.stdout.decode()) if e in f.read_text()]
    assert len(staying) == 1  # the comment in place kept its ciphertext
    out = run_sops("decrypt", str(f))
    assert out.returncode == 0 and b"possibly unencrypted comment" not in out.stderr, out.stderr
    assert out.stdout.decode().endswith("z: 2\n# moving note\nw: 3\n"), out.stdout


def test_empty_list_with_a_comment_stays_an_empty_list(tmp_path: Path) -> None:
    """sops stores ``key: [] # note`` as a block of one ``- ENC[...type:comment]`` element and
    prints it as ``key: []`` with the comment below at the key's column. Written back as comment
    lines under ``key:``, the value became null (found on a terraform-example-foundation policy,
    ``exclude: [] # optional, default is no exclusions``): decrypt and set keep it a list."""
    import json

    import yaml

    f = tmp_path / "s.yaml"
    for plain in ["spec:\n  match:\n    exclude: [] # optional\n    target: x\n", "a: [] # c\n",
                  "x:\n  a: [] # c\n  # d\n  b: 1\n", "a: [] # c\r\nb: 1\r\n"]:
        f.write_bytes(plain.encode())
        made = run_sops("encrypt", "--age", RECIPIENT, str(f))
        assert made.returncode == 0, made.stderr
        f.write_bytes(made.stdout)
        ours, theirs = run_sopsy("decrypt", str(f)), run_sops("decrypt", str(f))
        assert ours.returncode == 0 and yaml.safe_load(ours.stdout) == yaml.safe_load(plain)
        if "# d" not in plain:  # (sops drops the first of two comments there; sopsy keeps both)
            assert ours.stdout == theirs.stdout
        first = re.search(r"^ *(\w+):", plain).group(1)  # type: ignore[union-attr]
        assert run_sopsy("set", str(f), f'["{first}"]["new"]' if plain[0] != "a" else '["new"]',
                         '"v"').returncode == 0
        got = run_sops("decrypt", "--output-type", "json", str(f))
        assert got.returncode == 0 and b"possibly unencrypted comment" not in got.stderr, got.stderr
        data = json.loads(got.stdout)
        assert [] in (data.get("a"), data.get("x", {}).get("a"), data.get("spec", {}).get("match", {}).get("exclude"))

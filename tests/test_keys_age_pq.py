"""Post-quantum hybrid age keys (age1pq1… / AGE-SECRET-KEY-PQ-1…): the CCTV vectors, the spec's
example key, and both directions with the real sops (whose age 1.3 reads and writes them)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEY, RECIPIENT, TESTDATA, run_sops, run_sopsy

from sopsy.keys import age_pq, ageformat

CCTV = TESTDATA / "cctv-age"
PLAIN = "db:\n    password: hunter2\nport: 5432\n"


def _vector(name: str) -> tuple[dict[str, str], bytes]:
    """The header fields (``identity`` holds every identity, space-separated) and the file."""
    head, body = (CCTV / name).read_bytes().split(b"\n\n", 1)
    fields: dict[str, str] = {}
    for line in head.decode().splitlines():
        key, value = line.split(": ", 1)
        fields[key] = f"{fields[key]} {value}" if key in fields else value
    if fields.get("compressed") == "zlib":
        body = zlib.decompress(body)
    return fields, body


def _outcome(fields: dict[str, str], body: bytes) -> str:
    """What sopsy's reading of the file comes to, in the vocabulary of the vectors' ``expect``."""
    try:
        f = ageformat.parse(body.decode()) if fields.get("armored") == "yes" else ageformat.AgeFile(body)
        identity = age_pq.HybridIdentity.parse(fields["identity"])
        keyed = [(s, identity.unwrap(s)) for s in f.stanzas]  # (PQ identities only: see below)
    except ageformat.AgeFormatError:
        return "header failure"
    file_key = next((k for _, k in keyed if k is not None), None)
    if file_key is None:
        return "no match"
    assert file_key.hex() == fields["file key"]
    try:
        payload = f.decrypt(file_key)
    except ageformat.AgeFormatError:
        return "payload failure"
    assert hashlib.sha256(payload).hexdigest() == fields["payload"]
    return "success"


PQ_VECTORS = sorted(p.name for p in CCTV.iterdir() if "hybrid" in p.name and p.name != "hybrid_x25519_arg")


@pytest.mark.parametrize("name", PQ_VECTORS)
def test_cctv_hybrid_vector(name: str) -> None:
    fields, body = _vector(name)
    assert _outcome(fields, body) == fields["expect"], fields.get("comment", "")


def test_cctv_x25519_stanza_with_hybrid_enc_opens_with_neither_identity() -> None:
    """The 19th vector: an X25519 stanza carrying a hybrid enc. Its X25519 identity is pyrage's
    to reject; the PQ one must not take the stanza for its own."""
    assert len(PQ_VECTORS) == 18
    fields, body = _vector("hybrid_x25519_arg")
    assert fields["expect"] == "header failure"
    x25519_id, pq_id = fields["identity"].split()
    import pyrage

    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(body, [pyrage.x25519.Identity.from_str(x25519_id)])
    assert age_pq.decrypt_file(ageformat.AgeFile(body), [age_pq.HybridIdentity.parse(pq_id)]) is None


def test_spec_example_identity_gives_the_spec_recipient() -> None:
    lines = [ln for ln in (CCTV / "spec_example_pq_key.txt").read_text().splitlines() if not ln.startswith("#")]
    identity = age_pq.HybridIdentity.parse(lines[0])
    assert str(identity.recipient()) == lines[1]
    assert str(identity) == lines[0]
    assert "AGE-SECRET" not in repr(identity)


def test_malformed_keys_are_refused() -> None:
    secret, public = age_pq.generate()
    bad_checksum = public[:-1] + ("q" if public[-1] != "q" else "p")
    for text in (bad_checksum, public.upper()[:20] + public[20:], "age1pq1qqqq"):
        with pytest.raises(age_pq.PQError):
            age_pq.HybridRecipient.parse(text)
    with pytest.raises(age_pq.PQError):
        age_pq.HybridIdentity.parse(secret[:-2])


def test_armor_is_age_armor() -> None:
    _, public = age_pq.generate()
    armored = age_pq.encrypt(public, b"k" * 32)
    lines = armored.splitlines()
    assert lines[0] == ageformat.ARMOR_BEGIN and lines[-1] == ageformat.ARMOR_END and armored.endswith("\n")
    assert all(len(ln) == 64 for ln in lines[1:-2]) and 0 < len(lines[-2]) <= 64
    assert ageformat.dearmor(armored).startswith(b"age-encryption.org/v1\n-> mlkem768x25519 ")


# -- both ways with sops --------------------------------------------------------------------------


@pytest.fixture()
def pq_key(tmp_path: Path) -> tuple[Path, str]:
    """A throwaway post-quantum identity made at test time (sops parses its recipient on its own)."""
    secret, public = age_pq.generate()
    f = tmp_path / "pq-key.txt"
    f.write_text(f"# throwaway test key\n# public key: {public}\n{secret}\n")
    return f, public


def test_sops_encrypts_for_pq_recipient_and_sopsy_decrypts(pq_key: tuple[Path, str], tmp_path: Path) -> None:
    keys, public = pq_key
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    assert run_sops("encrypt", "-i", "--age", public, str(f)).returncode == 0
    assert "mlkem768x25519" in ageformat.dearmor(yaml.safe_load(f.read_text())["sops"]["age"][0]["enc"]).decode("latin-1")
    r = run_sopsy("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(keys)})
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == PLAIN


def test_sopsy_encrypts_for_pq_recipient_and_sops_decrypts(pq_key: tuple[Path, str], tmp_path: Path) -> None:
    keys, public = pq_key
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    r = run_sopsy("encrypt", "-i", "--age", public, str(f))
    assert r.returncode == 0, r.stderr.decode()
    entry = yaml.safe_load(f.read_text())["sops"]["age"][0]
    assert entry["recipient"] == public
    back = run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(keys)})
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout.decode() == PLAIN
    # SOPS_AGE_KEY with an X25519 and a PQ key, one per line; on one line (sops after 3.11) for sopsy
    lines = f"{AGE_KEY.read_text().split()[-1]}\n{keys.read_text().split()[-1]}"
    for tool, text in ((run_sops, lines), (run_sopsy, lines), (run_sopsy, lines.replace("\n", " "))):
        assert tool("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": os.devnull, "SOPS_AGE_KEY": text}).stdout.decode() == PLAIN


def test_keygen_pq_makes_an_identity_sops_reads(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    r = run_sopsy("keygen", "--pq", "--output", str(keys))
    assert r.returncode == 0, r.stderr.decode()
    public = r.stderr.decode().split("Public key: ")[1].strip()
    assert public.startswith("age1pq1") and f"# public key: {public}" in keys.read_text()
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    assert run_sops("encrypt", "-i", "--age", public, str(f)).returncode == 0
    back = run_sops("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(keys)})
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout.decode() == PLAIN


def test_file_with_pq_and_x25519_recipients(pq_key: tuple[Path, str], tmp_path: Path) -> None:
    keys, public = pq_key
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    assert run_sops("encrypt", "-i", "--age", f"{RECIPIENT},{public}", str(f)).returncode == 0
    for key_file in (keys, AGE_KEY):
        r = run_sopsy("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(key_file)})
        assert r.returncode == 0, r.stderr.decode()
        assert r.stdout.decode() == PLAIN


def test_wrong_pq_identity_is_reported_in_one_short_line(pq_key: tuple[Path, str], tmp_path: Path) -> None:
    _, public = pq_key
    other, _ = age_pq.generate()
    (tmp_path / "other.txt").write_text(other + "\n")
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    assert run_sopsy("encrypt", "-i", "--age", public, str(f)).returncode == 0
    r = run_sopsy("decrypt", str(f), env={"SOPS_AGE_KEY_FILE": str(tmp_path / "other.txt")})
    assert r.returncode == 128
    err = r.stderr.decode()
    assert err.count("\n") == 1 and len(err) < 400 and "none of the age identities matches" in err
    assert other not in err


def test_x25519_file_does_not_load_post_quantum_code(pq_key: tuple[Path, str], tmp_path: Path) -> None:
    """Holding a PQ identity costs nothing until a file needs it."""
    keys, _ = pq_key
    mixed = tmp_path / "keys.txt"
    mixed.write_text(AGE_KEY.read_text() + keys.read_text())
    code = textwrap.dedent(f"""
        import sys
        from sopsy import commands
        commands.decrypt({str(TESTDATA / "sops-vectors" / "enc.yaml")!r}, output={os.devnull!r})
        print(sorted(m for m in sys.modules if m.endswith(("age_pq", "ageformat", "hpke", "mlkem"))))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       env={**os.environ, "SOPS_AGE_KEY_FILE": str(mixed)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"

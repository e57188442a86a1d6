"""Binary data through other output formats (issue 8): ``--input-type binary --output-type
yaml|json`` encrypts the very bytes that came in (sops keeps binary data as a string of raw bytes),
so sopsy and sops both give them back; and no byte run of the data reaches the encrypted file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from conftest import RECIPIENT, run_sops, run_sopsy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.fileio import decode
from sopsy.keys import KeySpec
from sopsy.stores import get_store

OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
_rnd = random.Random(8)
SAMPLES = [b"\xff\xfe", b"\xff\xfeab\x00\n", bytes(range(256)), b"caf\xc3\xa9 \xe9 \x80",
           *(_rnd.randbytes(_rnd.randint(1, 600)) for _ in range(3))]


def sopsy_encrypt(src: Path, out_type: str, dest: Path) -> None:
    done = run_sopsy("encrypt", "--age", RECIPIENT, "--input-type", "binary", "--output-type", out_type,
                     "--output", str(dest), str(src))
    assert done.returncode == 0, done.stderr.decode()


def sopsy_decrypt(src: Path, in_type: str, dest: Path) -> bytes:
    done = run_sopsy("decrypt", "--input-type", in_type, "--output-type", "binary", "--output", str(dest), str(src))
    assert done.returncode == 0, done.stderr.decode()
    return dest.read_bytes()


@pytest.mark.parametrize("out_type", ["yaml", "json"])
@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_sopsy_encrypts_the_bytes_and_both_tools_give_them_back(data: bytes, out_type: str, tmp_path: Path) -> None:
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    enc = tmp_path / f"blob.enc.{out_type}"
    sopsy_encrypt(src, out_type, enc)
    assert sopsy_decrypt(enc, out_type, tmp_path / "back.bin") == data
    done = run_sops("decrypt", "--input-type", out_type, "--output-type", "binary", str(enc))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == data


@pytest.mark.parametrize("out_type", ["yaml", "json"])
@pytest.mark.parametrize("data", SAMPLES[:2] + SAMPLES[-1:], ids=lambda d: f"{len(d)}B")
def test_sops_encrypts_the_bytes_and_sopsy_gives_them_back(data: bytes, out_type: str, tmp_path: Path) -> None:
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    done = run_sops("encrypt", "--age", RECIPIENT, "--input-type", "binary", "--output-type", out_type, str(src))
    assert done.returncode == 0, done.stderr.decode()
    enc = tmp_path / f"blob.enc.{out_type}"
    enc.write_bytes(done.stdout)
    assert sopsy_decrypt(enc, out_type, tmp_path / "back.bin") == data


_secret = st.builds(lambda h: b"sk-live-" + h.encode(), st.text("0123456789abcdef", min_size=6, max_size=10))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=20), _secret), max_size=6), st.sampled_from(["binary", "yaml", "json"]))
def test_property_no_data_in_the_encrypted_output(pieces: list[bytes], out_type: str) -> None:
    data = b"".join(pieces)
    secrets = [p for p in pieces if p.startswith(b"sk-live-")]
    store = get_store("binary")
    parsed = store.parse(decode(data))
    out = get_store(out_type)
    if out is not store:
        parsed = core.convert(parsed, out)
    enc = core.encrypt_parsed(out, parsed, OPTS).encode("utf-8", "surrogateescape")
    assert not [s for s in secrets if s in enc]
    back = core.decrypt_text(out, enc.decode("utf-8", "surrogateescape"))
    value = back.parsed.documents[0].get("data")
    assert value is not None and getattr(value, "value", None) == decode(data)

"""The binary store: exact bytes back (non-UTF-8 included), sops's JSON envelope, agreement with
the real sops binary in both directions, robustness."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
from conftest import VECTORS, sops_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.errors import DumpError, SopsyError
from sopsy.keys import KeySpec
from sopsy.model import Mapping, Scalar
from sopsy.stores.binary import STORE

REPO = Path(__file__).resolve().parent.parent
SOPS = Path(sops_binary())  # the real sops from sops-binary, found next to this Python
KEY = REPO / "testdata" / "throwaway_age_key.txt"  # throwaway test key
A1 = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", A1)]])




def as_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # what the CLI does with file bytes


def sops(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, SOPS_AGE_KEY_FILE=str(KEY), SOPS_DISABLE_VERSION_CHECK="1")
    return subprocess.run([str(SOPS), *args], input=stdin, capture_output=True, env=env, timeout=60)


SAMPLES = [
    b"binary\x00data\nwith newline\n",
    bytes(range(256)) * 3,  # every byte value, invalid UTF-8 included
    b"",
    b"\xff\xfe\x00\x01 keystore",
    b'{"not": "sops"}\n',
    "caf\u00e9 \u2028 <&>\n".encode(),
]


@pytest.mark.parametrize("data", SAMPLES)
def test_round_trip_exact_bytes(data: bytes, tmp_path: Path) -> None:
    enc = core.encrypt_text(STORE, as_text(data), OPTS)
    assert enc.startswith('{\n\t"data": "') and enc.endswith("\n}\n")
    back = core.decrypt_text(STORE, enc).plaintext()
    assert back.encode("utf-8", "surrogateescape") == data
    # the real sops decrypts it to the same bytes, MAC accepted
    f = tmp_path / "x.bin"
    f.write_bytes(enc.encode("utf-8", "surrogateescape"))
    r = sops("decrypt", "--input-type", "binary", "--output-type", "binary", str(f))
    assert r.returncode == 0, r.stderr.decode()[-300:]
    assert r.stdout == data


def test_sops_made_vector() -> None:
    out = core.decrypt_text(STORE, as_text((VECTORS / "enc.bin").read_bytes())).plaintext()
    assert out.encode("utf-8", "surrogateescape") == (VECTORS / "dec.bin").read_bytes()


def test_sops_encrypts_sopsy_decrypts(tmp_path: Path) -> None:
    data = bytes(range(255, -1, -1))
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    r = sops("encrypt", "--age", A1, str(f))
    assert r.returncode == 0, r.stderr.decode()[-300:]
    out = core.decrypt_text(STORE, as_text(r.stdout)).plaintext()
    assert out.encode("utf-8", "surrogateescape") == data


def test_envelope_matches_sops_layout() -> None:
    enc = core.encrypt_text(STORE, "x", OPTS)
    # sopsy's own metadata fields (sopsy_*, ignored by sops) come after sops's, before the closing braces
    ours = [ln.split(":")[0] for ln in enc.split("\n") if '"sopsy_' not in ln]
    theirs = [ln.split(":")[0] for ln in (VECTORS / "enc.bin").read_text().split("\n")]
    assert ours == theirs


def test_emit_needs_one_data_value() -> None:
    assert STORE.emit([Mapping([("data", Scalar("abc"))])]) == "abc"
    with pytest.raises(DumpError):
        STORE.emit([Mapping([("a", Scalar("abc"))])])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_property_round_trip(data: bytes) -> None:
    enc = core.encrypt_text(STORE, as_text(data), OPTS)
    assert core.decrypt_text(STORE, enc).plaintext().encode("utf-8", "surrogateescape") == data


_ENC = core.encrypt_text(STORE, "secret\x00bytes", OPTS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(_ENC) - 1), st.sampled_from(["", "x", '"', "{", "]", "A", "\\", "0"]), st.booleans())
def test_property_damaged_input_only_sopsy_errors(pos: int, repl: str, truncate: bool) -> None:
    damaged = _ENC[:pos] if truncate else _ENC[:pos] + repl + _ENC[pos + 1:]
    with contextlib.suppress(SopsyError):
        core.decrypt_text(STORE, damaged).plaintext()

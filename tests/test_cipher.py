"""The ENC[...] string grammar (sopsy/cipher.py): the same acceptance and field split as sops's
regex, in linear time on hostile input."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sopsy.cipher import ValueCipher, parse_enc, split_enc
from sopsy.errors import DecryptTreeError

# sops (stores/stores.go) parses ENC strings with this Go regexp. Go's and Python's engines give
# the same groups for it (leftmost-first, greedy); Python's backtracks, so it is only a reference
# on short strings here.
SOPS_REGEX = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
PIECES = ["ENC[AES256_GCM,data:", ",iv:", ",tag:", ",type:", "]", "]x", "a", "=", "\n", "\r", ",", ":",
          "iv", "tag", ",type", "ENC["]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12), st.booleans())
def test_split_matches_sops_regex(pieces: list[str], prefixed: bool) -> None:
    text = ("ENC[AES256_GCM,data:" if prefixed else "") + "".join(pieces)
    m = SOPS_REGEX.match(text)
    assert split_enc(text) == (m.groups() if m else None)


def test_well_formed_value_round_trips() -> None:
    cipher = ValueCipher(b"k" * 32)
    enc = cipher.encrypt(b"secret", b"a:", "str")
    assert cipher.decrypt(enc, b"a:") == (b"secret", "str")
    # text after the closing bracket is outside the match, as in sops
    assert parse_enc(enc + " trailing") == parse_enc(enc)


CRAFTED = [
    # ~10 KB each: a backtracking engine needs minutes to hours on these (measured: 3 KB of the
    # second one took 4.4 s with the old regex fallback, and the time grows as the 4th power)
    "ENC[AES256_GCM,data:" + ",iv:,tag:" * 1100,
    "ENC[AES256_GCM,data:" + ",iv:,tag:,type:" * 700,
    "ENC[AES256_GCM,data:" + ",iv:,tag:,type:x" * 650,
    "ENC[AES256_GCM,data:" + "A,iv:A,tag:A,type:A" * 500 + "\n]",
    "ENC[AES256_GCM,data:" + "A,iv:A,tag:A,type:A" * 500 + "]",
]


def test_crafted_values_are_refused_without_backtracking() -> None:
    # In a child process with a generous limit: a regression hangs rather than fails, and the
    # suite must not hang with it. (Not a speed assertion: the fixed code needs microseconds.)
    code = (
        "import sys\n"
        "from sopsy.cipher import parse_enc\n"
        "from sopsy.errors import DecryptTreeError\n"
        f"for text in {CRAFTED!r}:\n"
        "    try:\n"
        "        parse_enc(text)\n"
        "    except DecryptTreeError as exc:\n"
        "        print(exc)\n"
        "    else:\n"
        "        sys.exit('accepted')\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("parsing a crafted ENC string backtracks (did not finish in 60 s)")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(CRAFTED)
    # the all-"A" one splits (greedy) but its fields are not base64 of the right sizes
    assert all("sops' data format" in ln or "base64" in ln or "tag or IV" in ln for ln in lines)


def test_crafted_values_split_as_the_regex_would() -> None:
    assert [split_enc(text) for text in CRAFTED[:4]] == [None] * 4  # no "]" on the first line
    # greedy: the data group runs to the last ",iv:" that leaves the other groups non-empty
    assert split_enc(CRAFTED[4]) == ("A,iv:A,tag:A,type:A" * 499 + "A", "A", "A", "A")
    with pytest.raises(DecryptTreeError, match="base64"):
        parse_enc(CRAFTED[4])


_FORK_SCRIPT = """
import os
from sopsy.cipher import ValueCipher, iv_of
c = ValueCipher(b"k" * 32)
c.encrypt(b"first", b"a:", "str")  # draws a block of random IVs
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, iv_of(c.encrypt(b"child value", b"a:", "str")).encode())
    os._exit(0)
os.waitpid(pid, 0)
child = os.read(r, 100).decode()
print(child == iv_of(c.encrypt(b"parent value", b"a:", "str")))
"""


def test_a_forked_child_never_reuses_the_parents_ivs() -> None:
    """Two processes from one fork, each encrypting a different value under the same data key
    (workers of a pre-forking server editing one file): the IVs must differ, or GCM leaks the
    XOR of the values and its authentication key."""
    out = subprocess.run([sys.executable, "-c", _FORK_SCRIPT], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out


def test_a_changed_value_gets_a_fresh_iv_and_an_unchanged_one_keeps_its_own() -> None:
    c = ValueCipher(b"k" * 32)
    old = {p: c.encrypt(p, b"k:", "str") for p in (b"one", b"two")}
    again = ValueCipher(b"k" * 32)
    for enc in old.values():
        again.decrypt(enc, b"k:")
    again.new_pass()
    assert again.encrypt(b"one", b"k:", "str") == old[b"one"]
    changed = again.encrypt(b"three", b"k:", "str")
    elsewhere = again.encrypt(b"one", b"other:", "str")  # same text, other path
    ivs = {split_enc(e)[1] for e in old.values()}  # type: ignore[index]
    assert split_enc(changed)[1] not in ivs and split_enc(elsewhere)[1] not in ivs  # type: ignore[index]

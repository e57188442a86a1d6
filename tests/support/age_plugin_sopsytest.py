"""TEST DOUBLE: an age plugin named ``sopsytest`` for sopsy's tests. It protects nothing.

Run as ``age-plugin-sopsytest --age-plugin=recipient-v1|identity-v1`` (a shim on PATH execs this
file), it speaks the C2SP age-plugin protocol over stdin/stdout with a deliberately trivial wrap:
a recipient ``age1sopsytest1…`` and its identity ``AGE-PLUGIN-SOPSYTEST-1…`` carry the *same*
32-byte secret, and the stanza ``-> sopsytest TAG`` holds the file key XORed with SHA-256 of it.
It is written from the spec alone (no sopsy code) so that it checks sopsy, rage and sops.
When SOPSYTEST_PLUGIN_LOG names a file, each run appends its state machine name there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_data(text: str) -> bytes:
    """The data part of a Bech32 string (the checksum is the client's business)."""
    text = text.lower()
    values = [CHARSET.index(c) for c in text[text.rfind("1") + 1:-6]]
    acc = bits = 0
    out = bytearray()
    for v in values:
        acc, bits = (acc << 5) | v, bits + 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def read_stanza() -> tuple[list[str], bytes]:
    line = sys.stdin.readline()
    if not line.startswith("-> "):
        raise SystemExit(f"sopsytest: unexpected line {line!r}")
    args = line[3:].rstrip("\n").split(" ")
    body = b""
    while True:
        chunk = sys.stdin.readline().rstrip("\n")
        body += unb64(chunk)
        if len(chunk) < 64:
            return args, body


def write_stanza(args: list[str], body: bytes = b"") -> None:
    text = b64(body)
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append("")
    sys.stdout.write("-> " + " ".join(args) + "\n" + "\n".join(lines) + "\n")
    sys.stdout.flush()


def pad_and_tag(secret: bytes) -> tuple[bytes, str]:
    digest = hashlib.sha256(secret).digest()
    return digest[:16], b64(digest[16:20])


def phase_one() -> list[tuple[list[str], bytes]]:
    commands = []
    while True:
        args, body = read_stanza()
        if args[0] == "done":
            return commands
        commands.append((args, body))


def recipient_v1() -> None:
    recipients, keys = [], []
    for args, body in phase_one():
        if args[0] in ("add-recipient", "add-identity"):
            recipients.append(bech32_data(args[1]))
        elif args[0] == "wrap-file-key":
            keys.append(body)
    for index, key in enumerate(keys):
        for secret in recipients:
            pad, tag = pad_and_tag(secret)
            write_stanza(["recipient-stanza", str(index), "sopsytest", tag], bytes(a ^ b for a, b in zip(key, pad, strict=True)))
            read_stanza()  # ok
    write_stanza(["done"])


def identity_v1() -> None:
    identities, stanzas = [], []
    for args, body in phase_one():
        if args[0] == "add-identity":
            identities.append(bech32_data(args[1]))
        elif args[0] == "recipient-stanza" and args[2] == "sopsytest":
            stanzas.append((int(args[1]), args[3], body))
    write_stanza(["msg"], b"sopsytest test double is unwrapping")
    read_stanza()  # ok or fail: either way, go on
    done = set()
    for index, tag, body in stanzas:
        for secret in identities:
            pad, mine = pad_and_tag(secret)
            if mine == tag and index not in done and len(body) == 16:
                write_stanza(["file-key", str(index)], bytes(a ^ b for a, b in zip(body, pad, strict=True)))
                read_stanza()  # ok
                done.add(index)
    write_stanza(["done"])


def main() -> None:
    machine = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--age-plugin=")), "")
    log = os.environ.get("SOPSYTEST_PLUGIN_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(machine + "\n")
    if machine == "recipient-v1":
        recipient_v1()
    elif machine == "identity-v1":
        identity_v1()
    else:
        sys.exit(f"sopsytest: unknown state machine {machine!r}")


if __name__ == "__main__":
    main()

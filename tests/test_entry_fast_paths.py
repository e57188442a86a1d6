"""The typer-free fast paths of `decrypt` and `encrypt` must read arguments exactly as the typer
CLI does: both are driven here with the same argument lists and the calls they make compared."""

from __future__ import annotations

from typing import Any

import pytest

from sopsy import cli, commands, entry

ENCRYPT_ARGS = [
    ["encrypt", "f.yaml"],
    ["encrypt", "--age", "age1a,age1b", "-i", "f.yaml"],
    ["encrypt", "-a", "age1a", "--age=age1b", "--output", "o.yaml", "f.yaml"],
    ["encrypt", "--kms", "arn:x", "--encryption-context", "a:b", "--aws-profile", "p", "f.json"],
    ["encrypt", "--encrypted-regex", "^pw$", "--mac-only-encrypted", "f.yaml"],
    ["encrypt", "--unencrypted-suffix", "_plain", "--shamir-secret-sharing-threshold", "2", "--config", "c", "-"],
    ["encrypt", "--input-type", "yaml", "--output-type", "json", "--gcp-kms", "projects/p", "--pkcs11", "pkcs11:x"],
]
DECRYPT_ARGS = [
    ["decrypt", "f.yaml"],
    ["decrypt", "--extract", '["a"][0]', "--ignore-mac", "f.yaml"],
    ["decrypt", "-i", "--input-type", "json", "--output-type", "yaml", "--decryption-order", "age,kms", "f"],
    ["decrypt", "--output=o.txt", "-"],
]


def _capture(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    def fake(*args: Any, **kwargs: Any) -> None:
        norm = [vars(a) if isinstance(a, commands.KeyOptions) else a for a in args]
        calls.append((norm, {k: v for k, v in kwargs.items() if v not in (None, False)}))

    monkeypatch.setattr(commands, name, fake)
    return calls


def _normalise(call: tuple[Any, ...]) -> tuple[Any, ...]:
    args, kwargs = call
    out = []
    for a in args:
        if isinstance(a, dict):
            a = dict(a)
            a["age"] = list(a["age"] or [])
            a["crypt"] = {k: v for k, v in (a["crypt"] or {}).items() if v}
        out.append(a)
    return out, kwargs


@pytest.mark.parametrize("argv", ENCRYPT_ARGS, ids=lambda a: " ".join(a[1:])[:40])
def test_fast_encrypt_matches_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch, "encrypt")
    fast = entry._fast_encrypt_args(argv)
    assert fast is not None
    path, keys, io = fast
    commands.encrypt(path, commands.KeyOptions(**keys), **io)
    cli.app(args=argv, standalone_mode=False)
    assert len(calls) == 2
    assert _normalise(calls[0]) == _normalise(calls[1])


@pytest.mark.parametrize("argv", DECRYPT_ARGS, ids=lambda a: " ".join(a[1:])[:40])
def test_fast_decrypt_matches_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch, "decrypt")
    fast = entry._fast_decrypt_args(argv)
    assert fast is not None
    path = fast.pop("path")
    commands.decrypt(path, **fast)
    cli.app(args=argv, standalone_mode=False)
    assert len(calls) == 2
    assert calls[0] == calls[1]


def test_unknown_options_fall_back_to_typer() -> None:
    assert entry._fast_encrypt_args(["encrypt", "--help"]) is None
    assert entry._fast_encrypt_args(["encrypt", "--bogus", "x", "f"]) is None
    assert entry._fast_decrypt_args(["decrypt", "--bogus", "f"]) is None
    assert entry._fast_decrypt_args(["decrypt", "a", "b"]) is None

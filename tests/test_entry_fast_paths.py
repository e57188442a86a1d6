"""The typer-free fast paths of `decrypt` and `encrypt` must read arguments exactly as the typer
CLI does: both are driven here with the same argument lists and the calls they make compared."""

from __future__ import annotations

from typing import Any

import pytest

from sopsy import argv as argv_mod
from sopsy import cli, commands, entry
from sopsy.settings import SETTINGS

ENCRYPT_ARGS = [
    ["encrypt", "f.yaml"],
    ["encrypt", "--age", "age1a,age1b", "-i", "f.yaml"],
    ["encrypt", "-a", "age1a", "--age=age1b", "--output", "o.yaml", "f.yaml"],
    ["encrypt", "--kms", "arn:x", "--encryption-context", "a:b", "--aws-profile", "p", "f.json"],
    ["encrypt", "--encrypted-regex", "^pw$", "--mac-only-encrypted", "f.yaml"],
    ["encrypt", "--unencrypted-suffix", "_plain", "--shamir-secret-sharing-threshold", "2", "-"],
    ["encrypt", "-p", "FP1", "--azure-kv", "https://v/keys/k", "--hc-vault-transit", "https://h/v1/t/keys/k", "f.env"],
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
            a["keys"] = {k: list(v) for k, v in (a["keys"] or {}).items()}
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
    assert cli.main(argv) == 0
    assert len(calls) == 2
    assert _normalise(calls[0]) == _normalise(calls[1])


@pytest.mark.parametrize("argv", DECRYPT_ARGS, ids=lambda a: " ".join(a[1:])[:40])
def test_fast_decrypt_matches_typer(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _capture(monkeypatch, "decrypt")
    fast = entry._fast_decrypt_args(argv)
    assert fast is not None
    path = fast.pop("path")
    commands.decrypt(path, **fast)
    assert cli.main(argv) == 0
    assert len(calls) == 2
    assert calls[0] == calls[1]


def test_unknown_options_fall_back_to_typer() -> None:
    assert entry._fast_encrypt_args(["encrypt", "--help"]) is None
    assert entry._fast_encrypt_args(["encrypt", "--bogus", "x", "f"]) is None
    assert entry._fast_decrypt_args(["decrypt", "--bogus", "f"]) is None
    assert entry._fast_decrypt_args(["decrypt", "a", "b"]) is None


@pytest.mark.parametrize("argv", [
    ["--config", "c.yaml", "decrypt", "f.yaml"],
    ["decrypt", "--config=c.yaml", "f.yaml"],
    ["decrypt", "f.yaml", "--config", "c.yaml"],
])
def test_global_config_flag_anywhere_before_double_dash(argv: list[str]) -> None:
    assert argv_mod.take_global_flags(argv) == ["decrypt", "f.yaml"]
    assert SETTINGS.config == "c.yaml"


def test_global_flags_from_sops_tools() -> None:
    # what Ansible's community.sops passes before the subcommand
    args = ["--config", "/x/.sops.yaml", "--keyservice", "tcp://a:1", "--keyservice", "unix:///s",
            "--enable-local-keyservice=false", "decrypt", "--output-type", "json", "/dev/stdin"]
    assert argv_mod.take_global_flags(args) == ["decrypt", "--output-type", "json", "/dev/stdin"]
    assert SETTINGS.keyservices == ["tcp://a:1", "unix:///s"]
    assert SETTINGS.local_keyservice is False


def test_exec_commands_keep_the_command_line_of_their_program() -> None:
    args = ["exec-env", "f.yaml", "--", "prog", "--config", "mine"]
    assert argv_mod.take_global_flags(args) == args
    args = ["exec-env", "f.yaml", "prog --verbose", "--verbose"]
    assert argv_mod.take_global_flags(args) == args

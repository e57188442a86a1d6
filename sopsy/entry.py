"""The console-script entry point.

``git diff`` runs the textconv driver (``sopsy git textconv FILE``, formerly ``sopsy decrypt
FILE``) once per changed file, so both must start fast: they are parsed here by hand and never
import typer (~40 ms).
Anything else goes to the typer CLI. Both call the same :mod:`sopsy.commands` functions.
Nothing imports this module: it only recognises and dispatches.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

_FAST_VALUE_FLAGS = {"--input-type": "input_type", "--output-type": "output_type", "--extract": "extract",
                     "--output": "output", "--decryption-order": "decryption_order",
                     "--filename-override": "filename_override"}
_FAST_BOOL_FLAGS = {"--ignore-mac": "ignore_mac", "-i": "in_place", "--in-place": "in_place"}


def _fast_decrypt_args(args: list[str]) -> dict[str, Any] | None:
    """kwargs for commands.decrypt when ``args`` is a simple decrypt, else None (use typer)."""
    if not args or args[0] != "decrypt":
        return None
    kwargs: dict[str, Any] = {}
    path: str | None = None
    i = 1
    while i < len(args):
        a = args[i]
        if a in _FAST_BOOL_FLAGS:
            kwargs[_FAST_BOOL_FLAGS[a]] = True
        elif a in _FAST_VALUE_FLAGS and i + 1 < len(args):
            kwargs[_FAST_VALUE_FLAGS[a]] = args[i + 1]
            i += 1
        elif "=" in a and a.split("=", 1)[0] in _FAST_VALUE_FLAGS:
            k, v = a.split("=", 1)
            kwargs[_FAST_VALUE_FLAGS[k]] = v
        elif (a == "-" or not a.startswith("-")) and path is None:
            path = a
        else:
            return None
        i += 1
    kwargs["path"] = path
    return kwargs


# `encrypt` with these options skips typer too: typer and what it pulls in (click, rich,
# pydantic) cost 100-200 ms per start, more than encrypting a 10,000-value file. Mirrors
# cli.encrypt; anything else (help, other options, bad values) goes to typer for its messages.
_ENC_KEY_TYPES = {"-a": "age", "--age": "age", "-p": "pgp", "--pgp": "pgp", "-k": "kms", "--kms": "kms",
                  "--gcp-kms": "gcp_kms", "--azure-kv": "azure_kv", "--hc-vault-transit": "hc_vault",
                  "--pkcs11": "pkcs11"}
_ENC_KEY_FLAGS = {"--aws-profile": "aws_profile", "--encryption-context": "encryption_context"}
_ENC_RULE_FLAGS = {f"--{n.replace('_', '-')}": n for n in (
    "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
    "unencrypted_comment_regex", "encrypted_comment_regex")}
_ENC_IO_FLAGS = {"--input-type": "input_type", "--output-type": "output_type", "--output": "output",
                 "--filename-override": "filename_override"}


def _fast_encrypt_args(args: list[str]) -> tuple[str | None, dict[str, Any], dict[str, Any]] | None:
    """(path, KeyOptions kwargs, commands.encrypt kwargs) for a simple encrypt, else None."""
    if not args or args[0] != "encrypt":
        return None
    keys: dict[str, Any] = {"keys": {}, "crypt": dict.fromkeys(_ENC_RULE_FLAGS.values())}
    io: dict[str, Any] = {}
    path: str | None = None
    i = 1
    while i < len(args):
        a = args[i]
        if a in ("-i", "--in-place"):
            io["in_place"] = True
        elif a in ("--mac-only-encrypted", "--no-mac-only-encrypted"):
            keys["mac_only_encrypted"] = a == "--mac-only-encrypted"
        elif (a == "-" or not a.startswith("-")) and path is None:
            path = a
        else:
            flag, eq, value = a.partition("=")
            if not eq:
                if i + 1 >= len(args):
                    return None
                i += 1
                value = args[i]
            if flag in _ENC_KEY_TYPES:
                keys["keys"].setdefault(_ENC_KEY_TYPES[flag], []).append(value)
            elif flag == "--shamir-secret-sharing-threshold":
                if not value.isdigit():
                    return None
                keys["shamir_threshold"] = int(value)
            elif flag in _ENC_KEY_FLAGS:
                keys[_ENC_KEY_FLAGS[flag]] = value
            elif flag in _ENC_RULE_FLAGS:
                keys["crypt"][_ENC_RULE_FLAGS[flag]] = value
            elif flag in _ENC_IO_FLAGS:
                io[_ENC_IO_FLAGS[flag]] = value
            else:
                return None
        i += 1
    return path, keys, io


def _fast_merge_args(args: list[str]) -> list[str] | None:
    """git's ``merge %O %A %B %P``: the driver runs once per merged file, so it skips typer too."""
    if args[:1] != ["merge"] or not 4 <= len(args) <= 5 or any(a.startswith("-") for a in args[1:]):
        return None
    return args[1:]


def _fast_textconv_args(args: list[str]) -> tuple[str, str | None] | None:
    """(file, input type) for ``git textconv FILE [--input-type TYPE]``, else None."""
    if len(args) < 3 or args[0] != "git" or args[1] != "textconv":
        return None
    rest = args[2:]
    input_type = None
    if len(rest) == 3 and rest[0] == "--input-type":
        input_type, rest = rest[1], rest[2:]
    elif len(rest) == 3 and rest[1] == "--input-type":
        input_type, rest = rest[2], rest[:1]
    if len(rest) != 1 or rest[0].startswith("-"):
        return None
    return rest[0], input_type


def main() -> None:
    # A short-lived process that builds one object per value and frees them by reference
    # counting (the document model has no cycles): the cyclic collector would only re-scan
    # the growing heap again and again (~25 ms on a 10,000-value file).
    import gc

    gc.disable()
    from .argv import normalise
    from .guard import run_guarded

    args: list[str] = []

    def prepare() -> None:
        args[:] = normalise(sys.argv[1:])

    code = run_guarded(prepare)
    if code:
        sys.stderr.flush()
        os._exit(code)
    fast = _fast_decrypt_args(args)
    fast_enc = _fast_encrypt_args(args) if fast is None else None
    fast_tc = _fast_textconv_args(args) if fast is None and fast_enc is None else None
    fast_merge = _fast_merge_args(args) if fast is None and fast_enc is None and fast_tc is None else None
    if fast_tc is not None:  # git diff runs this once per file and version
        from .textconv import textconv

        tc_args = fast_tc
        code = run_guarded(lambda: textconv(*tc_args))
    elif fast_merge is not None:
        from .merge import merge_files

        merge_args = fast_merge
        code = run_guarded(lambda: merge_files(*merge_args))
    elif fast is not None:
        from . import commands

        path = fast.pop("path")
        code = run_guarded(lambda: commands.decrypt(path, **fast))
    elif fast_enc is not None:
        from . import commands

        enc_path, key_kw, io_kw = fast_enc
        code = run_guarded(lambda: commands.encrypt(enc_path, commands.KeyOptions(**key_kw), **io_kw))
    else:
        from .cli import app

        code = run_guarded(lambda: app(args=args, prog_name="sopsy", standalone_mode=False))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    # Every file is written and closed and every temp file removed by now; skipping the
    # interpreter's teardown (freeing each object one by one) saves ~20 ms per large file.
    os._exit(code)


if __name__ == "__main__":
    main()

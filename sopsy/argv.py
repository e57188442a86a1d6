"""Command-line normalisation shared by the typer-free fast paths and the typer CLI.

* sops's *global* flags (``--config``, ``--keyservice``, ``--enable-local-keyservice``,
  ``--disable-version-check``, ``--check-for-updates``, ``--verbose``, ``--indent``) are taken out of the
  argument list wherever they stand before ``--`` and stored in :data:`sopsy.settings.SETTINGS`:
  tools that shell out to sops put them before the subcommand, people put them after.
* sops's legacy form (``sops -d FILE``, ``sops -e -i FILE``, ``sops FILE`` to edit) becomes the
  matching subcommand.
"""

from __future__ import annotations

import os

from .errors import UsageError
from .settings import SETTINGS

_GLOBAL_VALUE_FLAGS = ("--config", "--keyservice", "--indent")
_GLOBAL_BOOL_FLAGS = ("--enable-local-keyservice", "--disable-version-check", "--check-for-updates", "--verbose")
_FALSE = ("0", "f", "false", "no", "off")
_TRUE = ("1", "t", "true", "yes", "on")
# commands whose trailing arguments belong to the program they run: scanning stops at ``--`` (the
# argument-list form) or, in sops's form (FILE 'COMMAND STRING'), at their file
_EXEC_COMMANDS = ("exec-env", "exec-file")
# put after the ``--`` of an exec command, where click drops the ``--`` itself: no real argument
# can hold a NUL byte, so it cannot be confused with one of the command's
ARGV_MARK = "\0--"

SUBCOMMANDS = {"encrypt", "decrypt", "edit", "rotate", "exec-env", "exec-file", "updatekeys", "merge", "filestatus",
               "keygen", "version", "set", "unset", "groups", "keyservice", "git", "check", "status", "help"}


def take_global_flags(args: list[str]) -> list[str]:
    """``args`` without the global flags, which go into SETTINGS (environment defaults first)."""
    SETTINGS.load_environment()
    out: list[str] = []
    keyservices: list[str] = []
    command: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            out += args[i:]
            break
        flag, eq, value = a.partition("=")
        if flag in _GLOBAL_VALUE_FLAGS:
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError(f"{flag} needs a value")
                i += 1
                value = args[i]
            if flag == "--config":
                SETTINGS.config = value
            elif flag == "--indent":
                SETTINGS.indent = _int(flag, value)
            else:
                keyservices.append(value)
        elif flag in _GLOBAL_BOOL_FLAGS:
            on = _bool(flag, value) if eq else True
            if flag == "--enable-local-keyservice":
                SETTINGS.local_keyservice = on
            elif flag == "--verbose":
                SETTINGS.verbose = on
        else:
            out.append(a)
            if not a.startswith("-"):
                if command is None:
                    command = a
                elif command in _EXEC_COMMANDS and "--" not in args[i + 1:]:
                    out += args[i + 1:]
                    break
        i += 1
    if keyservices:
        SETTINGS.keyservices = keyservices
    return out


def _int(flag: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise UsageError(f"{flag} takes a whole number of spaces, not {value!r}") from None


def _bool(flag: str, value: str) -> bool:
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"{flag} takes true or false, not {value!r}")


_LEGACY_MODES = {"-d": "decrypt", "--decrypt": "decrypt", "-e": "encrypt", "--encrypt": "encrypt",
                 "-r": "rotate", "--rotate": "rotate"}


def legacy_to_subcommand(args: list[str]) -> list[str]:
    """sops's global form (``sops -d FILE``, ``sops -e -i FILE``, ``sops FILE`` to edit), which
    many scripts still use, turned into the matching subcommand."""
    if not args or args[0] in SUBCOMMANDS or args[0] in ("--help", "-h"):
        return args
    if not args[0].startswith("-") and len(args) > 1:
        return args  # a mistyped subcommand: typer says "No such command ... Did you mean"
    legacy_set = _legacy_set(args)
    if legacy_set is not None:
        return legacy_set
    modes = [a for a in args if a in _LEGACY_MODES]
    if len(modes) == 1:
        rest = [a for a in args if a not in _LEGACY_MODES]
        return [_LEGACY_MODES[modes[0]], *rest]
    last = args[-1]
    if not modes and last and not last.startswith("-") and (
            os.path.exists(last) or "." in os.path.basename(last) or _is_file_after_options(args)):
        return ["edit", *args]  # `sops [OPTIONS] FILE` edits, creating FILE if missing
    return args


# sops options that take a value (as the next argument when not given as --flag=value)
_VALUE_OPTIONS = frozenset((
    "--input-type", "--output-type", "--output", "--extract", "-a", "--age", "-p", "--pgp", "-k", "--kms",
    "--gcp-kms", "--azure-kv", "--hc-vault-transit", "--hckms", "--pkcs11", "--aws-profile",
    "--encryption-context", "--shamir-secret-sharing-threshold", "--unencrypted-suffix", "--encrypted-suffix",
    "--unencrypted-regex", "--encrypted-regex", "--unencrypted-comment-regex", "--encrypted-comment-regex",
    "--decryption-order", "--filename-override", "--indent"))


def _is_file_after_options(args: list[str]) -> bool:
    """``sops --input-type yaml NEWFILE``: options first, then one name that is no option's value
    (helm-secrets creates files this way; a bare ``sopsy NAME`` stays a mistyped command)."""
    if len(args) < 2 or not args[0].startswith("-"):
        return False
    return args[-2] not in _VALUE_OPTIONS


_SET_VALUE_OPTIONS = ("--input-type", "--output-type", "--decryption-order")


def _legacy_set(args: list[str]) -> list[str] | None:
    """sops 3.8's ``sops --set '["a"]["b"] JSON' FILE`` (it rewrites FILE in place, ``-i`` or not)
    as ``set FILE '["a"]["b"]' JSON``: the path ends at the first ``] ``, as sops splits it."""
    for i, a in enumerate(args):
        flag, eq, value = a.partition("=")
        if flag != "--set":
            continue
        if not eq:
            if i + 1 >= len(args):
                raise UsageError("--set needs a value: '[\"key\"] JSON'")
            value = args[i + 1]
        rest = args[:i] + args[i + (1 if eq else 2):]
        path, sep, json_value = value.partition("] ")
        if not sep:
            from .errors import InvalidSetFormat

            raise InvalidSetFormat("Invalid --set format: expected '[\"key\"] JSON'")
        files: list[str] = []
        options: list[str] = []
        it = iter(rest)
        for r in it:
            if r in _SET_VALUE_OPTIONS:
                options += [r, next(it, "")]
            elif r.startswith("-") and r != "-":
                if r not in ("-i", "--in-place"):
                    options.append(r)
            else:
                files.append(r)
        if len(files) != 1:
            raise UsageError("--set needs exactly one file")
        return ["set", *options, files[0], path + "]", json_value]
    return None


def mark_command_argv(args: list[str]) -> list[str]:
    """exec-env/exec-file: :data:`ARGV_MARK` after the ``--`` that starts the command's own
    argument list, so that the command can tell ``FILE -- COMMAND ARG`` from ``FILE 'COMMAND'``."""
    if not args or args[0] not in _EXEC_COMMANDS or "--" not in args:
        return args
    i = args.index("--")
    return [*args[:i + 1], ARGV_MARK, *args[i + 1:]]


def normalise(args: list[str]) -> list[str]:
    return mark_command_argv(legacy_to_subcommand(take_global_flags(args)))

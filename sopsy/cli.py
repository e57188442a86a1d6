"""The ``sopsy`` command line: a thin typer layer over :mod:`sopsy.commands`.

Flag names follow sops 3 where the two overlap, so scripts written for sops keep working.
Exit codes are sops's (see README); errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC
from typing import Annotated

import typer

from . import __version__, commands
from .keys import KeySpec

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Encrypt the values of YAML, JSON, dotenv, INI and tfvars files (SOPS 3 format).")

FileArg = Annotated[str | None, typer.Argument(help="The file ('-' or nothing for standard input).")]
InType = Annotated[str | None, typer.Option("--input-type", help="yaml, json, dotenv, ini, tfvars or binary.")]
OutType = Annotated[str | None, typer.Option("--output-type", help="yaml, json, dotenv, ini, tfvars or binary.")]
InPlace = Annotated[bool, typer.Option("-i", "--in-place", help="Write the result back to the file.")]
Output = Annotated[str | None, typer.Option("--output", help="Write the result to this file.")]
Order = Annotated[str | None, typer.Option("--decryption-order", help="Key types to try first, e.g. age,pkcs11,kms.")]
IgnoreMac = Annotated[bool, typer.Option("--ignore-mac", help="Do not check the MAC (values must still decrypt).")]
Config = Annotated[str | None, typer.Option("--config", help="Path of the .sopsy.yaml/.sops.yaml to use.")]


def _keys(age: list[str] | None, kms: str | None, gcp_kms: str | None, pkcs11: str | None,
          aws_profile: str | None, encryption_context: str | None, threshold: int | None,
          config: str | None, crypt: dict[str, str | None] | None = None,
          mac_only: bool | None = None) -> commands.KeyOptions:
    return commands.KeyOptions(age=age or (), kms=kms, gcp_kms=gcp_kms, pkcs11=pkcs11, aws_profile=aws_profile,
                               encryption_context=encryption_context, shamir_threshold=threshold, config=config,
                               crypt=crypt or {}, mac_only_encrypted=mac_only)


@app.command()
def encrypt(
    file: FileArg = None,
    age: Annotated[list[str] | None, typer.Option("-a", "--age", help="age recipients, comma-separated ($SOPS_AGE_RECIPIENTS).")] = None,
    kms: Annotated[str | None, typer.Option("-k", "--kms", help="AWS KMS ARNs[+role ARN], comma-separated ($SOPS_KMS_ARN).")] = None,
    gcp_kms: Annotated[str | None, typer.Option("--gcp-kms", help="GCP KMS resource ids ($SOPS_GCP_KMS_IDS).")] = None,
    pkcs11: Annotated[str | None, typer.Option("--pkcs11", help="PKCS#11 URIs ($SOPSY_PKCS11_URIS).")] = None,
    aws_profile: Annotated[str | None, typer.Option("--aws-profile")] = None,
    encryption_context: Annotated[str | None, typer.Option("--encryption-context", help="KMS context k:v,k2:v2.")] = None,
    shamir_threshold: Annotated[int | None, typer.Option("--shamir-secret-sharing-threshold")] = None,
    unencrypted_suffix: Annotated[str | None, typer.Option("--unencrypted-suffix")] = None,
    encrypted_suffix: Annotated[str | None, typer.Option("--encrypted-suffix")] = None,
    unencrypted_regex: Annotated[str | None, typer.Option("--unencrypted-regex")] = None,
    encrypted_regex: Annotated[str | None, typer.Option("--encrypted-regex")] = None,
    unencrypted_comment_regex: Annotated[str | None, typer.Option("--unencrypted-comment-regex")] = None,
    encrypted_comment_regex: Annotated[str | None, typer.Option("--encrypted-comment-regex")] = None,
    mac_only_encrypted: Annotated[bool | None, typer.Option("--mac-only-encrypted/--no-mac-only-encrypted")] = None,
    in_place: InPlace = False,
    output: Output = None,
    input_type: InType = None,
    output_type: OutType = None,
    config: Config = None,
) -> None:
    """Encrypt a plaintext file."""
    crypt = {"unencrypted_suffix": unencrypted_suffix, "encrypted_suffix": encrypted_suffix,
             "unencrypted_regex": unencrypted_regex, "encrypted_regex": encrypted_regex,
             "unencrypted_comment_regex": unencrypted_comment_regex,
             "encrypted_comment_regex": encrypted_comment_regex}
    keys = _keys(age, kms, gcp_kms, pkcs11, aws_profile, encryption_context, shamir_threshold, config, crypt,
                 mac_only_encrypted)
    commands.encrypt(file, keys, input_type=input_type, output_type=output_type, in_place=in_place, output=output)


@app.command()
def decrypt(
    file: FileArg = None,
    extract: Annotated[str | None, typer.Option("--extract", help="""Print one value, e.g. '["a"]["b"][0]'.""")] = None,
    ignore_mac: IgnoreMac = False,
    in_place: InPlace = False,
    output: Output = None,
    input_type: InType = None,
    output_type: OutType = None,
    decryption_order: Order = None,
) -> None:
    """Decrypt a file (MAC checked before anything is printed)."""
    commands.decrypt(file, input_type=input_type, output_type=output_type, extract=extract, ignore_mac=ignore_mac,
                     in_place=in_place, output=output, decryption_order=decryption_order)


@app.command()
def edit(
    file: Annotated[str, typer.Argument(help="The file to edit (created if missing).")],
    age: Annotated[list[str] | None, typer.Option("-a", "--age")] = None,
    kms: Annotated[str | None, typer.Option("-k", "--kms")] = None,
    gcp_kms: Annotated[str | None, typer.Option("--gcp-kms")] = None,
    pkcs11: Annotated[str | None, typer.Option("--pkcs11")] = None,
    ignore_mac: IgnoreMac = False,
    input_type: InType = None,
    decryption_order: Order = None,
    config: Config = None,
) -> None:
    """Edit an encrypted file in $SOPS_EDITOR/$EDITOR; unchanged values keep their ciphertext."""
    from . import editor

    keys = _keys(age, kms, gcp_kms, pkcs11, None, None, None, config)
    editor.edit(file, keys, input_type=input_type, ignore_mac=ignore_mac, decryption_order=decryption_order)


def _specs(kind: str, values: list[str] | None) -> list[KeySpec]:
    out: list[KeySpec] = []
    for v in values or []:
        if kind == "age":
            out += [KeySpec("age", a.strip()) for a in v.split(",") if a.strip()]
        elif kind == "kms":
            from .keys import aws_kms

            out += aws_kms.parse_kms_arg(v)
        elif kind == "gcp_kms":
            from .keys import gcp_kms

            out += gcp_kms.parse_gcp_arg(v)
        elif kind == "pkcs11":
            from .keys import pkcs11

            out += pkcs11.parse_pkcs11_arg(v)
    return out


@app.command()
def rotate(
    file: Annotated[str, typer.Argument()],
    add_age: Annotated[list[str] | None, typer.Option("--add-age")] = None,
    rm_age: Annotated[list[str] | None, typer.Option("--rm-age")] = None,
    add_kms: Annotated[list[str] | None, typer.Option("--add-kms")] = None,
    rm_kms: Annotated[list[str] | None, typer.Option("--rm-kms")] = None,
    add_gcp_kms: Annotated[list[str] | None, typer.Option("--add-gcp-kms")] = None,
    rm_gcp_kms: Annotated[list[str] | None, typer.Option("--rm-gcp-kms")] = None,
    add_pkcs11: Annotated[list[str] | None, typer.Option("--add-pkcs11")] = None,
    rm_pkcs11: Annotated[list[str] | None, typer.Option("--rm-pkcs11")] = None,
    in_place: InPlace = False,
    output: Output = None,
    input_type: InType = None,
    decryption_order: Order = None,
) -> None:
    """Re-encrypt with a new data key (values keep their IVs); add or remove keys."""
    if not os.path.exists(file) and (add_age or rm_age or add_kms or rm_kms or add_gcp_kms or rm_gcp_kms
                                     or add_pkcs11 or rm_pkcs11):
        from .errors import NoSuchFileForKeyChange

        raise NoSuchFileForKeyChange(f"no such file: {file}")
    add = _specs("age", add_age) + _specs("kms", add_kms) + _specs("gcp_kms", add_gcp_kms) + _specs("pkcs11", add_pkcs11)
    rm = _specs("age", rm_age) + _specs("kms", rm_kms) + _specs("gcp_kms", rm_gcp_kms) + _specs("pkcs11", rm_pkcs11)
    commands.rotate(file, add=add, remove=rm, input_type=input_type, in_place=in_place, output=output,
                    decryption_order=decryption_order)


@app.command()
def filestatus(file: Annotated[str, typer.Argument()], input_type: InType = None) -> None:
    """Print {"encrypted":true} or {"encrypted":false}."""
    encrypted = commands.filestatus(file, input_type)
    print('{"encrypted":%s}' % ("true" if encrypted else "false"))


@app.command()
def keygen(output: Output = None) -> None:
    """Make a new age identity (for a newcomer); prints the public recipient on stderr."""
    from .keys import age as age_keys

    secret, public = age_keys.generate()
    from datetime import datetime

    text = f"# created: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n# public key: {public}\n{secret}\n"
    if output:
        if os.path.exists(output):
            from .errors import OutputError

            raise OutputError(f"{output} exists; not overwriting an identity")
        from .fileio import atomic_write

        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        atomic_write(output, text, 0o600)
    else:
        sys.stdout.write(text)
    print(f"Public key: {public}", file=sys.stderr)


@app.command("exec-env", context_settings={"allow_interspersed_args": False})
def exec_env(
    file: Annotated[str, typer.Argument(help="The encrypted file.")],
    command: Annotated[str, typer.Argument(help="Run with /bin/sh -c, the file's values in its environment.")],
    pristine: Annotated[bool, typer.Option("--pristine", help="Only the file's values, no inherited environment.")] = False,
    input_type: InType = None,
    decryption_order: Order = None,
) -> int:
    """Run a command with the secrets in its environment and nowhere else; passes on its exit code."""
    return commands.exec_env(file, command, pristine=pristine, input_type=input_type,
                             decryption_order=decryption_order)


@app.command()
def updatekeys(
    files: Annotated[list[str], typer.Argument(help="Encrypted files to re-key.")],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
    input_type: InType = None,
    config: Config = None,
    decryption_order: Order = None,
) -> None:
    """Re-wrap each file's data key for the keys its creation rule names now (values untouched)."""
    for f in files:
        commands.updatekeys(f, yes=yes, input_type=input_type, config_path=config, decryption_order=decryption_order)


@app.command()
def merge(
    base: Annotated[str, typer.Argument(help="git's %O (common ancestor).")],
    ours: Annotated[str, typer.Argument(help="git's %A (ours; receives the result).")],
    theirs: Annotated[str, typer.Argument(help="git's %B (theirs).")],
    path: Annotated[str | None, typer.Argument(help="git's %P (the file's path, for its format).")] = None,
    input_type: InType = None,
) -> None:
    """git merge driver: 3-way merge of encrypted files. Setup: see README."""
    from .merge import merge_files

    merge_files(base, ours, theirs, path, input_type)


@app.command()
def version() -> None:
    """Print the version."""
    print(f"sopsy {__version__}")


def main(argv: list[str] | None = None) -> int:
    from .entry import run_guarded

    return run_guarded(lambda: app(args=argv, standalone_mode=False))

"""encrypt, decrypt, edit, rotate."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .. import commands
from ..bulk import DEFAULT_JOBS
from ..errors import ConflictingParameters, UsageError
from ..keys import KeySpec
from .app import (
    AgeKeys,
    AwsProfile,
    AzureKeys,
    EncContext,
    FileArg,
    FilenameOverride,
    GcpKeys,
    HckmsKeys,
    IgnoreMac,
    InPlace,
    InType,
    KmsKeys,
    Order,
    Output,
    OutType,
    PgpKeys,
    Pkcs11Keys,
    Threshold,
    VaultKeys,
    app,
    key_values,
)

UnencSuffix = Annotated[str | None, typer.Option(
    "--unencrypted-suffix", metavar="SUFFIX", help="Leave values whose key ends with SUFFIX in plaintext.")]
EncSuffix = Annotated[str | None, typer.Option(
    "--encrypted-suffix", metavar="SUFFIX", help="Encrypt only values whose key ends with SUFFIX.")]
UnencRegex = Annotated[str | None, typer.Option(
    "--unencrypted-regex", metavar="REGEX", help="Leave values whose key matches REGEX in plaintext.")]
EncRegex = Annotated[str | None, typer.Option(
    "--encrypted-regex", metavar="REGEX", help="Encrypt only values whose key matches REGEX.")]
UnencCommentRegex = Annotated[str | None, typer.Option(
    "--unencrypted-comment-regex", metavar="REGEX",
    help="Leave values after a comment matching REGEX in plaintext.")]
EncCommentRegex = Annotated[str | None, typer.Option(
    "--encrypted-comment-regex", metavar="REGEX", help="Encrypt only values after a comment matching REGEX.")]
MacOnly = Annotated[bool | None, typer.Option(
    "--mac-only-encrypted/--no-mac-only-encrypted", help="Compute the MAC over encrypted values only.",
    show_default=False)]


def _crypt(unencrypted_suffix: str | None, encrypted_suffix: str | None, unencrypted_regex: str | None,
           encrypted_regex: str | None, unencrypted_comment_regex: str | None,
           encrypted_comment_regex: str | None) -> dict[str, str | None]:
    return {"unencrypted_suffix": unencrypted_suffix, "encrypted_suffix": encrypted_suffix,
            "unencrypted_regex": unencrypted_regex, "encrypted_regex": encrypted_regex,
            "unencrypted_comment_regex": unencrypted_comment_regex,
            "encrypted_comment_regex": encrypted_comment_regex}


@app.command()
def encrypt(
    file: FileArg = None,
    age: AgeKeys = None,
    pgp: PgpKeys = None,
    kms: KmsKeys = None,
    gcp_kms: GcpKeys = None,
    azure_kv: AzureKeys = None,
    hc_vault_transit: VaultKeys = None,
    pkcs11: Pkcs11Keys = None,
    hckms: HckmsKeys = None,
    aws_profile: AwsProfile = None,
    encryption_context: EncContext = None,
    shamir_threshold: Threshold = None,
    unencrypted_suffix: UnencSuffix = None,
    encrypted_suffix: EncSuffix = None,
    unencrypted_regex: UnencRegex = None,
    encrypted_regex: EncRegex = None,
    unencrypted_comment_regex: UnencCommentRegex = None,
    encrypted_comment_regex: EncCommentRegex = None,
    mac_only_encrypted: MacOnly = None,
    in_place: InPlace = False,
    output: Output = None,
    input_type: InType = None,
    output_type: OutType = None,
    filename_override: FilenameOverride = None,
) -> None:
    """Encrypt a plaintext file (standard output unless -i or --output)."""
    keys = commands.KeyOptions(
        keys=key_values(age, pgp, kms, gcp_kms, azure_kv, hc_vault_transit, pkcs11, hckms), aws_profile=aws_profile,
        encryption_context=encryption_context, shamir_threshold=shamir_threshold,
        crypt=_crypt(unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex,
                     unencrypted_comment_regex, encrypted_comment_regex),
        mac_only_encrypted=mac_only_encrypted)
    commands.encrypt(file, keys, input_type=input_type, output_type=output_type, in_place=in_place, output=output,
                     filename_override=filename_override)


@app.command()
def decrypt(
    files: Annotated[list[str] | None, typer.Argument(
        metavar="FILE...", show_default=False,
        help="The file ('-' or nothing for standard input); several need --output-dir.")] = None,
    extract: Annotated[str | None, typer.Option(
        "--extract", metavar="PATH", help="""Print one value, e.g. '["a"]["b"][0]'.""")] = None,
    ignore_mac: IgnoreMac = False,
    in_place: InPlace = False,
    output: Output = None,
    output_dir: Annotated[str | None, typer.Option(
        "--output-dir", metavar="DIR",
        help="Decrypt every FILE (and -r DIR) into DIR in one process, each output 0600; "
             "a file that fails is named and the others go on.")] = None,
    recursive: Annotated[list[str] | None, typer.Option(
        "-r", "--recursive", metavar="DIR",
        help="With --output-dir: every sops file under DIR, keeping its path relative to DIR.")] = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", metavar="N", help="With --output-dir: files decrypted at once (key unwraps in parallel).")
    ] = DEFAULT_JOBS,
    input_type: InType = None,
    output_type: OutType = None,
    decryption_order: Order = None,
    filename_override: FilenameOverride = None,
) -> int:
    """Decrypt a file (the MAC is checked before anything is printed), or many into --output-dir."""
    names = files or []
    if output_dir is not None or recursive:
        if output_dir is None:
            raise ConflictingParameters("-r needs --output-dir DIR")
        for flag, given in (("-i", in_place), ("--output", output), ("--extract", extract),
                            ("--filename-override", filename_override)):
            if given:
                raise ConflictingParameters(f"{flag} cannot be combined with --output-dir")
        from ..bulk import decrypt_many

        return decrypt_many(names, recursive or [], output_dir, jobs=jobs, input_type=input_type,
                            output_type=output_type, ignore_mac=ignore_mac, decryption_order=decryption_order)
    if len(names) > 1:
        raise UsageError(f"decrypt: {len(names)} files given: several need --output-dir DIR")
    commands.decrypt(names[0] if names else None, input_type=input_type, output_type=output_type, extract=extract,
                     ignore_mac=ignore_mac, in_place=in_place, output=output, decryption_order=decryption_order,
                     filename_override=filename_override)
    return 0


@app.command()
def edit(
    file: Annotated[str, typer.Argument(metavar="FILE", help="The file to edit (created if missing).",
                                        show_default=False)],
    age: AgeKeys = None,
    pgp: PgpKeys = None,
    kms: KmsKeys = None,
    gcp_kms: GcpKeys = None,
    azure_kv: AzureKeys = None,
    hc_vault_transit: VaultKeys = None,
    pkcs11: Pkcs11Keys = None,
    hckms: HckmsKeys = None,
    aws_profile: AwsProfile = None,
    encryption_context: EncContext = None,
    shamir_threshold: Threshold = None,
    unencrypted_suffix: UnencSuffix = None,
    encrypted_suffix: EncSuffix = None,
    unencrypted_regex: UnencRegex = None,
    encrypted_regex: EncRegex = None,
    unencrypted_comment_regex: UnencCommentRegex = None,
    encrypted_comment_regex: EncCommentRegex = None,
    mac_only_encrypted: MacOnly = None,
    ignore_mac: IgnoreMac = False,
    input_type: InType = None,
    output_type: Annotated[str | None, typer.Option(
        "--output-type", metavar="TYPE", help="Accepted as sops accepts it; must be the file's format.")] = None,
    show_master_keys: Annotated[bool, typer.Option(
        "-s", "--show-master-keys", help="Show the sops metadata (keys, rules) in the editor too, and "
        "take it as edited.")] = False,
    decryption_order: Order = None,
) -> None:
    """Edit an encrypted file in $SOPS_EDITOR or $EDITOR; unchanged values keep their ciphertext.

    The key and rule options apply when the file is created."""
    from .. import editor

    in_store, out_store = commands.stores_for(file, input_type, output_type)
    if output_type is not None and out_store is not in_store:  # tools pass both (helm-secrets: --input-type yaml --output-type yaml)
        raise UsageError(f"edit: --output-type {output_type} differs from the format of {file} ({in_store.name})")

    keys = commands.KeyOptions(
        keys=key_values(age, pgp, kms, gcp_kms, azure_kv, hc_vault_transit, pkcs11, hckms), aws_profile=aws_profile,
        encryption_context=encryption_context, shamir_threshold=shamir_threshold,
        crypt=_crypt(unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex,
                     unencrypted_comment_regex, encrypted_comment_regex),
        mac_only_encrypted=mac_only_encrypted)
    editor.edit(file, keys, input_type=input_type, ignore_mac=ignore_mac, decryption_order=decryption_order,
                show_master_keys=show_master_keys)


def _add(kind: str) -> object:
    return typer.Option(f"--add-{kind}", metavar="KEYS", help=f"Add these {kind} keys (comma-separated) to group 0.")


def _rm(kind: str) -> object:
    return typer.Option(f"--rm-{kind}", metavar="KEYS", help=f"Remove these {kind} keys (comma-separated).")


_L = list[str] | None


@app.command()
def rotate(
    file: Annotated[str, typer.Argument(metavar="FILE", help="The encrypted file.", show_default=False)],
    add_age: Annotated[_L, _add("age")] = None,
    rm_age: Annotated[_L, _rm("age")] = None,
    add_pgp: Annotated[_L, _add("pgp")] = None,
    rm_pgp: Annotated[_L, _rm("pgp")] = None,
    add_kms: Annotated[_L, _add("kms")] = None,
    rm_kms: Annotated[_L, _rm("kms")] = None,
    add_gcp_kms: Annotated[_L, _add("gcp-kms")] = None,
    rm_gcp_kms: Annotated[_L, _rm("gcp-kms")] = None,
    add_azure_kv: Annotated[_L, _add("azure-kv")] = None,
    rm_azure_kv: Annotated[_L, _rm("azure-kv")] = None,
    add_hc_vault_transit: Annotated[_L, _add("hc-vault-transit")] = None,
    rm_hc_vault_transit: Annotated[_L, _rm("hc-vault-transit")] = None,
    add_pkcs11: Annotated[_L, _add("pkcs11")] = None,
    rm_pkcs11: Annotated[_L, _rm("pkcs11")] = None,
    add_hckms: Annotated[_L, _add("hckms")] = None,
    rm_hckms: Annotated[_L, _rm("hckms")] = None,
    aws_profile: AwsProfile = None,
    encryption_context: EncContext = None,
    in_place: InPlace = False,
    output: Output = None,
    input_type: InType = None,
    output_type: OutType = None,
    decryption_order: Order = None,
    filename_override: FilenameOverride = None,
) -> None:
    """Re-encrypt with a new data key (values keep their IVs); add or remove keys."""
    add = key_values(add_age, add_pgp, add_kms, add_gcp_kms, add_azure_kv, add_hc_vault_transit, add_pkcs11,
                     add_hckms)
    rm = key_values(rm_age, rm_pgp, rm_kms, rm_gcp_kms, rm_azure_kv, rm_hc_vault_transit, rm_pkcs11, rm_hckms)
    if not os.path.exists(file) and (add or rm):
        from ..errors import NoSuchFileForKeyChange

        raise NoSuchFileForKeyChange(f"no such file: {file}")
    add_specs = _specs(add, aws_profile, encryption_context)
    rm_specs = _specs(rm, aws_profile, encryption_context)
    commands.rotate(file, add=add_specs, remove=rm_specs, input_type=input_type, in_place=in_place, output=output,
                    decryption_order=decryption_order, filename_override=filename_override,
                    output_type=output_type)


def _specs(values: dict[str, list[str]], aws_profile: str | None, context: str | None) -> list[KeySpec]:
    if not values:
        return []
    return commands.cli_key_specs(commands.KeyOptions(keys=values, aws_profile=aws_profile,
                                                      encryption_context=context), use_environment=False)

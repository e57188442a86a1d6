"""The typer application and the option declarations every command module shares.

Flag names follow sops 3 where the two overlap, so scripts written for sops keep working.
Metavars are spelled out (FILE, TYPE, ...) so that usage lines read as in any Unix tool.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .. import SOPS_FORMAT_VERSION, __version__

if "_SOPSY_COMPLETE" in os.environ:  # the shell asks for completions (sopsy completion SHELL)
    from typer.completion import completion_init  # type: ignore[attr-defined]

    completion_init()

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Encrypt the values of YAML, JSON, dotenv, INI and tfvars files in the SOPS 3 format.\n\n"
         "Global options (before or after the command): --config PATH, --keyservice URI, "
         "--enable-local-keyservice[=false], --verbose, --disable-version-check, --check-for-updates, "
         "--indent N (write YAML/JSON output as sops lays it out, N spaces per level).")

TYPES = "yaml, json, dotenv, ini, tfvars or binary"

FileArg = Annotated[str | None, typer.Argument(metavar="FILE", help="The file ('-' or nothing for standard input).",
                                               show_default=False)]
RequiredFile = Annotated[str, typer.Argument(metavar="FILE", help="The encrypted file.", show_default=False)]
InType = Annotated[str | None, typer.Option("--input-type", metavar="TYPE",
                                           help=f"Input format: {TYPES} (default: from the file name).")]
OutType = Annotated[str | None, typer.Option("--output-type", metavar="TYPE",
                                            help=f"Output format: {TYPES} (default: the input format).")]
InPlace = Annotated[bool, typer.Option("-i", "--in-place", help="Write the result back to the file.")]
Output = Annotated[str | None, typer.Option("--output", metavar="PATH", help="Write the result to this file.")]
Order = Annotated[str | None, typer.Option(
    "--decryption-order", metavar="TYPES",
    help="Key types to try first, comma-separated, e.g. age,pgp,kms ($SOPS_DECRYPTION_ORDER).")]
IgnoreMac = Annotated[bool, typer.Option("--ignore-mac", help="Do not check the MAC (values must still decrypt).")]
FilenameOverride = Annotated[str | None, typer.Option(
    "--filename-override", metavar="NAME",
    help="Use this file name for the config rules and the format (needed with standard input).")]

# -- key flags (sopsy.keys.KEY_FLAGS): one option per key type, repeatable, comma-separated -------
_KeyList = list[str] | None
AgeKeys = Annotated[_KeyList, typer.Option("-a", "--age", metavar="RECIPIENTS",
                                           help="age recipients, comma-separated ($SOPS_AGE_RECIPIENTS).")]
PgpKeys = Annotated[_KeyList, typer.Option("-p", "--pgp", metavar="FINGERPRINTS",
                                           help="PGP fingerprints, comma-separated ($SOPS_PGP_FP).")]
KmsKeys = Annotated[_KeyList, typer.Option("-k", "--kms", metavar="ARNS",
                                           help="AWS KMS key ARNs[+role ARN], comma-separated ($SOPS_KMS_ARN).")]
GcpKeys = Annotated[_KeyList, typer.Option("--gcp-kms", metavar="IDS",
                                           help="GCP KMS key resource ids, comma-separated ($SOPS_GCP_KMS_IDS).")]
AzureKeys = Annotated[_KeyList, typer.Option(
    "--azure-kv", metavar="URLS", help="Azure Key Vault key URLs, comma-separated ($SOPS_AZURE_KEYVAULT_URLS).")]
VaultKeys = Annotated[_KeyList, typer.Option(
    "--hc-vault-transit", metavar="URIS", help="Vault transit key URIs, comma-separated ($SOPS_VAULT_URIS).")]
Pkcs11Keys = Annotated[_KeyList, typer.Option("--pkcs11", metavar="URIS",
                                              help="PKCS#11 key URIs, comma-separated ($SOPSY_PKCS11_URIS).")]
HckmsKeys = Annotated[_KeyList, typer.Option(
    "--hckms", metavar="IDS", help="HuaweiCloud KMS key ids (sops's flag; sopsy cannot use these keys).")]
AwsProfile = Annotated[str | None, typer.Option("--aws-profile", metavar="NAME",
                                                help="The AWS profile to use for KMS requests.")]
EncContext = Annotated[str | None, typer.Option("--encryption-context", metavar="K:V,...",
                                                help="AWS KMS encryption context, comma-separated key:value pairs.")]
Threshold = Annotated[int | None, typer.Option("--shamir-secret-sharing-threshold", metavar="N",
                                               help="Key groups needed to recover the data key (Shamir).")]


def key_values(age: _KeyList = None, pgp: _KeyList = None, kms: _KeyList = None, gcp_kms: _KeyList = None,
               azure_kv: _KeyList = None, hc_vault: _KeyList = None, pkcs11: _KeyList = None,
               hckms: _KeyList = None) -> dict[str, list[str]]:
    """The key flags by key type (the names of sopsy.keys.KEY_FLAGS)."""
    given = {"age": age, "pgp": pgp, "kms": kms, "gcp_kms": gcp_kms, "azure_kv": azure_kv, "hc_vault": hc_vault,
             "pkcs11": pkcs11, "hckms": hckms}
    return {t: v for t, v in given.items() if v}


def version_line() -> str:
    """Tools that shell out to sops parse ``^sops (\\d+)\\.(\\d+)\\.(\\d+)``: they read the sops
    release whose format and command line sopsy implements; sopsy's own version follows."""
    return f"sops {SOPS_FORMAT_VERSION} (sopsy {__version__})"


@app.callback(invoke_without_command=True)
def _global(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("-v", "--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        print(version_line())
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)

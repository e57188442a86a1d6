"""Key management: keygen, updatekeys."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC
from typing import Annotated

import typer

from .. import commands
from .app import (
    AgeKeys,
    AwsProfile,
    AzureKeys,
    EncContext,
    GcpKeys,
    HckmsKeys,
    InPlace,
    InType,
    KmsKeys,
    Order,
    PgpKeys,
    Pkcs11Keys,
    VaultKeys,
    app,
    key_values,
)


@app.command()
def keygen(
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="PATH", help="Write the identity to this file (as age-keygen -o).")] = None,
    pq: Annotated[bool, typer.Option("--pq", help="A post-quantum hybrid identity (age1pq1... recipient, "
                                                  "as age-keygen -pq; sops 3.11 reads it).")] = False,
) -> None:
    """Make a new age identity (for a newcomer); prints the public recipient on stderr."""
    from ..keys import age as age_keys

    secret, public = age_keys.generate(pq=pq)
    from datetime import datetime

    text = f"# created: {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n# public key: {public}\n{secret}\n"
    if output:
        from ..fileio import create_new

        create_new(output, text, 0o600)  # O_EXCL-like: never overwrites, never follows a link
    else:
        sys.stdout.write(text)
    print(f"Public key: {public}", file=sys.stderr)


@app.command()
def updatekeys(
    files: Annotated[list[str], typer.Argument(metavar="FILE...", help="Encrypted files to re-key.",
                                               show_default=False)],
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation.")] = False,
    rotate: Annotated[bool, typer.Option(
        "--rotate", help="Also make a new data key (do this when a key is removed: it still opens old copies).")] = False,
    input_type: InType = None,
    decryption_order: Order = None,
) -> None:
    """Re-wrap each file's data key for the keys its creation rule names now (values untouched)."""
    for f in files:
        commands.updatekeys(f, yes=yes, input_type=input_type, decryption_order=decryption_order, rotate=rotate)


groups_app = typer.Typer(help="Add or delete key groups (the data key stays; values are untouched).",
                         no_args_is_help=True)
app.add_typer(groups_app, name="groups")

GroupFile = Annotated[str, typer.Option("-f", "--file", metavar="FILE", help="The encrypted file.",
                                        show_default=False)]
GroupThreshold = Annotated[int | None, typer.Option("--shamir-secret-sharing-threshold", metavar="N",
                                                    help="Key groups needed to recover the data key.")]


def _write(path: str, make: Callable[[], str], in_place: bool) -> None:
    """Print what ``make`` gives, or (``-i``) make it and replace the file under the write lock."""
    from ..fileio import locked, write_stdout

    if in_place:
        with locked(path) as f:
            f.write(make())
    else:
        write_stdout(make())


@groups_app.command("add")
def groups_add(
    file: GroupFile,
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
    shamir_threshold: GroupThreshold = None,
    in_place: InPlace = False,
    input_type: InType = None,
    decryption_order: Order = None,
) -> None:
    """Add a key group made of the given keys (standard output unless -i)."""
    from .. import keygroups

    commands.check_input_file(file)
    keys = commands.KeyOptions(keys=key_values(age, pgp, kms, gcp_kms, azure_kv, hc_vault_transit, pkcs11, hckms),
                               aws_profile=aws_profile, encryption_context=encryption_context)
    store, _ = commands.stores_for(file, input_type, None)
    specs = commands.cli_key_specs(keys, use_environment=False)
    _write(file, lambda: keygroups.add(store, file, specs, shamir_threshold, decryption_order), in_place)


@groups_app.command("delete")
def groups_delete(
    index: Annotated[int, typer.Argument(metavar="INDEX", help="The key group to delete, counted from 0.",
                                         show_default=False)],
    file: GroupFile,
    shamir_threshold: GroupThreshold = None,
    in_place: InPlace = False,
    input_type: InType = None,
    decryption_order: Order = None,
) -> None:
    """Delete a key group (standard output unless -i)."""
    from .. import keygroups

    commands.check_input_file(file)
    store, _ = commands.stores_for(file, input_type, None)
    _write(file, lambda: keygroups.delete(store, file, index, shamir_threshold, decryption_order), in_place)


@app.command()
def status(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="PATH...", help="Files or directories (default: every encrypted file under the config's directory).",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    max_age: Annotated[str | None, typer.Option(
        "--max-age", metavar="AGE", help="Data keys older than this (90d, 12w, 36h) are overdue: exit 1. "
        "Default: the creation rule's max_age.")] = None,
    recipient: Annotated[str | None, typer.Option(
        "--recipient", metavar="KEY", help="Only files this key can open (what to rotate when someone leaves).")] = None,
) -> int:
    """Per file: format, recipients per key group, data-key age and last change (no key needed)."""
    from .. import status as status_mod
    from ..fileio import write_stdout

    text, code = status_mod.report(list(paths or []), as_json=as_json, max_age=max_age, recipient=recipient)
    write_stdout(text)
    return code

"""What each subcommand does, independent of argument parsing (the CLI and the fast
``decrypt`` path both call these)."""

from __future__ import annotations

import os

from . import core
from .errors import AlreadyEncrypted, ConflictingParameters, NoFile, UsageError
from .fileio import atomic_write, decode, locked, read_bytes, read_text, write_if_unchanged, write_stdout
from .keys import KeySpec
from .model import Scalar, to_data
from .rules import CryptRule
from .stores import get_store, store_name_for

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from .stores import Store


def stores_for(path: str | None, input_type: str | None, output_type: str | None, *,
               encrypting: bool = False) -> tuple[Store, Store]:
    """(input store, output store) as sops picks them: each is its ``--*-type`` or else the file
    name's format; the output's is *not* the input type (``encrypt --input-type yaml x.json``
    writes JSON). A name that says binary with a non-binary input: sops writes the encrypted
    tree as JSON, which is what Ansible's sops_encrypt gets for a path without an extension;
    decrypting it sops fails, sopsy keeps the input's format. Standard input without a name
    (``-`` or nothing, a sopsy form) keeps the input's format too."""
    path_name = store_name_for(path)
    in_name = input_type or path_name
    if output_type:
        out_name = output_type
    elif path_name != "binary" or in_name == "binary":
        out_name = path_name
    elif encrypting and path not in (None, "-"):
        out_name = "json"
    else:
        out_name = in_name
    return get_store(in_name), get_store(out_name)


def laid_out(text: str, store: Store, encrypted: bool = False) -> str:
    """``text`` as written with sops's global ``--indent`` when it was given (a YAML or JSON
    file, or the JSON envelope of an encrypted binary file), else as it is."""
    from .settings import SETTINGS

    if SETTINGS.indent is None or store.name not in ("yaml", "json") and not (encrypted and store.name == "binary"):
        return text
    from .stores.relayout import relaid

    return relaid(text, store.name, SETTINGS.indent)


def _emit(text: str | bytes, output: str | None) -> None:
    if output:
        atomic_write(output, text)
    else:
        write_stdout(text)


def _check_io(path: str | None, in_place: bool, output: str | None) -> None:
    if in_place and output:
        raise ConflictingParameters("--in-place cannot be combined with --output")
    if in_place and (path is None or path == "-"):
        raise ConflictingParameters("--in-place needs a file, not standard input")
    if path not in (None, "-") and not os.path.exists(str(path)):
        raise NoFile(f"no such file: {path}")
    if path not in (None, "-") and not in_place and not output and _is_stdout(str(path)):
        raise UsageError(f"standard output is {path} itself (`> {path}` empties it before sopsy runs): write "
                         "in place with -i, or elsewhere with --output")


def _is_stdout(path: str) -> bool:
    """Whether standard output is the very file ``path`` (``sopsy encrypt f > f``)."""
    import stat

    try:
        out, st = os.fstat(1), os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(out.st_mode) and (out.st_dev, out.st_ino) == (st.st_dev, st.st_ino)


def check_input_file(path: str) -> None:
    """An input file that must exist (exit 100 otherwise, as sops)."""
    _check_io(path, False, None)


def decrypt(path: str | None, *, input_type: str | None = None, output_type: str | None = None,
            extract: str | None = None, ignore_mac: bool = False, in_place: bool = False,
            output: str | None = None, decryption_order: str | None = None,
            filename_override: str | None = None) -> None:
    _check_io(path, in_place, output)

    def plain(raw: bytes) -> str | bytes:
        return decrypted(raw, filename_override or path, input_type=input_type, output_type=output_type,
                         extract=extract, ignore_mac=ignore_mac, decryption_order=decryption_order)

    if in_place:
        assert path is not None
        with locked(path) as f:  # read, decrypt and replace under one lock
            f.write(plain(f.read()))
        return
    _emit(plain(read_bytes(path)), output)


def _json_text(raw: bytes) -> bool:
    """JSON read as YAML (``--input-type yaml --output-type yaml`` on a JSON file, as Ansible's
    decrypt filter does): asked for YAML, the output is YAML as sops writes it, not the
    JSON layout kept with plaintext values."""
    for line in raw.lstrip().splitlines():
        if line.strip() and not line.lstrip().startswith(b"#"):
            return line.lstrip()[:1] in (b"{", b"[")
    return False


def decrypted(raw: bytes, name: str | None, *, input_type: str | None = None, output_type: str | None = None,
              extract: str | None = None, ignore_mac: bool = False,
              decryption_order: str | None = None) -> str | bytes:
    """The plaintext of the encrypted file ``raw`` (formats from ``name`` unless given), as
    ``decrypt`` prints it: the same format byte for byte, another format, or one value."""
    core.refuse_conflict(raw, name)
    in_store, out_store = stores_for(name, input_type, output_type)
    keep_layout = out_store is in_store and not (output_type == "yaml" and in_store.name == "yaml"
                                                 and _json_text(raw))
    data_key = None
    from .settings import SETTINGS

    if extract is None and keep_layout and SETTINGS.indent is None:
        try:
            plain, data_key = core.decrypt_fast(in_store, raw, ignore_mac, decryption_order)
        except core.FILE_ERRORS as exc:
            core.name_error(exc, name)
            raise
        if plain is not None:
            return plain
    opened = core.decrypt_text(in_store, decode(raw), ignore_mac, decryption_order, data_key,
                               name=name if name not in (None, "-", "/dev/stdin") else None)
    if extract is not None:
        from .model import Mapping
        from .treepath import lookup_node, parse_path

        parts = parse_path(extract)
        docs = opened.parsed.documents
        value = to_data(lookup_node(docs[0] if docs else Mapping(), parts))
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            from .model import from_data

            node = from_data(value)
            return laid_out(out_store.emit([node]), out_store)  # type: ignore[list-item]
        return out_store.emit_value(value)
    if keep_layout:
        return laid_out(opened.printed(), out_store)
    if in_store.name == "dotenv":
        # values leave the file: give their meaning (quotes removed, escapes decoded), not raw text
        from .model import Mapping, Scalar

        env = environment_of(opened)
        return laid_out(out_store.emit([Mapping([(k, Scalar(v)) for k, v in env.items()])]), out_store)
    return laid_out(out_store.emit(opened.parsed.documents), out_store)


class KeyOptions:
    """Key and rule choices from the command line (None: not given).

    ``keys`` maps a key type (:data:`sopsy.keys.KEY_FLAGS`) to the values its flag was given,
    each a comma-separated list as sops takes them."""

    def __init__(self, keys: Mapping[str, Sequence[str]] | None = None, aws_profile: str | None = None,
                 encryption_context: str | None = None, shamir_threshold: int | None = None,
                 crypt: dict[str, str | None] | None = None, mac_only_encrypted: bool | None = None) -> None:
        self.keys: dict[str, list[str]] = {t: list(v) for t, v in (keys or {}).items() if v}
        self.aws_profile = aws_profile
        self.encryption_context = encryption_context
        self.shamir_threshold = shamir_threshold
        self.crypt: dict[str, str | None] = crypt or {}
        self.mac_only_encrypted = mac_only_encrypted


def cli_key_specs(opts: KeyOptions, use_environment: bool = True) -> list[KeySpec]:
    """The keys the command line names; a key type without a flag value takes its environment
    variable (``SOPS_AGE_RECIPIENTS``, ``SOPS_KMS_ARN``...), as sops does when encrypting."""
    from .keys import KEY_FLAGS, parse_key_arg

    context: dict[str, str] = {}
    if opts.encryption_context:
        from .keys import aws_kms

        context = aws_kms.parse_encryption_context(opts.encryption_context)
    specs: list[KeySpec] = []
    for type_name, (_, env_var, _) in KEY_FLAGS.items():
        given, from_env = opts.keys.get(type_name, []), False
        if not given and use_environment and os.environ.get(env_var, "").strip():
            given, from_env = [os.environ[env_var]], True
        for text in given:
            specs += parse_key_arg(type_name, text, encryption_context=context, aws_profile=opts.aws_profile or "",
                                   from_env=from_env)
    return specs


def encrypt_options(path: str | None, opts: KeyOptions) -> core.EncryptOptions:
    """Keys and rules: the command line wins; otherwise the matching creation rule."""
    specs = cli_key_specs(opts)
    rule_groups: list[list[KeySpec]] = []
    threshold = 0
    crypt_rule = CryptRule.pick(opts.crypt)
    if crypt_rule is not None:
        crypt_rule.check("--" + crypt_rule.name.replace("_", "-"), UsageError)
    mac_only = bool(opts.mac_only_encrypted)
    from . import config
    from .settings import SETTINGS

    config_path = config.find_config(path if path not in (None, "-") else None, SETTINGS.config)
    rule = None
    if config_path is not None and not specs:
        rule = config.load_rule(config_path, path if path not in (None, "-") else "stdin")
        if rule is not None:
            rule_groups = rule.key_groups
            threshold = rule.shamir_threshold
            crypt_rule = crypt_rule or rule.crypt_rule
            if opts.mac_only_encrypted is None:
                mac_only = rule.mac_only_encrypted
    groups = [specs] if specs else rule_groups
    if not specs and config_path is not None and rule is not None and (not groups or not all(groups)):
        # sops's words: tools that wrap sops match on them
        raise UsageError("Could not generate data key: [empty key group provided]")
    if opts.shamir_threshold is not None:
        from .datakey import check_threshold

        check_threshold(opts.shamir_threshold, len([g for g in groups if g]) or 1,
                        "--shamir-secret-sharing-threshold")
    from .keys import PROVIDERS

    unsupported = sorted({s.type for g in groups for s in g if s.type not in PROVIDERS})
    if unsupported:
        raise UsageError(f"sopsy cannot encrypt for {', '.join(unsupported)} keys")
    if not any(groups):
        # sops's words first (helm-secrets matches on them), then what to do
        raise UsageError("config file not found, or has no creation rules, and no keys provided through command "
                         "line options: give --age (or SOPS_AGE_RECIPIENTS), --pgp, --kms, --gcp-kms, --azure-kv, "
                         "--hc-vault-transit, --pkcs11, or a creation rule in .sops.yaml")
    if opts.shamir_threshold:
        threshold = opts.shamir_threshold
    return core.EncryptOptions(key_groups=groups, shamir_threshold=threshold, crypt_rule=crypt_rule,
                               mac_only_encrypted=mac_only)


def encrypt(path: str | None, keys: KeyOptions, *, input_type: str | None = None,
            output_type: str | None = None, in_place: bool = False, output: str | None = None,
            filename_override: str | None = None) -> None:
    _check_io(path, in_place, output)
    name = filename_override or path

    def encrypted(text: str) -> str:
        in_store, out_store = stores_for(name, input_type, output_type, encrypting=True)
        parsed: Any = core.parse_named(in_store, text, name if name not in (None, "-", "/dev/stdin") else None)
        if parsed.metadata is not None:
            raise AlreadyEncrypted(f"{path}: the file is already encrypted" if path not in (None, "-")
                                   else "the file is already encrypted")
        if out_store is not in_store:
            converted = core.convert(parsed, out_store)
            _keep_integers(parsed.documents, converted.documents)
            parsed = converted
        return laid_out(core.encrypt_parsed(out_store, parsed, encrypt_options(name, keys)), out_store, True)

    if in_place:
        assert path is not None
        with locked(path) as f:
            f.write(encrypted(decode(f.read())))
        return
    _emit(encrypted(read_text(path)), output)


def _keep_integers(source: list[Any], converted: list[Any]) -> None:
    """A conversion re-reads the text it emitted, and JSON numbers read back as floats (sops
    reads JSON that way); sops converts the tree itself, so an integer stays ``type:int``."""
    from .model import iter_leaves

    before = [leaf for doc in source for leaf in iter_leaves(doc)]
    after = [leaf for doc in converted for leaf in iter_leaves(doc)]
    if len(before) != len(after):
        return
    for old, new in zip(before, after, strict=True):
        if type(old.value) is int and isinstance(new.value, float) and new.value == old.value:
            new.value, new.spelling = old.value, None


def rotate(path: str, *, add: Sequence[KeySpec] = (), remove: Sequence[KeySpec] = (),
           input_type: str | None = None, in_place: bool = False, output: str | None = None,
           decryption_order: str | None = None, filename_override: str | None = None,
           output_type: str | None = None) -> None:
    _check_io(path, in_place, output)

    def rotated(text: str) -> str:
        store, out_store = stores_for(filename_override or path, input_type, output_type)
        opened = core.decrypt_text(store, text, False, decryption_order, name=path)
        return laid_out(core.rotate(opened, add, remove, out_store), out_store, True)

    if in_place:
        with locked(path) as f:
            f.write(rotated(decode(f.read())))
        return
    _emit(rotated(read_text(path)), output)


def filestatus(path: str, input_type: str | None = None) -> bool:
    store, _ = stores_for(path, input_type, None)
    parsed = store.parse(read_text(path))
    meta = parsed.metadata
    return bool(meta and meta.get("version") and meta.get("mac"))


def environment_of(opened: core.Opened) -> dict[str, str]:
    """The variables a decrypted file defines for ``exec-env``: top-level keys and their values.

    dotenv values carry their meaning (quotes removed, escapes decoded, ``${VAR}`` expanded, as
    python-dotenv does); other formats give each top-level scalar as sops's dotenv writer would.
    """
    if opened.store.name == "dotenv":
        from .stores.dotenv import dotenv_environment

        return dotenv_environment(opened.parsed, opened.hints, os.environ)
    from .stores.dotenv import scalar_text

    env: dict[str, str] = {}
    docs = opened.parsed.documents
    for key, node in docs[0].items if docs else []:
        if key is None:
            continue
        if not isinstance(node, Scalar):
            raise UsageError(f"exec-env needs a flat file: {key!r} holds a nested value")
        env[key] = scalar_text(node.value)
    return env


def updatekeys(path: str, *, yes: bool = False, input_type: str | None = None,
               decryption_order: str | None = None, confirm: Any = None, rotate: bool = False) -> bool:
    """Re-wrap the file's existing data key for the keys its creation rule names now.

    Values, MAC and ``lastmodified`` stay byte-identical. A removed key can still open every copy
    made before (the data key is unchanged): that is said, and ``rotate`` makes a new data key in
    the same step. Returns whether the file changed."""
    import sys

    from . import config, datakey
    from .keys import provider
    from .metadata import Metadata

    _check_io(path, False, None)
    store, _ = stores_for(path, input_type, None)
    raw = read_bytes(path)  # written back only if unchanged when the answer comes
    parsed: Any = store.parse(decode(raw))
    if parsed.metadata is None:
        from .errors import MetadataNotFound

        raise MetadataNotFound(f"{path}: sops metadata not found")
    meta = Metadata.from_dict(parsed.metadata)
    from .settings import SETTINGS

    found = config.find_config(path, SETTINGS.config)
    rule = config.load_rule(found, path) if found is not None else None
    if rule is None or not any(rule.key_groups):
        raise UsageError(f"{path}: no creation rule with keys applies to this file")
    from .keys import PROVIDERS

    old = [[(e.type, provider(e.type).spec_of(e).id) if e.type in PROVIDERS
            else (e.type, e.identity) for e in g] for g in meta.key_groups]
    # a key named without a version (Azure) stands for its latest version, as when sops reads the rule
    rule.key_groups = [[_resolved(s) for s in g] for g in rule.key_groups]
    new = [[(s.type, s.id) for s in g] for g in rule.key_groups]
    if old == new and (rule.shamir_threshold or 0) in (0, meta.shamir_threshold) and not rotate:
        print(f"{path}: already up to date", file=sys.stderr)
        return False
    removed = _print_changes(path, old, new)
    if rotate:
        print(f"{path}: a new data key will be made and every value re-encrypted (--rotate)", file=sys.stderr)
    if not yes and not (confirm or _confirm)(path):
        print(f"{path}: left unchanged", file=sys.stderr)
        return False
    if rotate:
        opened = core.open_parsed(store, store.parse(decode(raw)), False, decryption_order)
        threshold = rule.shamir_threshold or min(meta.shamir_threshold, len([g for g in rule.key_groups if g]))
        write_if_unchanged(path, raw, core.rotate_to(opened, rule.key_groups, threshold))
        return True
    if removed:
        print(f"{path}: warning: a removed key still opens every earlier copy of this file (same data key); "
              "rotate it with `sopsy updatekeys --rotate` or `sopsy rotate -i`", file=sys.stderr)
    _rewrap(meta, rule, old, datakey.recover(meta, decryption_order))
    write_if_unchanged(path, raw, core.render_metadata_only(store, parsed, meta))
    return True


def _print_changes(path: str, old: list[list[tuple[str, str]]], new: list[list[tuple[str, str]]]) -> bool:
    """``+``/``-`` per key and group on stderr (keys only, never values); whether a key goes."""
    import sys

    removed = False
    for gi in range(max(len(old), len(new))):
        before = set(old[gi]) if gi < len(old) else set()
        after = set(new[gi]) if gi < len(new) else set()
        for t, ident in sorted(after - before):
            print(f"{path}: group {gi}: + {t} {ident}", file=sys.stderr)
        for t, ident in sorted(before - after):
            print(f"{path}: group {gi}: - {t} {ident}", file=sys.stderr)
            removed = True
    return removed


def _rewrap(meta: Any, rule: Any, old: list[list[tuple[str, str]]], data_key: bytes) -> None:
    """The same data key wrapped for the rule's key groups, in ``meta``."""
    from . import datakey

    if len(rule.key_groups) == 1 and len(meta.key_groups) == 1:
        # one group: keys that stay keep their entries (a smaller diff); new ones wrap the key
        kept = {k: e for k, e in zip(old[0], meta.key_groups[0], strict=True)}
        meta.key_groups = [[kept.get((s.type, s.id)) or datakey.wrap_key(s, data_key)
                            for s in rule.key_groups[0]]]
        meta.shamir_threshold = 0
        return
    # the rule's threshold must fit its groups (wrap says so); the file's own is lowered to fit
    # the new groups, as sops does
    threshold = rule.shamir_threshold or min(meta.shamir_threshold, len([g for g in rule.key_groups if g]))
    groups, threshold = datakey.wrap(data_key, rule.key_groups, threshold)
    meta.key_groups = groups
    meta.shamir_threshold = threshold if len(groups) > 1 else 0


def _resolved(spec: KeySpec) -> KeySpec:
    from .keys import PROVIDERS, provider

    resolve = getattr(provider(spec.type), "resolve", None) if spec.type in PROVIDERS else None
    return resolve(spec) if resolve is not None else spec  # type: ignore[no-any-return]


def _confirm(path: str) -> bool:
    """Ask on stderr and read the answer from standard input, a terminal or not (as sops does:
    ``echo y | sopsy updatekeys FILE``). No answer at all is an error, not a silent "no"."""
    import sys

    while True:
        print(f"{path}: apply these changes? (y/n) ", end="", file=sys.stderr, flush=True)
        try:
            line = sys.stdin.readline() if sys.stdin is not None else ""
        except (OSError, ValueError):
            line = ""
        if not line:
            print(file=sys.stderr)
            raise UsageError(f"{path}: no answer on standard input; use -y to apply the changes without asking")
        answer = line.strip().lower()
        if not sys.stdin.isatty():  # a piped answer is not echoed: end the question's line
            print(answer, file=sys.stderr)
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")

"""File-level operations: encrypt, decrypt, re-encrypt (edit/rotate), re-key — for any store.

Knows nothing of the CLI, of one file format or of one key provider: it takes a store, key
specs and options, and returns text.
"""

from __future__ import annotations

import re

from . import SOPS_FORMAT_VERSION, datakey, engine, ruletag
from .cipher import ValueCipher
from .errors import (
    AlreadyEncrypted,
    DecryptTreeError,
    InputError,
    KeyRetrievalError,
    MacMismatch,
    MetadataNotFound,
    NoDocument,
    SopsyError,
    UsageError,
)
from .keys import KeySpec
from .metadata import Metadata, mac_aad, now_rfc3339
from .model import Comment, Scalar, iter_leaves
from .rules import DEFAULT_RULE, CryptRule, Matcher
from .stores import native

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .stores import ParsedFile, Store

LAYOUT_FIELD = "sopsy_layout"  # encrypted spelling hints (a sopsy extension; sops ignores it)
LAYOUT_AAD = b"sopsy_layout:"
_NOT_UTF8 = re.compile("[\ud800-\udfff]")  # bytes that are not UTF-8, read with surrogateescape
# when the data key was made (a sopsy extension sops ignores; read by `sopsy status`)
DATAKEY_CREATED_FIELD = "sopsy_datakey_created"


class EncryptOptions:
    def __init__(self, key_groups: Sequence[Sequence[KeySpec]], shamir_threshold: int = 0,
                 crypt_rule: CryptRule | None = None, mac_only_encrypted: bool = False) -> None:
        self.key_groups = key_groups
        self.shamir_threshold = shamir_threshold
        self.crypt_rule = crypt_rule
        self.mac_only_encrypted = mac_only_encrypted


class Opened:
    """A decrypted file: the parsed tree (plaintext values), its metadata and the data key."""

    def __init__(self, store: Store, parsed: ParsedFile, metadata: Metadata, cipher: ValueCipher,
                 hints: dict[str, Any] | None = None, comments: dict[str, bytes] | None = None) -> None:
        self.store = store
        self.parsed = parsed
        self.metadata = metadata
        self.cipher = cipher
        self.hints: dict[str, Any] = hints if hints is not None else {}
        # the file's comments were encrypted (by sops): their texts and AADs. A file written
        # again keeps its comments encrypted; sopsy's own files keep them readable (None).
        self.comments = comments

    def plaintext(self) -> str:
        return self.store.render(self.parsed, None, self.hints)

    def printed(self) -> str:
        """What ``decrypt`` prints: the plaintext, unless the store says sops would print this
        file otherwise (``printed`` on a store: a file whose layout is not sops's own)."""
        other = getattr(self.store, "printed", None)
        text = other(self.parsed, self.hints) if other is not None else None
        return text if text is not None else self.plaintext()


def encrypt_parsed(store: Store, parsed: ParsedFile, opts: EncryptOptions,
                   cipher: ValueCipher | None = None, metadata: Metadata | None = None,
                   comments: dict[str, bytes] | None = None) -> str:
    """Encrypt a parsed plaintext file. With ``cipher``/``metadata`` (re-encryption after edit or
    rotate) the data key and key groups are kept and unchanged values keep their IVs; with
    ``comments`` (see :class:`Opened`) the comments are encrypted too."""
    if parsed.metadata is not None:
        raise AlreadyEncrypted("the file is already encrypted")
    notice = getattr(parsed, "notice", None)  # e.g. JSON with comments, which sops cannot read
    if notice:
        from .errors import warn

        warn(notice)
    if cipher is None or metadata is None:
        data_key = datakey.new_data_key()
        groups, threshold = datakey.wrap(data_key, opts.key_groups, opts.shamir_threshold)
        cipher = ValueCipher(data_key)
        metadata = Metadata(key_groups=groups, shamir_threshold=threshold, version=SOPS_FORMAT_VERSION)
        metadata.extra[DATAKEY_CREATED_FIELD] = now_rfc3339()
        # sops writes the implied default rule into the metadata (the binary store has no rules)
        metadata.crypt_rule = opts.crypt_rule or (None if store.name == "binary" else CryptRule(*DEFAULT_RULE))
        metadata.mac_only_encrypted = opts.mac_only_encrypted
    matcher = Matcher(metadata.crypt_rule)
    mac_hex = engine.encrypt_documents(parsed.documents, cipher, matcher, metadata.mac_only_encrypted, comments)
    metadata.lastmodified = now_rfc3339()
    iv = ruletag.mac_iv(cipher.data_key, metadata.lastmodified, mac_hex, metadata.crypt_rule,
                        metadata.mac_only_encrypted)
    metadata.mac = cipher.encrypt(mac_hex.encode(), mac_aad(metadata.lastmodified), "str", iv=iv)
    metadata.extra.pop(LAYOUT_FIELD, None)
    hints = store.layout_hints(parsed)
    if hints:
        import json

        blob = json.dumps(hints, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
        metadata.extra[LAYOUT_FIELD] = cipher.encrypt(blob, LAYOUT_AAD, "str")
    return store.render(parsed, metadata.to_dict())


def convert(parsed: ParsedFile, store: Store) -> ParsedFile:
    """``parsed`` (plaintext) in ``store``'s format: written by it and parsed back. A string of
    bytes that are not UTF-8 (binary data) keeps its exact value, which JSON and YAML text cannot
    carry: sops converts the tree, not the text, so it encrypts the very bytes that came in. Such
    a string goes through the text as a stand-in (its bytes read as Latin-1) and is put back."""
    swapped: dict[int, str] = {}  # leaf number in document order -> the value
    leaves = [leaf for doc in parsed.documents for leaf in iter_leaves(doc)]
    for n, leaf in enumerate(leaves):
        if isinstance(leaf.value, str) and _NOT_UTF8.search(leaf.value):
            swapped[n] = leaf.value
            leaf.value = leaf.value.encode("utf-8", "surrogateescape").decode("latin-1")
    try:
        out = store.parse(store.emit(parsed.documents))
    finally:
        for n, value in swapped.items():
            leaves[n].value = value
    if swapped:
        new = [leaf for doc in out.documents for leaf in iter_leaves(doc)]
        if len(new) != len(leaves):
            raise SopsyError("cannot convert binary data to this format")  # pragma: no cover - a bug
        for n, value in swapped.items():
            new[n].value, new[n].spelling = value, None
    return out


def encrypt_text(store: Store, text: str, opts: EncryptOptions) -> str:
    return encrypt_parsed(store, store.parse(text), opts)


def open_parsed(store: Store, parsed: ParsedFile, ignore_mac: bool = False,
                decryption_order: str | None = None, data_key: bytes | None = None) -> Opened:
    """Recover the data key (unless given), decrypt every value and check the MAC before
    anything is shown."""
    if parsed.metadata is None:
        raise MetadataNotFound("sops metadata not found")
    meta = Metadata.from_dict(parsed.metadata)
    cipher = ValueCipher(data_key if data_key is not None else datakey.recover(meta, decryption_order))
    matcher = Matcher(meta.crypt_rule)
    comments: list[tuple[Scalar, str]] = []
    encrypted_comments: dict[str, bytes] = {}
    computed = engine.decrypt_documents(parsed.documents, cipher, matcher, meta.mac_only_encrypted,
                                        on_comment=lambda leaf, text: comments.append((leaf, text)),
                                        decrypted_comments=encrypted_comments)
    _comments_to_nodes(parsed, comments)
    if not ignore_mac:
        if not meta.mac:
            raise MacMismatch("the file has no MAC")
        try:
            stored, _ = cipher.decrypt(meta.mac, mac_aad(meta.lastmodified))
        except DecryptTreeError:
            raise MacMismatch("cannot decrypt the MAC (the file was altered or the MAC is damaged)") from None
        if stored.decode("ascii", "replace") != computed:
            raise MacMismatch("MAC mismatch: the file's values do not match its MAC (the file was altered)")
        _check_rule_tag(cipher.data_key, meta, computed)
    hints: dict[str, Any] = {}
    blob = meta.extra.get(LAYOUT_FIELD)
    if isinstance(blob, str):
        import json

        got = cipher.try_decrypt(blob, LAYOUT_AAD)
        if got is not None:
            try:
                loaded = json.loads(got[0])
                if isinstance(loaded, dict):
                    hints = loaded
            except ValueError:
                hints = {}
    return Opened(store, parsed, meta, cipher, hints, encrypted_comments or None)


def _check_rule_tag(data_key: bytes, meta: Metadata, computed: str) -> None:
    """Refuse a file whose crypt rule changed after sopsy wrote its MAC (see ruletag.py)."""
    from .cipher import parse_enc

    iv = parse_enc(meta.mac)[1]
    if not ruletag.rule_intact(data_key, iv, meta.lastmodified, computed, meta.crypt_rule, meta.mac_only_encrypted):
        raise MacMismatch("the file's crypt rule or mac_only_encrypted was changed after its MAC was written "
                          "(the metadata was altered): not trusted")


def _comments_to_nodes(parsed: ParsedFile, comments: list[tuple[Scalar, str]]) -> None:
    """sops keeps comments that sat in a sequence as ``type:comment`` strings: turn them back."""
    if not comments:
        return
    by_id = {id(leaf): text for leaf, text in comments}

    work: list[Any] = list(parsed.documents)  # a stack, not recursion: no depth is too deep
    while work:
        items = getattr(work.pop(), "items", None)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            child = item[1] if isinstance(item, tuple) else item
            if isinstance(child, Scalar) and id(child) in by_id:
                c = Comment(by_id[id(child)], ref=child.ref)
                items[i] = (None, c) if isinstance(item, tuple) else c
            else:
                work.append(child)


def refuse_conflict(data: bytes, name: str | None) -> None:
    """A file with merge conflict markers is never decrypted as if it were whole."""
    from .merge.markers import has_conflict

    if has_conflict(data):
        from .errors import ConflictMarkers

        where = f"{name}: " if name else ""
        raise ConflictMarkers(f"{where}the file holds merge conflict markers (an unresolved conflict): resolve it "
                              f"with `sopsy git resolve {name or 'FILE'}` or `sopsy edit {name or 'FILE'}`")


def decrypt_text(store: Store, text: str, ignore_mac: bool = False, decryption_order: str | None = None,
                 data_key: bytes | None = None, name: str | None = None) -> Opened:
    refuse_conflict(text.encode("utf-8", "surrogateescape"), name)
    parsed = parse_named(store, text, name)
    if parsed.metadata is None and name is not None:
        raise MetadataNotFound(not_encrypted(name, store.name, text))
    try:
        return open_parsed(store, parsed, ignore_mac, decryption_order, data_key)
    except FILE_ERRORS as exc:  # no key, a value or the MAC that does not check
        name_error(exc, name)
        raise


# what is wrong with a file's contents or its keys (not an option's value): named with the file
FILE_ERRORS = (InputError, DecryptTreeError, MacMismatch, KeyRetrievalError)


def name_error(exc: SopsyError, name: str | None) -> None:
    """Put the file's name in front of ``exc``'s message, unless it is there already."""
    if name not in (None, "-", "/dev/stdin") and not str(exc).startswith(f"{name}: "):
        exc.args = (f"{name}: {exc}",)


def parse_named(store: Store, text: str, name: str | None) -> ParsedFile:
    """``store.parse(text)``, a parse error naming the file (``app.json: invalid JSON at ...``)."""
    try:
        return store.parse(text)
    except (InputError, NoDocument) as exc:
        if name is not None and not str(exc).startswith(name):
            exc.args = (f"{name}: {exc}",)
        raise


def not_encrypted(name: str, store_name: str, text: str) -> str:
    """sops's "metadata not found" message, naming the file and, when a structured file was
    read as binary (``app.yaml.enc`` by its name), saying how to give its format."""
    if store_name == "binary" and "ENC[AES256_GCM," in text:
        return (f"{name}: sops metadata not found: read as binary, yet it holds encrypted values; give its "
                "format with --input-type (yaml, json, dotenv, ini or tfvars)")
    return f"{name}: sops metadata not found (the file is not encrypted)"


_SUFFIX_RULES = ("unencrypted_suffix", "encrypted_suffix")


def decrypt_fast(store: Store, data: bytes, ignore_mac: bool = False,
                 decryption_order: str | None = None) -> tuple[bytes | None, bytes | None]:
    """The plaintext file by the store's native whole-file path, when it has one and the file
    is in the common form it handles: ``(plaintext, data key)``. Otherwise ``(None, data key or
    None)``: the caller runs :func:`decrypt_text`, handing it the data key if one was already
    recovered (so nobody is asked for a passphrase twice). Everything the fast path declines
    (a layout-hint blob, regex or comment rules, a value that fails authentication, a MAC that
    does not match) goes the ordinary way, which gives the same output or the proper error."""
    scan_fn = getattr(store, "fast_scan", None)
    scan = scan_fn(data) if scan_fn is not None else None
    if scan is None or LAYOUT_FIELD in scan.metadata:
        return None, None
    # Metadata the ordinary path would refuse or report otherwise is left to it.
    try:
        meta = Metadata.from_dict(scan.metadata)
        rule = meta.crypt_rule or CryptRule(*DEFAULT_RULE)
        suffix = rule.value.encode("utf-8", "surrogateescape")
        mac = meta.mac.encode("utf-8", "surrogateescape")
    except (SopsyError, ValueError, TypeError, OverflowError, AttributeError):
        return None, None
    if rule.name not in _SUFFIX_RULES or (not ignore_mac and not meta.mac):
        return None, None
    data_key = datakey.recover(meta, decryption_order)
    prefix = engine.MAC_ONLY_ENCRYPTED_PREFIX if meta.mac_only_encrypted else b""
    got = scan.decrypt(data_key, suffix, rule.name == "encrypted_suffix", meta.mac_only_encrypted, prefix)
    if got is None:
        return None, data_key
    plaintext, computed = got
    if not ignore_mac:
        mod = native()
        try:
            stored = mod.decrypt_value(data_key, mac, mac_aad(meta.lastmodified)) if mod else None
        except SopsyError:
            stored = None
        if stored is None or stored[0].decode("ascii", "replace") != computed:
            return None, data_key
        _check_rule_tag(data_key, meta, computed)
    return plaintext, data_key


def render_metadata_only(store: Store, parsed: ParsedFile, metadata: Metadata) -> str:
    """An encrypted file with new metadata (re-wrapped keys, other key groups) and every value
    written back exactly as it is: values, MAC and ``lastmodified`` stay byte-identical."""
    from .cipher import is_encrypted_value
    from .model import iter_leaves

    for doc in parsed.documents:
        for leaf in iter_leaves(doc):
            if is_encrypted_value(leaf.value):
                leaf.enc = leaf.value  # type: ignore[assignment]
    return store.render(parsed, metadata.to_dict())


def reencrypt(opened: Opened, new_text: str, store: Store | None = None) -> str:
    """Encrypt edited plaintext with the same data key and keys; unchanged values keep their IVs."""
    store = store or opened.store
    parsed = store.parse(new_text)
    return encrypt_parsed(store, parsed, EncryptOptions(key_groups=[]), opened.cipher, opened.metadata,
                          opened.comments)


def with_metadata(opened: Opened) -> str:
    """The plaintext with the ``sops`` metadata in it, as ``edit --show-master-keys`` shows it
    (sopsy's layout hint left out: encrypting the edited text makes it again)."""
    shown = opened.metadata.to_dict()
    shown.pop(LAYOUT_FIELD, None)
    return opened.store.render(opened.parsed, shown, opened.hints)


def reencrypt_with_metadata(opened: Opened, new_text: str) -> str:
    """Encrypt edited plaintext that carries its own ``sops`` metadata (``--show-master-keys``):
    the metadata as edited (key groups, rules) with the file's data key, as sops takes it."""
    store = opened.store
    parsed = store.parse(new_text)
    if parsed.metadata is None:
        raise MetadataNotFound("the edited file has no sops metadata (keep the sops key when editing with "
                               "--show-master-keys)")
    meta = Metadata.from_dict(parsed.metadata)
    if not any(meta.key_groups):
        raise UsageError("No master keys were provided, so sops can't encrypt the file (the edited sops "
                         "metadata has no keys)")
    parsed.metadata = None  # plaintext now; the metadata block is written anew
    return encrypt_parsed(store, parsed, EncryptOptions(key_groups=[]), opened.cipher, meta, opened.comments)


def rotate(opened: Opened, add: Sequence[KeySpec] = (), remove: Sequence[KeySpec] = (),
           out_store: Store | None = None) -> str:
    """A new data key for the same values; IVs are kept (as sops does), keys added to group 0."""
    meta = opened.metadata
    specs: list[list[KeySpec]] = []
    from .keys import provider

    removed = {(s.type, s.id) for s in remove}
    present = {(e.type, provider(e.type).spec_of(e).id) for group in meta.key_groups for e in group}
    missing = sorted(f"{t} {i}" for t, i in removed - present)
    if missing:  # a revocation must never fail silently
        raise UsageError(f"cannot remove keys the file does not have: {', '.join(missing)}")
    for gi, group in enumerate(meta.key_groups):
        g = [provider(e.type).spec_of(e) for e in group]
        g = [s for s in g if (s.type, s.id) not in removed]
        if gi == 0:
            g += list(add)
        specs.append(g)
    if not any(specs):
        raise UsageError("removing these keys would leave the file with no key to decrypt it: add another first")
    return rotate_to(opened, specs, meta.shamir_threshold, out_store)


def rotate_to(opened: Opened, specs: Sequence[Sequence[KeySpec]], threshold: int,
              out_store: Store | None = None) -> str:
    """The file under a new data key wrapped for ``specs`` (one list per key group), written by
    ``out_store`` (default: its own store); values keep their IVs, as sops's rotate does."""
    meta = opened.metadata
    data_key = datakey.new_data_key()
    groups, threshold = datakey.wrap(data_key, specs, threshold)
    new_cipher = ValueCipher(data_key)
    new_cipher.stash = opened.cipher.stash
    new_cipher.spare = opened.cipher.spare
    new_meta = Metadata(key_groups=groups, shamir_threshold=threshold, crypt_rule=meta.crypt_rule,
                        mac_only_encrypted=meta.mac_only_encrypted, version=meta.version,
                        extra={DATAKEY_CREATED_FIELD: now_rfc3339()})
    parsed = opened.store.parse(opened.plaintext())
    store = out_store or opened.store
    if store is not opened.store:
        parsed = convert(parsed, store)
    return encrypt_parsed(store, parsed, EncryptOptions(key_groups=[]), new_cipher, new_meta, opened.comments)

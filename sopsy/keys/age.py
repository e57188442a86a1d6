"""age recipients and identities, found the way sops finds them.

X25519 and SSH keys go through pyrage, and so do plugin keys (``age1<name>1…`` recipients,
``AGE-PLUGIN-<NAME>-1…`` identities; :mod:`.age_plugin` runs the ``age-plugin-<name>`` binaries).
Post-quantum hybrid keys (``age1pq1…``, ``AGE-SECRET-KEY-PQ-1…``), which pyrage lacks, go through
:mod:`.age_pq`. Both modules are imported only when such a key is used.
"""

from __future__ import annotations

import os
import sys

import pyrage

from ..errors import KeyUnavailable, UsageError
from ..fileio import interactive
from ..metadata import KeyEntry
from . import KeySpec

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
# One data key wrapped for one recipient is under 3 KB armored (a post-quantum stanza included).
# pyrage's header parser takes time quadratic in the header's size (minutes for 1 MB; age in Go,
# and so sops, is linear), so a larger enc field is refused before it gets there.
MAX_ENC = 16 * 1024


PQ_PREFIX = "age1pq1"


def _pq() -> Any:
    """The post-quantum module; cryptography older than 47 has no HPKE with ML-KEM."""
    try:
        from . import age_pq
    except ImportError as exc:
        raise UsageError(f"post-quantum age keys need the cryptography package, version 47 or later ({exc})") from None
    return age_pq


def recipient_kind(text: str) -> str:
    """``x25519``, ``ssh``, ``pq`` or ``plugin``, from the recipient's form as sops tells them apart."""
    if text.startswith(PQ_PREFIX):
        return "pq"
    if text.startswith("age1") and text.count("1") > 1:  # Bech32 data has no "1": a plugin HRP
        return "plugin"
    return "ssh" if text.startswith("ssh-") else "x25519"


def parse_recipient(text: str) -> object:
    text = text.strip()
    if text.upper().startswith("AGE-"):  # an identity pasted where its public key belongs: never echo it
        raise UsageError("an age secret key was given where a recipient (a public key) is needed: give the "
                         "age1... key that `sopsy keygen` printed (`age-keygen -y KEYFILE` shows it)")
    kind = recipient_kind(text)
    if kind == "pq":
        age_pq = _pq()
        try:
            return age_pq.HybridRecipient.parse(text)
        except age_pq.PQError as exc:
            raise UsageError(f"not a valid age recipient: {text[:80]}...: {exc}") from None
    try:
        if kind == "plugin":
            return pyrage.plugin.Recipient.from_str(text)
        if kind == "ssh":
            return pyrage.ssh.Recipient.from_str(text)
        return pyrage.x25519.Recipient.from_str(text)
    except Exception:
        raise UsageError(f"not a valid age recipient: {text[:80]}") from None


def parse_arg(text: str, options: dict[str, Any]) -> list[KeySpec]:
    """``--age R1,R2`` / ``SOPS_AGE_RECIPIENTS``: each recipient checked now, so that a typo in
    ``rotate --rm-age`` is an error rather than a removal that silently does nothing."""
    specs = []
    for item in text.split(","):
        item = item.strip()
        if item:
            parse_recipient(item)
            specs.append(KeySpec("age", item))
    return specs


def default_keys_file() -> str:
    home = os.path.expanduser("~")
    if sys.platform == "darwin" and not os.environ.get("XDG_CONFIG_HOME"):
        base = os.path.join(home, "Library", "Application Support")
    elif os.name == "nt":
        base = os.environ.get("APPDATA", home)
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(base, "sops", "age", "keys.txt")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class PQLine(str):
    """A post-quantum identity line, parsed (by :mod:`.age_pq`) only when a file needs it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PQLine(...)"  # never the key


def _identity(word: str, origin: str) -> object:
    if word.startswith("AGE-SECRET-KEY-PQ-1"):
        return PQLine(word)
    try:
        if word.startswith("AGE-SECRET-KEY-1"):
            return pyrage.x25519.Identity.from_str(word)
        if word.startswith("AGE-PLUGIN-"):
            return pyrage.plugin.Identity.from_str(word)
    except Exception:
        raise UsageError(f"an age identity in {origin} is malformed") from None
    raise UsageError(f"{origin} holds a line that is not an age identity")


def _identities_from_text(text: str, origin: str, several_per_line: bool = False) -> list[object]:
    text = text.strip()
    if text.startswith(ARMOR_BEGIN):
        text = _decrypt_passphrase_file(text.encode(), origin)
    out: list[object] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # SOPS_AGE_KEY may hold several keys on a line, separated by spaces (as sops does after 3.11)
        out += [_identity(w, origin) for w in (line.split() if several_per_line else [line])]
    return out


def _decrypt_passphrase_file(data: bytes, origin: str) -> str:
    if not interactive():
        raise UsageError(f"{origin} is passphrase-protected and no terminal is available to ask for it")
    import getpass

    passphrase = getpass.getpass(f"Passphrase for {origin}: ")
    try:
        return bytes(pyrage.passphrase.decrypt(data, passphrase)).decode()
    except Exception:
        raise UsageError(f"could not decrypt {origin} with that passphrase") from None


def _ssh_identity(path: str) -> object | None:
    try:
        with open(path, "rb") as f:
            ident: object = pyrage.ssh.Identity.from_buffer(f.read())
        return ident
    except OSError:
        return None
    except Exception:
        return None  # encrypted or unsupported SSH key: skip it like an absent one


def load_identities() -> list[object]:
    """All age identities from the sops environment variables and default locations (combined).
    A source that fails (a missing SOPS_AGE_KEY_FILE, a failing SOPS_AGE_KEY_CMD) is an error
    only when no other source gives an identity, as in sops: the SSH key may be the one needed."""
    ids: list[object] = []
    errors: list[str] = []
    for load in (_from_key_env, _from_key_file, _from_key_cmd, _from_ssh, _from_default_file):
        try:
            ids += load()
        except UsageError as exc:
            errors.append(str(exc))
    if errors and not ids:
        raise UsageError("; ".join(errors))
    return ids


def _from_key_env() -> list[object]:
    text = os.environ.get("SOPS_AGE_KEY")
    return _identities_from_text(text, "SOPS_AGE_KEY", several_per_line=True) if text else []


def _from_key_file() -> list[object]:
    key_file = os.environ.get("SOPS_AGE_KEY_FILE")
    if not key_file:
        return []
    path = os.path.expanduser(key_file)
    try:
        text = _read(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the age key file {path} (SOPS_AGE_KEY_FILE): {reason}") from None
    return _identities_from_text(text, f"the age key file {path}")


def _from_key_cmd() -> list[object]:
    cmd = os.environ.get("SOPS_AGE_KEY_CMD")
    if not cmd:
        return []
    # a shell command, as sops runs it (it may call a password manager)
    import subprocess

    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UsageError(f"SOPS_AGE_KEY_CMD failed with exit code {proc.returncode}")
    return _identities_from_text(proc.stdout, "SOPS_AGE_KEY_CMD")


def _from_ssh() -> list[object]:
    ssh_file = os.environ.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
    ssh_paths = [os.path.expanduser(ssh_file)] if ssh_file else []
    ssh_paths += [os.path.expanduser("~/.ssh/id_ed25519"), os.path.expanduser("~/.ssh/id_rsa")]
    return [ident for ident in map(_ssh_identity, ssh_paths) if ident is not None]


def _from_default_file() -> list[object]:
    default = default_keys_file()
    if not os.path.isfile(default):
        return []
    try:
        text = _read(default)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read the age key file {default}: {reason}") from None
    return _identities_from_text(text, default)


def _has_pq_stanza(enc: str) -> bool:
    """Whether the armored age file holds a post-quantum stanza (a cheap look, stdlib only)."""
    import base64
    import binascii

    body = "".join(ln.strip() for ln in enc.strip().splitlines()[1:-1])
    try:
        raw = base64.b64decode(body)
    except (binascii.Error, ValueError):
        return False
    header = raw[:raw.find(b"\n---")]
    return b"\n-> mlkem768x25519 " in header


class AgeProvider:
    type_name = "age"

    def __init__(self) -> None:
        self._identities: list[object] | None = None
        self._failure: str | None = None
        self._pq: list[Any] | None = None

    def identities(self) -> list[object]:
        if self._identities is None:
            if self._failure is not None:  # once per process, not once per recipient
                raise UsageError(self._failure)
            try:
                self._identities = load_identities()
            except UsageError as exc:
                self._failure = str(exc)
                raise
            self._pq = None
        return self._identities

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        recipient = parse_recipient(spec.id)
        kind = recipient_kind(spec.id.strip())
        if kind == "pq":
            armored = _pq().encrypt(spec.id.strip(), payload)
        elif kind == "plugin":
            from . import age_plugin

            armored = age_plugin.encrypt(recipient, payload)
        else:
            armored = bytes(pyrage.encrypt(payload, [recipient], armored=True)).decode()
        if not armored.endswith("\n"):
            armored += "\n"
        return KeyEntry("age", {"recipient": spec.id, "enc": armored})

    def unwrap(self, entry: KeyEntry) -> bytes:
        ids = self.identities()
        if not ids:
            raise KeyUnavailable("no age identity found (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_CMD)")
        enc = entry.enc
        if ARMOR_BEGIN not in enc:
            raise KeyUnavailable("the enc field is not an armored age file")
        if len(enc) > MAX_ENC:
            raise KeyUnavailable(f"the enc field is {len(enc)} characters, more than an age-wrapped data key can be "
                                 f"(at most {MAX_ENC}): the file was altered")
        pq_lines = [i for i in ids if isinstance(i, PQLine)]
        if pq_lines and _has_pq_stanza(enc):
            found = self._unwrap_pq(enc, pq_lines)
            if found is not None:
                return found
        others = [i for i in ids if not isinstance(i, PQLine)]
        plugins = [i for i in others if isinstance(i, pyrage.plugin.Identity)]
        problems: list[str] = []
        if plugins:
            from . import age_plugin

            others = [i for i in others if not isinstance(i, pyrage.plugin.Identity)]
            others += age_plugin.identity_plugins(plugins, problems)
        if not others:
            raise KeyUnavailable("; ".join(problems) or "none of the age identities matches this recipient")
        try:
            return bytes(pyrage.decrypt(enc.encode(), others))
        except Exception as exc:
            if plugins:  # a plugin's own message says more than "no identity matched"
                from .age_plugin import reason

                problems.append(reason(exc))
            raise KeyUnavailable("; ".join(problems) or "none of the age identities matches this recipient") from None

    def _unwrap_pq(self, enc: str, lines: list[PQLine]) -> bytes | None:
        age_pq = _pq()
        from .ageformat import AgeFormatError

        if self._pq is None:
            try:
                self._pq = [age_pq.HybridIdentity.parse(str(ln)) for ln in lines]
            except age_pq.PQError as exc:
                raise UsageError(str(exc)) from None
        try:
            found: bytes | None = age_pq.decrypt(enc, self._pq)
        except AgeFormatError as exc:
            raise KeyUnavailable(f"the age file is damaged: {exc}") from None
        return found

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        return KeySpec("age", str(entry.fields.get("recipient", "")))


def generate(pq: bool = False) -> tuple[str, str]:
    """A new X25519 (or post-quantum hybrid) identity: (secret key line, public recipient)."""
    if pq:
        return _pq().generate()  # type: ignore[no-any-return]
    ident = pyrage.x25519.Identity.generate()
    return str(ident), str(ident.to_public())


PROVIDER = AgeProvider()

"""age recipients (X25519 and SSH) through pyrage, with identities found the way sops finds them."""

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


def parse_recipient(text: str) -> object:
    text = text.strip()
    try:
        if text.startswith("ssh-"):
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


def _identities_from_text(text: str, origin: str) -> list[object]:
    text = text.strip()
    if text.startswith(ARMOR_BEGIN):
        text = _decrypt_passphrase_file(text.encode(), origin)
    out: list[object] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("AGE-SECRET-KEY-1"):
            try:
                out.append(pyrage.x25519.Identity.from_str(line))
            except Exception:
                raise UsageError(f"an age identity in {origin} is malformed") from None
        elif line.startswith("AGE-PLUGIN-") or line.startswith("AGE-SECRET-KEY-PQ-"):
            continue  # plugin and post-quantum identities are not supported by pyrage yet
        else:
            raise UsageError(f"{origin} holds a line that is not an age identity")
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
    """All age identities from the sops environment variables and default locations (combined)."""
    ids: list[object] = []
    if os.environ.get("SOPS_AGE_KEY"):
        ids += _identities_from_text(os.environ["SOPS_AGE_KEY"], "SOPS_AGE_KEY")
    key_file = os.environ.get("SOPS_AGE_KEY_FILE")
    if key_file:
        path = os.path.expanduser(key_file)
        try:
            text = _read(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read the age key file {path} (SOPS_AGE_KEY_FILE): {reason}") from None
        ids += _identities_from_text(text, f"the age key file {path}")
    cmd = os.environ.get("SOPS_AGE_KEY_CMD")
    if cmd:
        # a shell command, as sops runs it (it may call a password manager)
        import subprocess

        proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise UsageError(f"SOPS_AGE_KEY_CMD failed with exit code {proc.returncode}")
        ids += _identities_from_text(proc.stdout, "SOPS_AGE_KEY_CMD")
    ssh_file = os.environ.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
    ssh_paths = [os.path.expanduser(ssh_file)] if ssh_file else []
    ssh_paths += [os.path.expanduser("~/.ssh/id_ed25519"), os.path.expanduser("~/.ssh/id_rsa")]
    for p in ssh_paths:
        ident = _ssh_identity(p)
        if ident is not None:
            ids.append(ident)
    default = default_keys_file()
    if os.path.isfile(default):
        try:
            text = _read(default)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"cannot read the age key file {default}: {reason}") from None
        ids += _identities_from_text(text, default)
    return ids


class AgeProvider:
    type_name = "age"

    def __init__(self) -> None:
        self._identities: list[object] | None = None
        self._failure: str | None = None

    def identities(self) -> list[object]:
        if self._identities is None:
            if self._failure is not None:  # once per process, not once per recipient
                raise UsageError(self._failure)
            try:
                self._identities = load_identities()
            except UsageError as exc:
                self._failure = str(exc)
                raise
        return self._identities

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        recipient = parse_recipient(spec.id)
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
        try:
            return bytes(pyrage.decrypt(enc.encode(), ids))
        except Exception:
            raise KeyUnavailable("none of the age identities matches this recipient") from None

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        return KeySpec("age", str(entry.fields.get("recipient", "")))


def generate() -> tuple[str, str]:
    """A new X25519 identity: (secret key line, public recipient)."""
    ident = pyrage.x25519.Identity.generate()
    return str(ident), str(ident.to_public())


PROVIDER = AgeProvider()

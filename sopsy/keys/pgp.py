"""OpenPGP master keys through the ``gpg`` binary, with sops-compatible ``pgp`` entries.

sops tries the Go OpenPGP library on a legacy ``pubring.gpg``/``secring.gpg`` first and then runs
``gpg``; GnuPG 2.1+ keeps keys in ``pubring.kbx`` and ``private-keys-v1.d``, which only ``gpg`` reads,
so sopsy goes straight to ``gpg`` with the arguments sops gives it. gpg then does the decryption,
which is why keys held by gpg-agent, on a smartcard or behind a pinentry passphrase work.

* ``SOPS_GPG_EXEC`` names the binary (default ``gpg``); ``GNUPGHOME`` is read by gpg itself.
* Encrypting: ``gpg --no-default-recipient --yes --encrypt -a -r FP --trusted-key SHORTID
  --no-encrypt-to`` with the payload on stdin; ``enc`` is the armored message, trimmed.
* Decrypting: ``gpg -d`` with ``enc`` on stdin; gpg finds the secret key from the message's
  key ids, so ``fp`` names the key for people and for ``--rm-pgp``, not for gpg.
* An entry is ``created_at``, ``enc``, ``fp`` (in that order, as sops writes it); ``fp`` is the
  fingerprint as given, with every space removed.

No Python OpenPGP library is used: none drives gpg-agent and smartcards as gpg does, and running
the binary is what sops does. gpg's own messages are reduced to one line.
"""

from __future__ import annotations

import os
import subprocess

from ..errors import KeyUnavailable, SopsyError, UsageError
from ..metadata import KeyEntry
from . import KeySpec, created_at

TYPE_CHECKING = False  # typing costs ~4 ms at start-up; mypy still reads the block below
if TYPE_CHECKING:
    from typing import Any

GPG_EXEC_ENV = "SOPS_GPG_EXEC"


def parse_arg(text: str, options: dict[str, Any] | None = None) -> list[KeySpec]:
    """``FP,FP2`` (from ``--pgp``, ``SOPS_PGP_FP``, ``--add-pgp``, ``--rm-pgp``) → key specs.

    As in sops, every space is removed (so a fingerprint may be written in groups of four) and
    the text is otherwise passed to gpg as is: a long key id or a ``!``-suffixed subkey works too.
    """
    specs: list[KeySpec] = []
    for item in (text or "").split(","):
        fp = item.replace(" ", "").strip()
        if fp:
            specs.append(KeySpec("pgp", fp))
    return specs


def short_id(fingerprint: str) -> str:
    """The last 16 hex digits (a long key id), keeping a trailing ``!`` as sops does."""
    bang = fingerprint.endswith("!")
    core = fingerprint[:-1] if bang else fingerprint
    return (core[-16:] if len(core) > 16 else core) + ("!" if bang else "")


def gpg_binary() -> str:
    return os.environ.get(GPG_EXEC_ENV) or "gpg"


def _run(args: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    exe = gpg_binary()
    try:
        return subprocess.run([exe, *args], input=stdin, capture_output=True, check=False)
    except FileNotFoundError:
        hint = f"{GPG_EXEC_ENV} names {exe!r}" if os.environ.get(GPG_EXEC_ENV) else "install GnuPG or set " + GPG_EXEC_ENV
        raise KeyUnavailable(f"the gpg binary was not found ({hint})") from None
    except OSError as exc:
        raise KeyUnavailable(f"cannot run {exe}: {exc.strerror}") from None


def gpg_reason(stderr: bytes, returncode: int) -> str:
    """gpg's stderr reduced to the one line that says what went wrong."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    for ln in lines:
        if "No secret key" in ln:
            return "no secret key for it in the GnuPG keyring"
        if "No public key" in ln:
            return "the public key is not in the GnuPG keyring"
    # gpg's last "gpg: ..." line is the error; the earlier ones are notes about keys and trust
    msgs = [ln[5:].strip() if ln.startswith("gpg: ") else ln for ln in lines]
    msgs = [m for m in msgs if m and not m.startswith(("WARNING", "Note:"))]
    if msgs:
        return "gpg: " + msgs[-1][:200]
    return f"gpg exited with code {returncode}"


class PgpProvider:
    type_name = "pgp"

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        fp = spec.id.replace(" ", "")
        if not fp:
            raise UsageError("an empty PGP fingerprint was given")
        args = ["--no-default-recipient", "--yes", "--encrypt", "-a", "-r", fp,
                "--trusted-key", short_id(fp), "--no-encrypt-to"]
        try:
            proc = _run(args, payload)
        except KeyUnavailable as exc:
            raise SopsyError(f"could not encrypt the data key with PGP key {fp}: {exc}") from None
        if proc.returncode != 0:
            reason = gpg_reason(proc.stderr, proc.returncode)
            raise SopsyError(f"could not encrypt the data key with PGP key {fp}: {reason}")
        enc = proc.stdout.decode("ascii", "replace").strip()
        return KeyEntry("pgp", {"created_at": created_at(), "enc": enc, "fp": fp})

    def unwrap(self, entry: KeyEntry) -> bytes:
        enc = entry.enc
        if "-----BEGIN PGP MESSAGE-----" not in enc:
            raise KeyUnavailable("the enc field is not an armored PGP message")
        proc = _run(["-d"], enc.encode())
        if proc.returncode != 0:
            raise KeyUnavailable(gpg_reason(proc.stderr, proc.returncode))
        if not proc.stdout:
            # an older gpg drops AEAD packets it cannot read and "succeeds" with no output
            raise KeyUnavailable("gpg returned no data (is it older than the gpg that encrypted this?)")
        return proc.stdout

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        return KeySpec("pgp", str(entry.fields.get("fp", "")))


PROVIDER = PgpProvider()

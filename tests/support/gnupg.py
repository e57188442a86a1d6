"""A throwaway GnuPG home for the PGP tests: keys made or imported at test time, agent stopped after.

The home is a short path under the temporary directory (gpg-agent's socket path has a length
limit), mode 0700 as gpg wants it. Keys made here have no passphrase and protect nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest


def gpg_exe() -> str:
    exe = shutil.which("gpg")
    if not exe:
        pytest.fail("gpg (GnuPG) is not installed: scripts/test.sh installs the gnupg package")
    return exe


class GnuPGHome:
    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="sopsy-gpg-")
        os.chmod(self.path, 0o700)

    def gpg(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([gpg_exe(), "--homedir", self.path, "--batch", *args], input=input,
                              capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()[-500:]
        return proc

    def generate(self, name: str) -> str:
        """A new ed25519 key with a cv25519 encryption subkey, no passphrase; its fingerprint."""
        uid = f"{name} (sopsy throwaway test key) <{name}@sopsy.invalid>"
        self.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "cert", "never")
        fp = self.fingerprints(uid)[-1]
        self.gpg("--passphrase", "", "--quick-add-key", fp, "cv25519", "encr", "never")
        return fp

    def import_key(self, path: str) -> None:
        self.gpg("--import", path)

    def fingerprints(self, who: str = "") -> list[str]:
        out = self.gpg("--list-keys", "--with-colons", *([who] if who else [])).stdout.decode()
        lines = out.splitlines()
        # the primary key's fingerprint is the "fpr" line right after each "pub" line
        return [lines[i + 1].split(":")[9] for i, ln in enumerate(lines) if ln.startswith("pub:")]

    def env(self) -> dict[str, str]:
        return {"GNUPGHOME": self.path}

    def close(self) -> None:
        subprocess.run(["gpgconf", "--homedir", self.path, "--kill", "gpg-agent"], capture_output=True, check=False)
        shutil.rmtree(self.path, ignore_errors=True)

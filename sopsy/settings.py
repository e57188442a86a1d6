"""Process-wide options that sops takes as *global* flags (before or after the subcommand) and
from its environment: the config file, key services, verbosity.

The command line fills :data:`SETTINGS` once, before any command runs; the core reads it where
sops's global flags act (the config search, the data-key wrap/unwrap through key services).
Library callers may set the fields themselves. A plain class: this module is imported by every
command, and dataclasses cost start-up time.
"""

from __future__ import annotations

import os


class Settings:
    def __init__(self) -> None:
        # --config / SOPS_CONFIG: the config file to use instead of searching for one
        self.config: str | None = None
        # --keyservice URI (repeatable) / SOPS_KEYSERVICE (comma-separated): remote key services
        self.keyservices: list[str] = []
        # --enable-local-keyservice[=false] / SOPS_ENABLE_LOCAL_KEYSERVICE: use local keys too
        self.local_keyservice = True
        # --verbose
        self.verbose = False
        # --indent N: YAML/JSON output written afresh with N spaces, as sops does (None: keep
        # each file's own layout)
        self.indent: int | None = None

    def load_environment(self, environ: os._Environ[str] | dict[str, str] | None = None) -> None:
        """Defaults from sops's environment variables (flags given later override them)."""
        env = os.environ if environ is None else environ
        self.config = env.get("SOPS_CONFIG") or None
        self.keyservices = [u.strip() for u in env.get("SOPS_KEYSERVICE", "").split(",") if u.strip()]
        local = env.get("SOPS_ENABLE_LOCAL_KEYSERVICE", "").strip().lower()
        self.local_keyservice = local not in ("0", "f", "false", "no", "off")
        self.indent = None  # a flag only


SETTINGS = Settings()

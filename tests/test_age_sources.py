"""age recipients and identities, found exactly where sops finds them.

Every identity source is tried alone, in a clean environment whose HOME is an empty temporary
directory (so no developer key can leak in), with the real sops run in the same environment as
the reference: an existing sops setup must work unchanged. SSH recipients (ed25519 and RSA) are
made with ssh-keygen and go both ways between sopsy and sops.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEY, RECIPIENT, RECIPIENT2, TESTDATA, sops_binary

AGE_KEY2 = TESTDATA / "throwaway_age_key2.txt"
PLAIN = "db:\n  password: hunter2 # rotate me\nport: 5432\n"
Runner = Callable[..., subprocess.CompletedProcess[bytes]]


def _clean_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """The process environment without any age/sops key setting, HOME in a temporary dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SOPS_") and k not in ("XDG_CONFIG_HOME", "HOME", "SSH_AUTH_SOCK")}
    env.update({"HOME": str(home), "SOPS_DISABLE_VERSION_CHECK": "1"}, **extra)
    return env


def _run(tool: str, home: Path, *args: str, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sops_binary()] if tool == "sops" else [sys.executable, "-m", "sopsy"]
    return subprocess.run([*cmd, *args], capture_output=True, env=_clean_env(home, env or {}),
                          cwd=str(cwd or home), check=False)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def _encrypt(tool: str, home: Path, recipients: str, name: str = "secret.yaml") -> Path:
    f = home.parent / f"{tool}-{name}"
    f.write_text(PLAIN)
    r = _run(tool, home, "encrypt", "--age", recipients, "-i", str(f))
    assert r.returncode == 0, r.stderr.decode()
    assert "hunter2" not in f.read_text()
    return f


def _decrypts(tool: str, home: Path, f: Path, env: dict[str, str]) -> None:
    r = _run(tool, home, "decrypt", str(f), env=env)
    assert r.returncode == 0, f"{tool}: {r.stderr.decode()[-400:]}"
    if tool == "sopsy" and not f.name.startswith("sops-"):
        assert r.stdout.decode() == PLAIN
    else:  # sops re-emits the YAML (it moves the comment): compare data
        assert yaml.safe_load(r.stdout) == yaml.safe_load(PLAIN)


def _refused(tool: str, home: Path, f: Path, env: dict[str, str]) -> None:
    r = _run(tool, home, "decrypt", str(f), env=env)
    assert r.returncode == 128 and r.stdout == b"", (tool, r.returncode, r.stderr.decode()[-300:])
    if tool == "sopsy":
        assert len(r.stderr.decode().splitlines()) == 1 and "Traceback" not in r.stderr.decode()


def _secret_line(path: Path) -> str:
    return next(ln for ln in path.read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-1"))


# -- X25519 identities from each source ------------------------------------------------------

SOURCES = ["SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "default keys.txt", "XDG_CONFIG_HOME keys.txt"]


def _source_env(source: str, home: Path) -> dict[str, str]:
    if source == "SOPS_AGE_KEY_FILE":
        return {"SOPS_AGE_KEY_FILE": str(AGE_KEY)}
    if source == "SOPS_AGE_KEY":
        return {"SOPS_AGE_KEY": AGE_KEY.read_text()}  # the whole file: comments are allowed
    if source == "SOPS_AGE_KEY_CMD":
        return {"SOPS_AGE_KEY_CMD": f"cat '{AGE_KEY}'"}
    if source == "default keys.txt":
        d = home / ".config" / "sops" / "age"
        d.mkdir(parents=True)
        shutil.copy(AGE_KEY, d / "keys.txt")
        return {}
    if source == "XDG_CONFIG_HOME keys.txt":
        xdg = home / "xdg"
        (xdg / "sops" / "age").mkdir(parents=True)
        shutil.copy(AGE_KEY, xdg / "sops" / "age" / "keys.txt")
        return {"XDG_CONFIG_HOME": str(xdg)}
    raise AssertionError(source)


@pytest.fixture(scope="module")
def x25519_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same plaintext encrypted for RECIPIENT by sopsy and by sops."""
    base = tmp_path_factory.mktemp("x25519")
    home = base / "home"
    home.mkdir()
    return {tool: _encrypt(tool, home, RECIPIENT) for tool in ("sopsy", "sops")}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("made_by", ["sopsy", "sops"])
def test_identity_source_alone(source: str, made_by: str, home: Path, x25519_files: dict[str, Path]) -> None:
    f = x25519_files[made_by]
    env = _source_env(source, home)
    _decrypts("sopsy", home, f, env)
    _decrypts("sops", home, f, env)  # the same setup works for sops: the sources really are sops's


def test_no_identity_anywhere_is_refused(home: Path, x25519_files: dict[str, Path]) -> None:
    """The control for the test above: the clean environment itself holds no identity."""
    for tool in ("sopsy", "sops"):
        _refused(tool, home, x25519_files["sopsy"], {})


def test_wrong_identity_is_refused_naming_the_recipient(home: Path, x25519_files: dict[str, Path]) -> None:
    env = {"SOPS_AGE_KEY_FILE": str(AGE_KEY2)}
    for tool in ("sopsy", "sops"):
        _refused(tool, home, x25519_files["sopsy"], env)
    r = _run("sopsy", home, "decrypt", str(x25519_files["sopsy"]), env=env)
    assert RECIPIENT in r.stderr.decode()


def test_sources_are_combined(home: Path, tmp_path: Path) -> None:
    """sops collects identities from every source, so a file for key 2 decrypts even when
    SOPS_AGE_KEY holds key 1 and the key file key 2 (and the other way round)."""
    f = _encrypt("sopsy", home, RECIPIENT2)
    for env in ({"SOPS_AGE_KEY": _secret_line(AGE_KEY), "SOPS_AGE_KEY_FILE": str(AGE_KEY2)},
                {"SOPS_AGE_KEY": _secret_line(AGE_KEY2), "SOPS_AGE_KEY_FILE": str(AGE_KEY)},
                {"SOPS_AGE_KEY_CMD": f"cat '{AGE_KEY}'", "SOPS_AGE_KEY": _secret_line(AGE_KEY2)}):
        _decrypts("sopsy", home, f, env)
        _decrypts("sops", home, f, env)


def test_bad_sources_give_one_line_errors(home: Path, x25519_files: dict[str, Path]) -> None:
    f = x25519_files["sopsy"]
    for env in ({"SOPS_AGE_KEY": "AGE-SECRET-KEY-1NOTAKEY"},
                {"SOPS_AGE_KEY_FILE": str(home / "missing.txt")},
                {"SOPS_AGE_KEY_CMD": "exit 3"},
                {"SOPS_AGE_KEY": "not an identity at all"}):
        r = _run("sopsy", home, "decrypt", str(f), env=env)
        err = r.stderr.decode()
        assert r.returncode != 0 and r.stdout == b"", env
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "NOTAKEY" not in err  # key material is never echoed
        assert _run("sops", home, "decrypt", str(f), env=env).returncode != 0, env


# -- recipients --------------------------------------------------------------------------------

def test_recipients_from_flag_and_environment(home: Path) -> None:
    f1 = _encrypt("sopsy", home, f"{RECIPIENT},{RECIPIENT2}", "flag.yaml")
    f2 = home.parent / "env.yaml"
    f2.write_text(PLAIN)
    r = _run("sopsy", home, "encrypt", "-i", str(f2), env={"SOPS_AGE_RECIPIENTS": f"{RECIPIENT},{RECIPIENT2}"})
    assert r.returncode == 0, r.stderr.decode()
    for f in (f1, f2):
        meta = yaml.safe_load(f.read_text())["sops"]
        assert [a["recipient"] for a in meta["age"]] == [RECIPIENT, RECIPIENT2]
        # either identity alone opens the file, for both tools
        for key in (AGE_KEY, AGE_KEY2):
            _decrypts("sopsy", home, f, {"SOPS_AGE_KEY_FILE": str(key)})
            _decrypts("sops", home, f, {"SOPS_AGE_KEY_FILE": str(key)})


def test_invalid_recipient_is_a_usage_error(home: Path) -> None:
    f = home.parent / "x.yaml"
    f.write_text(PLAIN)
    for bad in ("age1notarecipient", "ssh-ed25519 AAAAnotbase64", "ssh-dss AAAAB3NzaC1kc3MAAACBAP"):
        r = _run("sopsy", home, "encrypt", "--age", bad, str(f))
        assert r.returncode == 1 and r.stdout == b"", r.stderr
        assert len(r.stderr.decode().splitlines()) == 1
    assert f.read_text() == PLAIN


# -- SSH recipients ------------------------------------------------------------------------------

def _ssh_keygen(kind: str, path: Path) -> str:
    """A throwaway SSH key pair (no passphrase); returns the public key line."""
    exe = shutil.which("ssh-keygen")
    if exe:
        extra = ["-b", "2048"] if kind == "rsa" else []
        subprocess.run([exe, "-q", "-t", kind, *extra, "-N", "", "-C", "throwaway", "-f", str(path)],
                       check=True, capture_output=True)
    else:  # same OpenSSH formats, written by cryptography
        print(f"ssh-keygen not found: making the {kind} key with cryptography")
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

        key = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
        path.chmod(0o600)
        pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        Path(str(path) + ".pub").write_bytes(pub + b" throwaway\n")
    return Path(str(path) + ".pub").read_text().strip()


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    d = tmp_path_factory.mktemp("ssh")
    out = {}
    for kind in ("ed25519", "rsa"):
        path = d / f"id_{kind}"
        out[kind] = (path, _ssh_keygen(kind, path))
    return out


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
@pytest.mark.parametrize("made_by", ["sopsy", "sops"])
def test_ssh_recipient_both_directions(kind: str, made_by: str, home: Path,
                                       ssh_keys: dict[str, tuple[Path, str]]) -> None:
    key_path, pub = ssh_keys[kind]
    assert pub.startswith(f"ssh-{kind} AAAA")
    f = _encrypt(made_by, home, pub)
    meta = yaml.safe_load(f.read_text())["sops"]
    assert meta["age"][0]["recipient"] == pub
    env = {"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(key_path)}
    _decrypts("sopsy", home, f, env)
    _decrypts("sops", home, f, env)
    # without the key neither tool can open it (nothing else in the environment does)
    _refused("sopsy", home, f, {})


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_ssh_default_locations(kind: str, home: Path, ssh_keys: dict[str, tuple[Path, str]]) -> None:
    """~/.ssh/id_ed25519 and ~/.ssh/id_rsa are read when no SSH key file is named (as sops does)."""
    key_path, pub = ssh_keys[kind]
    f = _encrypt("sopsy", home, pub)
    (home / ".ssh").mkdir()
    shutil.copy(key_path, home / ".ssh" / f"id_{kind}")
    (home / ".ssh" / f"id_{kind}").chmod(0o600)
    _decrypts("sopsy", home, f, {})
    _decrypts("sops", home, f, {})


def test_ssh_and_x25519_recipients_each_open_the_file(home: Path, ssh_keys: dict[str, tuple[Path, str]]) -> None:
    key_path, pub = ssh_keys["ed25519"]
    f = _encrypt("sopsy", home, f"{RECIPIENT},{pub}")
    for env in ({"SOPS_AGE_KEY_FILE": str(AGE_KEY)}, {"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(key_path)}):
        _decrypts("sopsy", home, f, env)
        _decrypts("sops", home, f, env)
    _refused("sopsy", home, f, {"SOPS_AGE_KEY_FILE": str(AGE_KEY2)})


def test_xdg_config_home_replaces_dot_config(home: Path, x25519_files: dict[str, Path]) -> None:
    """With XDG_CONFIG_HOME set, ~/.config/sops/age/keys.txt is not the default file (Go's
    os.UserConfigDir, which sops uses): the same answer from both tools."""
    _source_env("default keys.txt", home)
    (home / "xdg").mkdir()
    for tool in ("sopsy", "sops"):
        _refused(tool, home, x25519_files["sopsy"], {"XDG_CONFIG_HOME": str(home / "xdg")})


def test_a_failing_source_does_not_hide_a_working_one(home: Path, ssh_keys: dict[str, tuple[Path, str]]) -> None:
    """A missing SOPS_AGE_KEY_FILE or a failing SOPS_AGE_KEY_CMD next to the SSH key that opens
    the file: sops collects the error and decrypts with the SSH key; so does sopsy."""
    key_path, pub = ssh_keys["ed25519"]
    for made_by in ("sops", "sopsy"):
        f = _encrypt(made_by, home, pub, name=f"{made_by}-ssh.yaml")
        for broken in ({"SOPS_AGE_KEY_FILE": str(home / "missing.txt")}, {"SOPS_AGE_KEY_CMD": "exit 3"}):
            env = {**broken, "SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(key_path)}
            _decrypts("sops", home, f, env)
            _decrypts("sopsy", home, f, env)
            _refused("sops", home, f, broken)
            _refused("sopsy", home, f, broken)

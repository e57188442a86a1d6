"""Key types beyond age through key services: AWS KMS (against moto) with the real sops on either
side, and PKCS#11 (SoftHSM2) through sopsy's own client and server (sops's protocol has no
PKCS#11 key; sopsy's extension carries it). Only the server process has the credentials."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import sops_binary
from support import keyservice as ks
from support import softhsm
from support.moto_server import create_key, moto_server, sops_env

from sopsy import commands, datakey, settings
from sopsy.errors import KeyRetrievalError, KeyUnavailable
from sopsy.keys import KeySpec
from sopsy.metadata import KeyEntry, Metadata

PLAIN = "db:\n    password: hunter2\nport: 5432\n"
ROLE = "arn:aws:iam::123456789012:role/sopsy-test"


def use_services(monkeypatch: pytest.MonkeyPatch, uris: list[str], local: bool = False) -> None:
    monkeypatch.setattr(settings.SETTINGS, "keyservices", uris)
    monkeypatch.setattr(settings.SETTINGS, "local_keyservice", local)


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def no_aws_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process has no AWS credentials or endpoint: only the key service can reach KMS."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _no_aws_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in ks.clean_env(home).items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(home / "none"), AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


def test_sopsy_kms_with_role_and_context_through_sops_keyservice(moto: str, tmp_path: Path, no_aws_here: None,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    arn = create_key(moto, "eu-west-1")
    addr = f"127.0.0.1:{ks.free_port()}"
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    out = tmp_path / "e.yaml"
    with ks.running([sops_binary(), "keyservice", "--address", addr], sops_env(moto), "tcp", addr):
        use_services(monkeypatch, [f"tcp://{addr}"])
        commands.encrypt(str(src), commands.KeyOptions({"kms": [f"{arn}+{ROLE}"]}, encryption_context="app:sopsy,env:t"),
                         output=str(out))
        (entry,) = yaml.safe_load(out.read_text())["sops"]["kms"]
        assert list(entry) == ["arn", "role", "context", "created_at", "enc", "aws_profile"]
        assert (entry["arn"], entry["role"], entry["context"]) == (arn, ROLE, {"app": "sopsy", "env": "t"})
        commands.decrypt(str(out))  # back through the sops key service (role and context sent)
        assert capsys.readouterr().out == PLAIN
    proc = subprocess.run([sops_binary(), "decrypt", str(out)], capture_output=True, text=True, env=sops_env(moto),
                          check=False)
    assert proc.returncode == 0, proc.stderr  # and sops, on its own with KMS, reads what sopsy wrote
    assert proc.stdout == PLAIN


def test_sops_kms_with_context_through_sopsy_keyservice(moto: str, tmp_path: Path) -> None:
    arn = create_key(moto, "us-east-1")
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    made = subprocess.run([sops_binary(), "encrypt", "--kms", arn, "--encryption-context", "team:ops", str(src)],
                          capture_output=True, env=sops_env(moto), check=False)
    assert made.returncode == 0, made.stderr
    enc = tmp_path / "e.yaml"
    enc.write_bytes(made.stdout)
    addr = f"127.0.0.1:{ks.free_port()}"
    server_env = {**sops_env(moto), "HOME": str(tmp_path)}
    client_env = _no_aws_env(tmp_path)
    with ks.running(ks.sopsy_server_argv("tcp", addr), server_env, "tcp", addr):
        args = [sops_binary(), "decrypt", "--keyservice", f"tcp://{addr}", "--enable-local-keyservice=false"]
        proc = subprocess.run([*args, str(enc)], capture_output=True, text=True, env=client_env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == PLAIN


# -- PKCS#11 through sopsy's own client and server ------------------------------------------------

PIN = "4321-ks"
TOKEN = "sopsy-ks"


@pytest.fixture(scope="module")
def hsm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A SoftHSM token with an RSA and an AES key, served by a `sopsy keyservice` child process
    that alone knows the module and the PIN."""
    missing = softhsm.missing_reason()
    if missing is not None:
        pytest.skip(f"SoftHSM2 unavailable: {missing}")
    root = tmp_path_factory.mktemp("ks-hsm")
    h = softhsm.start(root)
    h.init_token(TOKEN, PIN)
    secrets = h.make_keys(TOKEN, [{"kind": "rsa-import", "label": "rsa"}, {"kind": "aes-import", "label": "aes"}])
    addr = str(root / "ks.sock")
    env = ks.clean_env(root, SOFTHSM2_CONF=str(h.conf), SOPSY_PKCS11_MODULE=h.module, SOPSY_PKCS11_PIN=PIN)
    with ks.running(ks.sopsy_server_argv("unix", addr), env, "unix", addr):
        yield {"uri": f"unix://{addr}", "secrets": secrets, "conf": str(h.conf)}


@pytest.fixture
def no_pkcs11_here(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOPSY_PKCS11_MODULE", "SOPSY_PKCS11_PIN", "SOFTHSM2_CONF"):
        monkeypatch.delenv(name, raising=False)


def _payload_from_secret(entry: KeyEntry, secret: str) -> bytes:
    """Unwrap with the key material itself (not the token), so the server's work is checked
    independently of sopsy's provider."""
    blob = base64.b64decode(entry.enc)
    if entry.fields["mechanism"] == "aes-gcm":
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(bytes.fromhex(secret)).decrypt(blob[:12], blob[12:], b"sopsy-pkcs11")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key: Any = serialization.load_pem_private_key(secret.encode(), None)
    return bytes(key.decrypt(blob, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                label=None)))


@pytest.mark.parametrize(("label", "mechanism"), [("rsa", "rsa-oaep-sha256"), ("aes", "aes-gcm")])
def test_pkcs11_wrap_and_unwrap_through_sopsy_keyservice(hsm_server: dict[str, Any], label: str, mechanism: str,
                                                         no_pkcs11_here: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # a module-path the server must ignore: loading it would fail (it is not a library)
    spec = KeySpec("pkcs11", f"pkcs11:token={TOKEN};object={label}?module-path={hsm_server['conf']}")
    payload = os.urandom(32)
    use_services(monkeypatch, [hsm_server["uri"]])
    entry = datakey.wrap_key(spec, payload)
    assert list(entry.fields) == ["uri", "mechanism", "created_at", "enc"]
    assert entry.fields["uri"] == spec.id and entry.fields["mechanism"] == mechanism  # the server's choice
    assert _payload_from_secret(entry, hsm_server["secrets"][label]) == payload
    meta = Metadata([[entry]])
    assert datakey.recover(meta) == payload
    use_services(monkeypatch, [], local=True)  # control: this process cannot use the token itself
    with pytest.raises(KeyRetrievalError, match="PKCS#11 module"):
        datakey.recover(meta)


def test_pkcs11_wrong_key_reports_the_server_reason(hsm_server: dict[str, Any], no_pkcs11_here: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    use_services(monkeypatch, [hsm_server["uri"]])
    entry = datakey.wrap_key(KeySpec("pkcs11", f"pkcs11:token={TOKEN};object=aes"), os.urandom(32))
    entry.fields["uri"] = f"pkcs11:token={TOKEN};object=missing"
    with pytest.raises(KeyUnavailable, match=f"{hsm_server['uri']}: no AES key matches object=missing"):
        datakey.unwrap_entry(entry)

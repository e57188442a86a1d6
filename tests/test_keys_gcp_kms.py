"""GCP KMS keys against a fake KeyManagementService (real AES-GCM, real protobuf, real gRPC on
loopback) with the real google-cloud-kms client, and interop with the real sops binary."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from support.fake_gcp_kms import ConnectProxy, FakeKms, make_tls_certs
from support.kms_sops_files import decrypt_value, sops_json

from sopsy import datakey
from sopsy.errors import KeyUnavailable, SopsyError, UsageError
from sopsy.keys import KeySpec, gcp_kms
from sopsy.keys.gcp_kms import GcpKmsProvider, parse_gcp_arg
from sopsy.metadata import KeyEntry, Metadata

SOPS = str(Path(sys.executable).with_name("sops"))
KEY_A = "projects/sopsy/locations/global/keyRings/ring/cryptoKeys/a"
KEY_B = "projects/sopsy/locations/europe-west1/keyRings/ring/cryptoKeys/b"
GOOGLE_HOST = "cloudkms.googleapis.com"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ca, cert, key = make_tls_certs([GOOGLE_HOST])
    d = tmp_path_factory.mktemp("tls")
    (d / "ca.pem").write_bytes(ca)
    return {"ca": str(d / "ca.pem"), "cert": cert, "key": key}


@pytest.fixture(scope="module")
def server(tls_files: dict[str, Any]) -> Iterator[FakeKms]:
    with FakeKms([KEY_A, KEY_B], tls=(tls_files["cert"], tls_files["key"])) as srv:
        yield srv


@pytest.fixture
def proxy(server: FakeKms) -> Iterator[ConnectProxy]:
    p = ConnectProxy(server.tls_port)
    yield p
    p.close()


@pytest.fixture
def gcp(server: FakeKms, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeKms:
    """The provider aimed at the fake over loopback; no user Google credentials are read."""
    for name in ("GOOGLE_CREDENTIALS", "GOOGLE_OAUTH_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
                 "GOOGLE_CLOUD_UNIVERSE_DOMAIN", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud ADC file
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv(gcp_kms.ENDPOINT_ENV, server.endpoint)
    server.calls.clear()
    return server


def _service_account() -> tuple[dict[str, str], rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    info = {"type": "service_account", "project_id": "sopsy", "private_key_id": "k1", "private_key": pem,
            "client_email": "sopsy@sopsy.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "http://127.0.0.1:9/token"}  # never reachable: a token fetch would fail the test
    return info, key.public_key()


def _check_jwt(authorization: str, public_key: rsa.RSAPublicKey, issuer: str) -> None:
    """The bearer token is a JWT signed by the service account's own key (a self-signed JWT)."""
    assert authorization.startswith("Bearer ")
    header, payload, sig = authorization.removeprefix("Bearer ").split(".")
    unb64 = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))  # noqa: E731
    public_key.verify(unb64(sig), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert json.loads(unb64(payload))["iss"] == issuer


# -- argument parsing ------------------------------------------------------------------------


def test_parse_gcp_arg() -> None:
    specs = parse_gcp_arg(f"{KEY_A}, {KEY_B} ,")
    assert [(s.type, s.id) for s in specs] == [("gcp_kms", KEY_A), ("gcp_kms", KEY_B)]
    assert parse_gcp_arg("") == []
    for bad in ["projects/p/locations/l/keyRings/r", f"{KEY_A}/cryptoKeyVersions/1", "cryptoKeys/a",
                "projects//locations/l/keyRings/r/cryptoKeys/k"]:
        with pytest.raises(UsageError):
            parse_gcp_arg(bad)


def test_spec_of() -> None:
    entry = KeyEntry("gcp_kms", {"resource_id": KEY_A, "created_at": "2024-01-01T00:00:00Z", "enc": "eA=="})
    assert GcpKmsProvider().spec_of(entry) == KeySpec("gcp_kms", KEY_A)


# -- against the fake server -----------------------------------------------------------------


def test_wrap_unwrap(gcp: FakeKms) -> None:
    key = os.urandom(32)
    entry = GcpKmsProvider().wrap(KeySpec("gcp_kms", KEY_A), key)
    assert list(entry.fields) == ["resource_id", "created_at", "enc"]
    Metadata.from_dict({"gcp_kms": [entry.fields], "lastmodified": entry.fields["created_at"], "version": "3.11.0"})
    assert GcpKmsProvider().unwrap(entry) == key
    assert [(c.method, c.name) for c in gcp.calls] == [("Encrypt", KEY_A), ("Decrypt", KEY_A)]
    assert "authorization" not in gcp.calls[0].metadata  # no credentials anywhere: anonymous, like an emulator


def test_wrong_key_and_bad_ciphertext(gcp: FakeKms) -> None:
    key = os.urandom(33)
    entry = GcpKmsProvider().wrap(KeySpec("gcp_kms", KEY_A), key)
    missing = KEY_A.replace("cryptoKeys/a", "cryptoKeys/nope")
    with pytest.raises(KeyUnavailable, match="NOT_FOUND") as info:
        GcpKmsProvider().unwrap(KeyEntry("gcp_kms", {**entry.fields, "resource_id": missing}))
    assert key.hex() not in str(info.value)
    with pytest.raises(KeyUnavailable, match="INVALID_ARGUMENT"):
        GcpKmsProvider().unwrap(KeyEntry("gcp_kms", {**entry.fields, "resource_id": KEY_B}))
    with pytest.raises(KeyUnavailable, match="base64"):
        GcpKmsProvider().unwrap(KeyEntry("gcp_kms", {**entry.fields, "enc": "%%%"}))
    with pytest.raises(KeyUnavailable, match="resource id"):
        GcpKmsProvider().unwrap(KeyEntry("gcp_kms", {**entry.fields, "resource_id": "keys/a"}))
    with pytest.raises(SopsyError, match="could not encrypt the data key"):
        GcpKmsProvider().wrap(KeySpec("gcp_kms", missing), key)


def test_access_token_is_sent(gcp: FakeKms, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.sopsy-test-token")
    GcpKmsProvider().wrap(KeySpec("gcp_kms", KEY_B), b"t" * 32)
    assert gcp.calls[-1].metadata["authorization"] == "Bearer ya29.sopsy-test-token"


@pytest.mark.parametrize("as_path", [True, False])
def test_google_credentials_service_account(gcp: FakeKms, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            as_path: bool) -> None:
    info, public_key = _service_account()
    if as_path:
        (tmp_path / "sa.json").write_text(json.dumps(info))
        monkeypatch.setenv("GOOGLE_CREDENTIALS", str(tmp_path / "sa.json"))
    else:
        monkeypatch.setenv("GOOGLE_CREDENTIALS", json.dumps(info))
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ignored: GOOGLE_CREDENTIALS comes first")
    entry = GcpKmsProvider().wrap(KeySpec("gcp_kms", KEY_A), b"s" * 32)
    assert GcpKmsProvider().unwrap(entry) == b"s" * 32
    for call in gcp.calls:
        _check_jwt(call.metadata["authorization"], public_key, info["client_email"])


def test_bad_google_credentials(gcp: FakeKms, monkeypatch: pytest.MonkeyPatch) -> None:
    info, _ = _service_account()
    del info["client_email"]
    monkeypatch.setenv("GOOGLE_CREDENTIALS", json.dumps(info))
    with pytest.raises(KeyUnavailable, match="GOOGLE_CREDENTIALS") as exc:
        GcpKmsProvider().unwrap(KeyEntry("gcp_kms", {"resource_id": KEY_A, "enc": "eA=="}))
    assert "PRIVATE KEY" not in str(exc.value)
    monkeypatch.setenv("GOOGLE_CREDENTIALS", "{not json")
    with pytest.raises(KeyUnavailable, match="GOOGLE_CREDENTIALS"):
        GcpKmsProvider().unwrap(KeyEntry("gcp_kms", {"resource_id": KEY_A, "enc": "eA=="}))


def test_no_credentials_for_a_real_endpoint(gcp: FakeKms, tmp_path: Path) -> None:
    # a subprocess: google-auth reads NO_GCE_CHECK at import (no metadata-server probing here)
    env = {k: v for k, v in os.environ.items() if k != gcp_kms.ENDPOINT_ENV}
    env["NO_GCE_CHECK"] = "true"
    code = ("from sopsy.keys.gcp_kms import PROVIDER\nfrom sopsy.metadata import KeyEntry\n"
            "from sopsy.errors import KeyUnavailable\n"
            f"try:\n    PROVIDER.unwrap(KeyEntry('gcp_kms', {{'resource_id': {KEY_A!r}, 'enc': 'eA=='}}))\n"
            "except KeyUnavailable as exc:\n    print(exc)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.stdout.startswith("no Google credentials found"), proc.stderr[-2000:]


def test_default_endpoint_over_tls(gcp: FakeKms, proxy: ConnectProxy, tls_files: dict[str, Any]) -> None:
    """No endpoint override: the client dials cloudkms.googleapis.com:443 with TLS (here through a
    loopback CONNECT proxy to the fake, trusting the test CA), with the credentials attached."""
    env = {k: v for k, v in os.environ.items() if k != gcp_kms.ENDPOINT_ENV}
    env.update(https_proxy=proxy.url, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=tls_files["ca"],
               GOOGLE_OAUTH_ACCESS_TOKEN="tls-token")
    code = ("import sys\nfrom sopsy.keys.gcp_kms import PROVIDER\nfrom sopsy.keys import KeySpec\n"
            f"e = PROVIDER.wrap(KeySpec('gcp_kms', {KEY_A!r}), b'z' * 32)\n"
            "assert PROVIDER.unwrap(e) == b'z' * 32\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
    assert proxy.requests and all(r.startswith(f"CONNECT {GOOGLE_HOST}:443 ") for r in proxy.requests)
    assert [c.metadata.get("authorization") for c in gcp.calls] == ["Bearer tls-token"] * 2


def test_one_kms_call_per_key_not_per_value(gcp: FakeKms) -> None:
    key = datakey.new_data_key()
    groups, _ = datakey.wrap(key, [[KeySpec("gcp_kms", KEY_A), KeySpec("gcp_kms", KEY_B)]])
    assert len(gcp.calls) == 2
    text = sops_json({f"k{i}": [f"value {i}", i] for i in range(50)}, key, groups[0])
    gcp.calls.clear()
    assert datakey.recover(Metadata.from_dict(json.loads(text)["sops"])) == key
    assert len(gcp.calls) == 1


def test_sdk_not_imported_until_used() -> None:
    code = ("import sys, sopsy.keys, sopsy.core, sopsy.datakey, sopsy.keys.gcp_kms\n"
            "from sopsy.keys import provider\nprovider('gcp_kms')\n"
            "print(sorted(m for m in sys.modules if m.startswith(('google', 'grpc'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- interop with the real sops binary -------------------------------------------------------
# sops has no endpoint setting for GCP KMS, but its Go gRPC client honours HTTPS_PROXY and Go
# honours SSL_CERT_FILE: a loopback CONNECT proxy and a test CA lead it to the fake server.


def _sops_env(proxy: ConnectProxy, tls_files: dict[str, Any]) -> dict[str, str]:
    info, _ = _service_account()  # a self-signed JWT: sops never fetches a token
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOOGLE_", "AWS_")) and k.lower() not in ("https_proxy", "http_proxy", "no_proxy")}
    env.update(SOPS_DISABLE_VERSION_CHECK="1", HTTPS_PROXY=proxy.url, SSL_CERT_FILE=tls_files["ca"],
               GOOGLE_CREDENTIALS=json.dumps(info))
    return env


def test_sops_encrypts_sopsy_decrypts(gcp: FakeKms, proxy: ConnectProxy, tls_files: dict[str, Any],
                                      tmp_path: Path) -> None:
    src = tmp_path / "plain.yaml"
    src.write_text("api:\n    token: s3cr3t\n")
    proc = subprocess.run([SOPS, "encrypt", "--gcp-kms", KEY_B, str(src)], env=_sops_env(proxy, tls_files),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [c.method for c in gcp.calls] == ["Encrypt"]  # sops really went through the fake
    doc = yaml.safe_load(proc.stdout)
    fields = doc["sops"]["gcp_kms"][0]
    assert list(fields) == ["resource_id", "created_at", "enc"]
    data_key = gcp_kms.PROVIDER.unwrap(KeyEntry("gcp_kms", fields))
    assert decrypt_value(doc["api"]["token"], data_key, ("api", "token")) == b"s3cr3t"


def test_sopsy_encrypts_sops_decrypts(gcp: FakeKms, proxy: ConnectProxy, tls_files: dict[str, Any],
                                      tmp_path: Path) -> None:
    key = datakey.new_data_key()
    entry = gcp_kms.PROVIDER.wrap(KeySpec("gcp_kms", KEY_A), key)
    data = {"api": {"token": "s3cr3t", "retries": 3}, "enabled": True}
    path = tmp_path / "secret.json"
    path.write_text(sops_json(data, key, [entry]))
    proc = subprocess.run([SOPS, "decrypt", str(path)], env=_sops_env(proxy, tls_files),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == data
    assert [c.method for c in gcp.calls] == ["Encrypt", "Decrypt"]


def test_whole_file_through_core_both_ways(gcp: FakeKms, proxy: ConnectProxy, tls_files: dict[str, Any],
                                           tmp_path: Path) -> None:
    """sopsy's core + JSON store with a GCP key ↔ sops, on one whole file."""
    from sopsy import core
    from sopsy.stores import get_store

    text = '{\n    "api": {"token": "s3cr3t"},\n    "enabled": true\n}\n'
    enc = core.encrypt_text(get_store("json"), text, core.EncryptOptions(key_groups=[parse_gcp_arg(KEY_B)]))
    path = tmp_path / "ours.json"
    path.write_text(enc)
    env = _sops_env(proxy, tls_files)
    proc = subprocess.run([SOPS, "decrypt", str(path)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == json.loads(text)
    src = tmp_path / "plain.json"
    src.write_text(text)
    proc = subprocess.run([SOPS, "encrypt", "--gcp-kms", KEY_A, str(src)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(core.decrypt_text(get_store("json"), proc.stdout).plaintext()) == json.loads(text)

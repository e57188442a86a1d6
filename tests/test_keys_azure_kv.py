"""Azure Key Vault keys against loopback doubles of Key Vault (HTTPS, test CA, real RSA-OAEP-256)
and of the App Service managed-identity token endpoint, with the real Azure SDK and credential
chain, and interop both ways with the real sops binary pointed at the same doubles.

Both SDKs insist on https and on a vault host under the challenge resource's domain, so the vault is
``https://sopsy.vault.azure.net``, reached through a loopback CONNECT proxy (HTTPS_PROXY) that sends
every tunnel to the double; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import AGE_KEYS_BOTH, RECIPIENT, VECTORS
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from support.fake_azure_kv import FakeKeyVault, FakeManagedIdentity, unb64url
from support.kms_sops_files import decrypt_value, sops_json
from support.tls import ConnectProxy, make_tls_certs

from sopsy import core, datakey
from sopsy.errors import KeyUnavailable, SopsyError, UsageError
from sopsy.keys import KeySpec
from sopsy.keys.azure_kv import PROVIDER, AzureKey, parse_arg, parse_url, parse_urls
from sopsy.metadata import KeyEntry, Metadata
from sopsy.stores import get_store

SOPS = str(Path(sys.executable).with_name("sops"))
VAULT = "https://sopsy.vault.azure.net"
OAEP256 = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class Doubles:
    def __init__(self, ca: str, kv: FakeKeyVault, mi: FakeManagedIdentity, proxy: ConnectProxy) -> None:
        self.ca, self.kv, self.mi, self.proxy = ca, kv, mi, proxy
        self.version = kv.create_key("sops-key")

    def url(self, name: str = "sops-key", version: str | None = None) -> str:
        return f"{VAULT}/keys/{name}/{self.version if version is None else version}"

    def env(self) -> dict[str, str]:
        """What points a client at the doubles; no user settings, no other credential sources."""
        return {"HTTPS_PROXY": self.proxy.url, "NO_PROXY": "127.0.0.1,localhost", "REQUESTS_CA_BUNDLE": self.ca,
                "SSL_CERT_FILE": self.ca, "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9",
                **self.mi.env()}


@pytest.fixture(scope="module")
def doubles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Doubles]:
    ca, cert, key = make_tls_certs(["*.vault.azure.net"])
    ca_path = tmp_path_factory.mktemp("azure-tls") / "ca.pem"
    ca_path.write_bytes(ca)
    mi = FakeManagedIdentity().start()
    kv = FakeKeyVault(tls=(cert, key), tokens={mi.token}).start()
    proxy = ConnectProxy(kv.port)
    yield Doubles(str(ca_path), kv, mi, proxy)
    proxy.close()
    kv.stop()
    mi.stop()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "AWS_", "GOOGLE_"))
            and k.lower() not in ("https_proxy", "http_proxy", "no_proxy", "requests_ca_bundle", "ssl_cert_file")}


@pytest.fixture
def azure(doubles: Doubles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Doubles:
    for name in list(os.environ):
        if name not in _clean_env():
            monkeypatch.delenv(name)
    for name, value in doubles.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.azure logins
    doubles.kv.requests.clear()
    doubles.mi.requests.clear()
    return doubles


def _sops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOPS, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def _sops_env(d: Doubles, home: Path) -> dict[str, str]:
    return {**_clean_env(), **d.env(), "SOPS_DISABLE_VERSION_CHECK": "1", "HOME": str(home)}


# -- URL parsing, as sops reads --azure-kv ------------------------------------------------------


def test_parse_url() -> None:
    v = "a2a690a4fcc04166b739da342a912c90"
    assert parse_url(f"https://test.vault.azure.net/keys/test-key/{v}") == AzureKey(
        "https://test.vault.azure.net", "test-key", v)
    assert parse_url(" https://test.vault.azure.net/keys/test-key ") == AzureKey(
        "https://test.vault.azure.net", "test-key", "")
    assert parse_url("https://test.vault.azure.net/keys/test-key/").version == ""
    for bad in [f"https://test.vault.azure.net/no-keys-here/test-key/{v}", f"http://test.vault.azure.net/keys/k/{v}",
                f"https://test.vault.azure.net/keys/k/{v}/extra", "test.vault.azure.net/keys/k"]:
        with pytest.raises(UsageError, match="Azure Key Vault key URL"):
            parse_url(bad)


def test_parse_arg_and_spec_of_agree() -> None:
    a, b = "https://a.vault.azure.net/keys/k/1", "https://b.vault.azure.net/keys/k"
    specs = parse_urls(f" {a} , {b},")
    assert [(s.type, s.id) for s in specs] == [("azure_kv", a), ("azure_kv", b)]
    entry = KeyEntry("azure_kv", {"vault_url": "https://a.vault.azure.net", "name": "k", "version": "1",
                                  "created_at": "2024-01-01T00:00:00Z", "enc": "eA"})
    assert PROVIDER.spec_of(entry) == specs[0]  # so --rm-azure-kv finds the entry


# -- against the doubles ------------------------------------------------------------------------


def test_wrap_unwrap(azure: Doubles) -> None:
    key = os.urandom(32)
    entry = PROVIDER.wrap(parse_arg(azure.url())[0], key)
    assert list(entry.fields) == ["vault_url", "name", "version", "created_at", "enc"]
    assert (entry.fields["vault_url"], entry.fields["name"], entry.fields["version"]) == (VAULT, "sops-key",
                                                                                          azure.version)
    Metadata.from_dict({"azure_kv": [entry.fields], "lastmodified": entry.fields["created_at"], "version": "3.11.0"})
    assert re.fullmatch(r"[A-Za-z0-9_-]+", entry.enc)  # base64url without padding
    # the vault's own private key opens it with RSA-OAEP-256
    assert azure.kv.keys["sops-key"][azure.version].decrypt(unb64url(entry.enc), OAEP256) == key
    assert PROVIDER.unwrap(entry) == key
    assert azure.kv.requests[-1].path == f"/keys/sops-key/{azure.version}/decrypt"
    assert azure.kv.requests[-1].body["alg"] == "RSA-OAEP-256"
    assert azure.kv.requests[-1].headers["authorization"] == f"Bearer {azure.mi.token}"
    assert all(r.headers.get("x-identity-header") == azure.mi.header for r in azure.mi.requests)


def test_versionless_url_uses_the_latest_version(azure: Doubles) -> None:
    newer = azure.kv.create_key("rotated")
    newest = azure.kv.create_key("rotated")
    assert newer != newest
    spec = parse_urls(f"{VAULT}/keys/rotated")[0]
    entry = PROVIDER.wrap(spec, b"v" * 33)
    assert entry.fields["version"] == newest
    assert PROVIDER.unwrap(entry) == b"v" * 33
    # the flag's parser looks the version up, as sops does, so --rm-azure-kv URL finds the entry
    assert parse_arg(f"{VAULT}/keys/rotated")[0] == PROVIDER.spec_of(entry)
    assert parse_arg(f"{VAULT}/keys/rotated")[0].id == f"{VAULT}/keys/rotated/{newest}"


def test_creation_rule_forms(azure: Doubles) -> None:
    """config.py passes a flat rule's URL as the id, a key group's fields as options."""
    flat = PROVIDER.wrap(KeySpec("azure_kv", azure.url()), b"f" * 32)
    grouped = PROVIDER.wrap(KeySpec("azure_kv", "ignored", {"vault_url": VAULT + "/", "name": "sops-key",
                                                            "version": ""}), b"g" * 32)
    assert flat.fields["version"] == grouped.fields["version"] == azure.version
    assert grouped.fields["vault_url"] == VAULT + "/"  # kept as written, as sops keeps it
    assert PROVIDER.unwrap(grouped) == b"g" * 32


def test_errors_are_one_line(azure: Doubles) -> None:
    key = os.urandom(32)
    entry = PROVIDER.wrap(parse_arg(azure.url())[0], key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{s.getsockname()[1]}"
    cases = [
        ({"name": "missing"}, "HTTP 404 KeyNotFound: A key with"),
        ({"version": "0" * 32}, "HTTP 404 KeyNotFound"),
        ({"enc": entry.enc[:-6] + "AAAAAA"}, "HTTP 400 BadParameter: Error while decrypting"),
        ({"enc": "not base64!"}, "not valid base64url"),
        ({"enc": ""}, "the enc field is empty"),
        ({"vault_url": dead}, "cannot connect: .*Connection refused"),
    ]
    for change, message in cases:
        with pytest.raises(KeyUnavailable, match=message) as info:
            PROVIDER.unwrap(KeyEntry("azure_kv", {**entry.fields, **change}))
        assert "\n" not in str(info.value) and key.hex() not in str(info.value)
    with pytest.raises(SopsyError, match=f"could not encrypt the data key with {VAULT}/keys/missing: .*KeyNotFound"):
        PROVIDER.wrap(parse_urls(f"{VAULT}/keys/missing")[0], key)
    with pytest.raises(SopsyError, match=f"could not look up the latest version of {VAULT}/keys/missing: "):
        parse_arg(f"{VAULT}/keys/missing")


def test_credential_failures(azure: Doubles, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = PROVIDER.wrap(parse_arg(azure.url())[0], b"c" * 32)
    monkeypatch.setenv("IDENTITY_HEADER", "wrong-secret-header")
    with pytest.raises(KeyUnavailable, match=r"Azure authentication failed: ManagedIdentityCredential: ") as info:
        PROVIDER.unwrap(entry)
    assert "\n" not in str(info.value) and "wrong-secret-header" not in str(info.value)
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "EnvironmentCredential")  # nothing else may be probed here
    with pytest.raises(KeyUnavailable, match=r"Azure authentication failed: no Azure credentials found \(tried: "
                                              r"EnvironmentCredential; set AZURE_TENANT_ID"):
        PROVIDER.unwrap(entry)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "no-such-credential")
    with pytest.raises(KeyUnavailable, match="cannot set up Azure credentials: Invalid value for AZURE_TOKEN_CREDENTIALS"):
        PROVIDER.unwrap(entry)


def test_a_token_the_vault_refuses(azure: Doubles) -> None:
    entry = PROVIDER.wrap(parse_arg(azure.url())[0], b"r" * 32)
    azure.kv.tokens.clear()
    try:
        with pytest.raises(KeyUnavailable, match="HTTP 401 Unauthorized"):
            PROVIDER.unwrap(entry)
    finally:
        azure.kv.tokens.add(azure.mi.token)


def test_shamir_groups(azure: Doubles) -> None:
    key = datakey.new_data_key()
    groups, threshold = datakey.wrap(key, [parse_arg(azure.url()), parse_urls(f"{VAULT}/keys/sops-key")])
    meta = Metadata(key_groups=groups, shamir_threshold=threshold, lastmodified="2024-01-01T00:00:00Z")
    assert datakey.recover(meta) == key


def test_sdk_not_imported_until_used() -> None:
    code = ("import sys, sopsy.keys, sopsy.core, sopsy.datakey\nfrom sopsy.keys import provider\n"
            "provider('azure_kv'); provider('hc_vault')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('azure', 'msal', 'requests', 'urllib3', "
            "'hvac')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["enc.yaml", "enc.json"])
def test_decrypting_an_age_file_imports_no_cloud_client(name: str) -> None:
    """The whole CLI run, as -X importtime sees it: no Azure, Vault or HTTP client module at all."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sopsy", "decrypt", str(VECTORS / name)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "sopsy.core" in modules or "sopsy.entry" in modules  # the trace is really there
    heavy = sorted(m for m in modules if m.split(".")[0] in ("azure", "msal", "requests", "urllib3", "hvac", "boto3",
                                                             "google", "grpc")
                   or m in ("urllib.request", "http.client", "sopsy.keys.hc_vault", "sopsy.keys.azure_kv"))
    assert heavy == []


# -- interop with the real sops binary --------------------------------------------------------


@pytest.mark.parametrize("versioned", [True, False])
def test_sops_encrypts_sopsy_decrypts(azure: Doubles, tmp_path: Path, versioned: bool) -> None:
    src = tmp_path / "plain.yaml"
    src.write_text("api:\n    token: s3cr3t\n")
    url = azure.url() if versioned else f"{VAULT}/keys/sops-key"
    proc = _sops("encrypt", "--azure-kv", url, str(src), env=_sops_env(azure, tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r.path.rsplit("/", 1)[-1] for r in azure.kv.requests if r.headers.get("authorization")][-1] == "encrypt"
    assert any("azsdk-go" in r.headers.get("user-agent", "") for r in azure.mi.requests)  # sops's own token
    doc = yaml.safe_load(proc.stdout)
    fields = doc["sops"]["azure_kv"][0]
    assert list(fields) == ["vault_url", "name", "version", "created_at", "enc"]
    assert fields["version"] == azure.version
    data_key = PROVIDER.unwrap(KeyEntry("azure_kv", fields))
    assert decrypt_value(doc["api"]["token"], data_key, ("api", "token")) == b"s3cr3t"


def test_sopsy_encrypts_sops_decrypts(azure: Doubles, tmp_path: Path) -> None:
    key = datakey.new_data_key()
    entry = PROVIDER.wrap(parse_arg(azure.url())[0], key)
    data = {"api": {"token": "s3cr3t", "retries": 3}, "enabled": True}
    path = tmp_path / "secret.json"
    path.write_text(sops_json(data, key, [entry]))
    azure.kv.requests.clear()
    proc = _sops("decrypt", str(path), env=_sops_env(azure, tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == data
    assert azure.kv.requests[-1].path == f"/keys/sops-key/{azure.version}/decrypt"


def test_whole_file_through_core_both_ways(azure: Doubles, tmp_path: Path) -> None:
    text = "db:\n    password: hunter2\nport: 5432\n"
    specs: list[Any] = [parse_arg(azure.url())[0], KeySpec("age", RECIPIENT)]
    enc = core.encrypt_text(get_store("yaml"), text, core.EncryptOptions(key_groups=[specs]))
    path = tmp_path / "ours.yaml"
    path.write_text(enc)
    env = {**_sops_env(azure, tmp_path), "SOPS_AGE_KEY_FILE": str(tmp_path / "none.txt")}  # Azure only
    proc = _sops("decrypt", str(path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == text
    src = tmp_path / "plain.yaml"
    src.write_text(text)
    proc = _sops("encrypt", "--azure-kv", azure.url(), str(src), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert core.decrypt_text(get_store("yaml"), proc.stdout).plaintext() == text


def test_missing_sdk_is_a_one_line_hint() -> None:
    code = ("import sys\nsys.modules['azure.identity'] = None\n"
            "from sopsy.keys import provider\nfrom sopsy.metadata import KeyEntry\nfrom sopsy.errors import SopsyError\n"
            "try:\n    provider('azure_kv').unwrap(KeyEntry('azure_kv', {'vault_url': 'https://v.vault.azure.net', "
            "'name': 'k', 'version': '1', 'enc': 'eA'}))\nexcept SopsyError as exc:\n    print(exc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("azure_kv keys need an optional dependency: pip install 'sopsy[azure]'")


# -- through the command line -----------------------------------------------------------------


def _sopsy(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sopsy", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False, cwd=cwd)


def test_cli_flags_env_and_rotate(azure: Doubles, tmp_path: Path) -> None:
    env = {**_sops_env(azure, tmp_path), "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}
    f = tmp_path / "s.yaml"
    f.write_text("password: hunter2\n")
    r = _sopsy("encrypt", "-i", "--azure-kv", f"{VAULT}/keys/sops-key", "--age", RECIPIENT, str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(f.read_text())["sops"]["azure_kv"][0]["version"] == azure.version  # looked up
    no_age = {**env, "SOPS_AGE_KEY_FILE": str(tmp_path / "none.txt")}
    assert _sops("decrypt", str(f), env=no_age).stdout == "password: hunter2\n"  # through Azure
    r = _sopsy("rotate", "-i", "--rm-azure-kv", f"{VAULT}/keys/sops-key", str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert "azure_kv" not in yaml.safe_load(f.read_text())["sops"]
    g = tmp_path / "t.yaml"
    g.write_text("k: v\n")
    r = _sopsy("encrypt", "-i", str(g), env={**no_age, "SOPS_AZURE_KEYVAULT_URLS": azure.url()})
    assert r.returncode == 0, r.stderr
    assert _sops("decrypt", str(g), env=no_age).stdout == "k: v\n"


def test_cli_creation_rule_key_group(azure: Doubles, tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - key_groups:\n      - azure_keyvault:\n"
        f"          - vaultUrl: {VAULT}\n            key: sops-key\n            version: ''\n")
    env = _sops_env(azure, tmp_path)
    (tmp_path / "c.yaml").write_text("k: v\n")
    r = _sopsy("encrypt", "-i", "c.yaml", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["sops"]["azure_kv"][0]["version"] == azure.version
    assert _sops("decrypt", str(tmp_path / "c.yaml"), env=env).stdout == "k: v\n"


def test_cli_errors_are_one_line(azure: Doubles, tmp_path: Path) -> None:
    env = _sops_env(azure, tmp_path)
    f = tmp_path / "s.yaml"
    f.write_text("k: v\n")
    r = _sopsy("encrypt", "--azure-kv", f"{VAULT}/keys/missing/1", str(f), env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "could not encrypt the data key with" in r.stderr and "KeyNotFound" in r.stderr
    assert _sopsy("encrypt", "-i", "--azure-kv", azure.url(), str(f), env=env).returncode == 0
    r = _sopsy("decrypt", str(f), env={**env, "IDENTITY_HEADER": "wrong"})
    assert r.returncode == 128 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Azure authentication failed: ManagedIdentityCredential" in r.stderr

"""HashiCorp Vault transit keys against a loopback Vault double (real HTTP, real AES-GCM), and
interop both ways with the real sops binary pointed at the same double."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fake_vault import FakeVault
from support.kms_sops_files import decrypt_value, sops_json
from support.tls import make_tls_certs

from sopsy import core, datakey
from sopsy.errors import KeyUnavailable, SopsyError, UsageError
from sopsy.keys import KeySpec
from sopsy.keys.hc_vault import PROVIDER, VaultKey, parse_arg, parse_uri
from sopsy.metadata import KeyEntry, Metadata
from sopsy.stores import get_store

SOPS = str(Path(sys.executable).with_name("sops"))
TOKEN = "hvs.sopsy-test-token"
VAULT_ENV = ("VAULT_ADDR", "VAULT_AGENT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_HEADERS", "VAULT_CACERT",
             "VAULT_CACERT_BYTES", "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY", "VAULT_SKIP_VERIFY",
             "VAULT_CLIENT_TIMEOUT", "VAULT_MAX_RETRIES", "VAULT_PROXY_ADDR", "VAULT_HTTP_PROXY",
             "SOPS_HC_VAULT_ALLOWLIST", "SOPS_VAULT_URIS")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeVault]:
    with FakeVault(["transit", "sops/team"], {TOKEN}) as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeVault, str]]:
    ca, cert, key = make_tls_certs(["127.0.0.1"])
    ca_path = tmp_path_factory.mktemp("vault-tls") / "ca.pem"
    ca_path.write_bytes(ca)
    with FakeVault(["transit"], {TOKEN}, tls=(cert, key)) as srv:
        yield srv, str(ca_path)


@pytest.fixture
def vault(server: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeVault:
    """The token in VAULT_TOKEN, a HOME without ~/.vault-token, no other Vault settings."""
    for name in VAULT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("VAULT_TOKEN", TOKEN)
    server.requests.clear()
    server.namespace = None
    server.unavailable = 0
    return server


def _dead_address() -> str:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _sops_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VAULT_ENV and not k.startswith(("AWS_", "GOOGLE_"))}
    env.update(SOPS_DISABLE_VERSION_CHECK="1", **extra)
    return env


def _sops(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOPS, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


# -- URI parsing, as sops splits it (cases from sops's hcvault tests) -------------------------


@pytest.mark.parametrize(("uri", "expected"), [
    ("https://vault.example.com:8200/v1/transit/keys/keyName",
     ("https://vault.example.com:8200", "transit", "keyName")),
    ("https://vault.me.com/v1/super42/bestmarket/keys/slig", ("https://vault.me.com", "super42/bestmarket", "slig")),
    ("http://127.0.0.1:12121/v1/transit/keys/dev", ("http://127.0.0.1:12121", "transit", "dev")),
    ("HTTPS://Vault.example.com/v1/transit/keys/k/", ("https://Vault.example.com", "transit", "k")),
])
def test_parse_uri(uri: str, expected: tuple[str, str, str]) -> None:
    assert parse_uri(uri) == VaultKey(*expected)


@pytest.mark.parametrize(("uri", "message"), [
    ("vault.me/keys/dev/mykey", "missing scheme"),
    ("http://127.0.0.1:12121/v1/keys/dev", "not formatted correctly"),
    ("tcp://127.0.0.1:12121/v1/keys/dev", "not formatted correctly"),
    ("https://vault.example.com/prefix/v1/transit/keys/k", "prefixed URL"),
])
def test_parse_uri_rejects(uri: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_uri(uri)


def test_parse_arg_and_spec_of_agree() -> None:
    a, b = "https://v:8200/v1/transit/keys/a", "https://v:8200/v1/sops/team/keys/b"
    specs = parse_arg(f"{a}, ,{b},")
    assert [(s.type, s.id) for s in specs] == [("hc_vault", a), ("hc_vault", b)]
    assert parse_arg("") == []
    entry = KeyEntry("hc_vault", {"vault_address": "https://v:8200", "engine_path": "sops/team", "key_name": "b",
                                  "created_at": "2024-01-01T00:00:00Z", "enc": "vault:v1:eA=="})
    assert PROVIDER.spec_of(entry) == specs[1]  # so --rm-hc-vault-transit finds the entry


# -- against the double -----------------------------------------------------------------------


def test_wrap_unwrap(vault: FakeVault) -> None:
    key = os.urandom(32)
    entry = PROVIDER.wrap(parse_arg(vault.uri("sops/team", "k"))[0], key)
    assert list(entry.fields) == ["vault_address", "engine_path", "key_name", "created_at", "enc"]
    assert entry.fields["vault_address"] == vault.address
    assert (entry.fields["engine_path"], entry.fields["key_name"]) == ("sops/team", "k")
    assert entry.enc.startswith("vault:v1:")
    Metadata.from_dict({"hc_vault": [entry.fields], "lastmodified": entry.fields["created_at"], "version": "3.11.0"})
    assert PROVIDER.unwrap(entry) == key
    put = vault.requests[0]
    assert (put.method, put.path) == ("PUT", "/v1/sops/team/encrypt/k")
    assert base64.b64decode(put.body["plaintext"]) == key  # the key goes base64-encoded, as sops sends it
    assert put.headers["x-vault-token"] == TOKEN
    assert vault.requests[1].path == "/v1/sops/team/decrypt/k"


def test_a_creation_rule_uri_wraps(vault: FakeVault) -> None:
    """config.py hands over the URI as written, with no parsed options."""
    entry = PROVIDER.wrap(KeySpec("hc_vault", vault.uri("transit", "rule")), b"r" * 33)
    assert entry.fields["engine_path"] == "transit"
    assert PROVIDER.unwrap(entry) == b"r" * 33


def test_token_file(vault: FakeVault, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    entry = PROVIDER.wrap(parse_arg(vault.uri("transit", "t"))[0], b"t" * 32)
    monkeypatch.delenv("VAULT_TOKEN")
    (tmp_path / ".vault-token").write_text(f"  {TOKEN}\n")
    assert PROVIDER.unwrap(entry) == b"t" * 32
    monkeypatch.setenv("VAULT_TOKEN", "")  # empty counts as unset
    assert PROVIDER.unwrap(entry) == b"t" * 32
    assert vault.requests[-1].headers["x-vault-token"] == TOKEN


def test_missing_and_bad_tokens(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = PROVIDER.wrap(parse_arg(vault.uri("transit", "t"))[0], b"t" * 32)
    monkeypatch.delenv("VAULT_TOKEN")
    with pytest.raises(KeyUnavailable) as info:
        PROVIDER.unwrap(entry)
    assert "HTTP 403: permission denied (no Vault token: set VAULT_TOKEN" in str(info.value)
    assert "x-vault-token" not in vault.requests[-1].headers
    monkeypatch.setenv("VAULT_TOKEN", "hvs.wrong-secret-token")
    with pytest.raises(KeyUnavailable, match=r"decrypt at http://127\.0\.0\.1:\d+/v1/transit/decrypt/t failed: "
                                              r"HTTP 403: permission denied$") as info:
        PROVIDER.unwrap(entry)
    assert "wrong-secret" not in str(info.value)


def test_server_errors_are_one_line(vault: FakeVault) -> None:
    key = os.urandom(32)
    entry = PROVIDER.wrap(parse_arg(vault.uri("transit", "e"))[0], key)
    cases = [
        ({"engine_path": "nope"}, r"HTTP 404: no handler for route \"nope/decrypt/e\""),
        ({"key_name": "missing"}, "HTTP 400: encryption key not found"),
        ({"enc": entry.enc[:-8] + "AAAAAAAA"}, "HTTP 400: cipher: message authentication failed"),
        ({"enc": ""}, "the enc field is empty"),
        ({"vault_address": _dead_address()}, "cannot reach Vault at http://127.0.0.1:"),
    ]
    for change, message in cases:
        with pytest.raises(KeyUnavailable, match=message) as info:
            PROVIDER.unwrap(KeyEntry("hc_vault", {**entry.fields, **change}))
        assert "\n" not in str(info.value) and key.hex() not in str(info.value)
    with pytest.raises(SopsyError, match=r"could not encrypt the data key with http://127\.0\.0\.1:\d+/v1/nope/keys/e: "
                                         r".*HTTP 404"):
        PROVIDER.wrap(KeySpec("hc_vault", vault.uri("nope", "e")), key)


def test_namespace_and_headers(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_arg(vault.uri("transit", "ns"))[0]
    vault.namespace = "team-a"
    with pytest.raises(SopsyError, match="permission denied"):
        PROVIDER.wrap(spec, b"n" * 32)
    monkeypatch.setenv("VAULT_NAMESPACE", "team-a")
    monkeypatch.setenv("VAULT_HEADERS", json.dumps({"X-Trace": "sopsy"}))
    PROVIDER.wrap(spec, b"n" * 32)
    assert vault.requests[-1].headers["x-vault-namespace"] == "team-a"
    assert vault.requests[-1].headers["x-trace"] == "sopsy"
    monkeypatch.setenv("VAULT_HEADERS", json.dumps({"X-Vault-Token": "x"}))
    with pytest.raises(SopsyError, match="VAULT_HEADERS may not set X-Vault-Token"):
        PROVIDER.wrap(spec, b"n" * 32)


def test_allowlist(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_arg(vault.uri("transit", "al"))[0]
    monkeypatch.setenv("SOPS_HC_VAULT_ALLOWLIST", "https://vault.example.com, " + vault.address)
    entry = PROVIDER.wrap(spec, b"a" * 32)
    monkeypatch.setenv("SOPS_HC_VAULT_ALLOWLIST", "https://vault.example.com")
    count = len(vault.requests)
    with pytest.raises(KeyUnavailable, match=f"SOPS_HC_VAULT_ALLOWLIST does not allow {vault.address}"):
        PROVIDER.unwrap(entry)
    monkeypatch.setenv("SOPS_HC_VAULT_ALLOWLIST", "none")
    with pytest.raises(KeyUnavailable, match="does not allow"):
        PROVIDER.unwrap(entry)
    assert len(vault.requests) == count  # refused before any request


def test_agent_address_overrides_the_entry(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = PROVIDER.wrap(parse_arg(vault.uri("transit", "ag"))[0], b"g" * 32)
    moved = KeyEntry("hc_vault", {**entry.fields, "vault_address": "https://vault.invalid:8200"})
    monkeypatch.setenv("VAULT_AGENT_ADDR", vault.address)
    assert PROVIDER.unwrap(moved) == b"g" * 32


def test_standby_redirect_is_followed(vault: FakeVault) -> None:
    with FakeVault(["transit"], {TOKEN}, redirect_to=vault.address) as standby:
        entry = PROVIDER.wrap(parse_arg(standby.uri("transit", "sb"))[0], b"s" * 32)
        assert PROVIDER.unwrap(entry) == b"s" * 32
        assert [r.path for r in standby.requests] == ["/v1/transit/encrypt/sb", "/v1/transit/decrypt/sb"]
        assert entry.fields["vault_address"] == standby.address
    assert [r.method for r in vault.requests] == ["PUT", "PUT"]


def test_5xx_is_retried(vault: FakeVault, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_arg(vault.uri("transit", "retry"))[0]
    vault.unavailable = 1
    entry = PROVIDER.wrap(spec, b"r" * 32)
    assert [r.path for r in vault.requests] == ["/v1/transit/encrypt/retry"] * 2
    monkeypatch.setenv("VAULT_MAX_RETRIES", "0")
    vault.unavailable = 1
    with pytest.raises(KeyUnavailable, match="HTTP 503: Vault is sealed"):
        PROVIDER.unwrap(entry)
    assert vault.unavailable == 0 and PROVIDER.unwrap(entry) == b"r" * 32


def test_tls(vault: FakeVault, tls_server: tuple[FakeVault, str], monkeypatch: pytest.MonkeyPatch) -> None:
    srv, ca = tls_server
    spec = parse_arg(srv.uri("transit", "tls"))[0]
    with pytest.raises(SopsyError, match="cannot reach Vault at https://127.0.0.1:.*CERTIFICATE_VERIFY_FAILED"):
        PROVIDER.wrap(spec, b"c" * 32)
    monkeypatch.setenv("VAULT_CACERT", ca)
    entry = PROVIDER.wrap(spec, b"c" * 32)
    monkeypatch.delenv("VAULT_CACERT")
    monkeypatch.setenv("VAULT_SKIP_VERIFY", "true")
    assert PROVIDER.unwrap(entry) == b"c" * 32


def test_shamir_groups_one_call_per_key(vault: FakeVault) -> None:
    key = datakey.new_data_key()
    groups, threshold = datakey.wrap(key, [parse_arg(vault.uri("transit", "g1")), parse_arg(vault.uri("transit", "g2"))])
    assert threshold == 2 and len(vault.requests) == 2
    meta = Metadata(key_groups=groups, shamir_threshold=threshold, lastmodified="2024-01-01T00:00:00Z")
    vault.requests.clear()
    assert datakey.recover(meta) == key
    assert len(vault.requests) == 2


def test_vault_modules_not_imported_until_used() -> None:
    code = ("import sys, sopsy.keys, sopsy.core, sopsy.datakey\n"
            "print(sorted(m for m in sys.modules if m.startswith(('urllib.request', 'http.client', 'hvac', "
            "'requests', 'ssl', 'sopsy.keys.hc_vault'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- interop with the real sops binary --------------------------------------------------------


def test_sops_encrypts_sopsy_decrypts(vault: FakeVault, tmp_path: Path) -> None:
    src = tmp_path / "plain.yaml"
    src.write_text("api:\n    token: s3cr3t\n")
    proc = _sops("encrypt", "--hc-vault-transit", vault.uri("sops/team", "interop"), str(src),
                 env=_sops_env(VAULT_TOKEN=TOKEN))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [r.path for r in vault.requests] == ["/v1/sops/team/encrypt/interop"]  # sops really used the double
    doc = yaml.safe_load(proc.stdout)
    fields = doc["sops"]["hc_vault"][0]
    assert list(fields) == ["vault_address", "engine_path", "key_name", "created_at", "enc"]
    assert fields["vault_address"] == vault.address and fields["engine_path"] == "sops/team"
    data_key = PROVIDER.unwrap(KeyEntry("hc_vault", fields))
    assert decrypt_value(doc["api"]["token"], data_key, ("api", "token")) == b"s3cr3t"


def test_sopsy_encrypts_sops_decrypts_with_token_file(vault: FakeVault, tmp_path: Path) -> None:
    key = datakey.new_data_key()
    entry = PROVIDER.wrap(parse_arg(vault.uri("transit", "interop"))[0], key)
    data = {"api": {"token": "s3cr3t", "retries": 3}, "enabled": True}
    path = tmp_path / "secret.json"
    path.write_text(sops_json(data, key, [entry]))
    (tmp_path / ".vault-token").write_text(TOKEN + "\n")
    proc = _sops("decrypt", str(path), env=_sops_env(HOME=str(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == data
    assert vault.requests[-1].path == "/v1/transit/decrypt/interop"


def test_whole_file_through_core_both_ways(vault: FakeVault, tmp_path: Path) -> None:
    text = "db:\n    password: hunter2\nport: 5432\n"
    uri = vault.uri("sops/team", "core")
    enc = core.encrypt_text(get_store("yaml"), text, core.EncryptOptions(key_groups=[parse_arg(uri)]))
    path = tmp_path / "ours.yaml"
    path.write_text(enc)
    env = _sops_env(VAULT_TOKEN=TOKEN)
    proc = _sops("decrypt", str(path), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert yaml.safe_load(proc.stdout) == yaml.safe_load(text)
    src = tmp_path / "plain.yaml"
    src.write_text(text)
    proc = _sops("encrypt", "--hc-vault-transit", uri, str(src), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert core.decrypt_text(get_store("yaml"), proc.stdout).plaintext() == text


def test_vault_addr_does_not_move_a_key(vault: FakeVault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both sops and sopsy use the entry's address, even with VAULT_ADDR naming a live server."""
    key = datakey.new_data_key()
    entry = PROVIDER.wrap(parse_arg(vault.uri("transit", "addr"))[0], key)
    dead = KeyEntry("hc_vault", {**entry.fields, "vault_address": _dead_address()})
    path = tmp_path / "secret.json"
    path.write_text(sops_json({"a": "b"}, key, [dead]))
    proc = _sops("decrypt", str(path), env=_sops_env(VAULT_TOKEN=TOKEN, VAULT_ADDR=vault.address, VAULT_MAX_RETRIES="0"))
    assert proc.returncode != 0 and "connection refused" in proc.stderr
    monkeypatch.setenv("VAULT_ADDR", vault.address)
    with pytest.raises(KeyUnavailable, match="cannot reach Vault"):
        PROVIDER.unwrap(dead)


def test_sops_and_sopsy_follow_a_standby_and_trust_vault_cacert(vault: FakeVault, tls_server: tuple[FakeVault, str],
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    srv, ca = tls_server
    src = tmp_path / "plain.yaml"
    src.write_text("k: v\n")
    env = _sops_env(VAULT_TOKEN=TOKEN, VAULT_CACERT=ca)
    proc = _sops("encrypt", "--hc-vault-transit", srv.uri("transit", "tls-interop"), str(src), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    fields: dict[str, Any] = yaml.safe_load(proc.stdout)["sops"]["hc_vault"][0]
    with monkeypatch.context() as m:
        m.setenv("VAULT_CACERT", ca)
        assert len(PROVIDER.unwrap(KeyEntry("hc_vault", fields))) == 32
    with FakeVault(["transit"], {TOKEN}, redirect_to=vault.address) as standby:
        proc = _sops("encrypt", "--hc-vault-transit", standby.uri("transit", "sb-interop"), str(src),
                     env=_sops_env(VAULT_TOKEN=TOKEN))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert [r.path for r in standby.requests] == ["/v1/transit/encrypt/sb-interop"]
        fields = yaml.safe_load(proc.stdout)["sops"]["hc_vault"][0]
        assert fields["vault_address"] == standby.address  # the entry names the node it was given
        assert len(PROVIDER.unwrap(KeyEntry("hc_vault", fields))) == 32


# -- through the command line -----------------------------------------------------------------


def _sopsy(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sopsy", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False, cwd=cwd)


def test_cli_flags_env_and_rotate(vault: FakeVault, tmp_path: Path) -> None:
    env = _sops_env(VAULT_TOKEN=TOKEN, HOME=str(tmp_path))
    a, b = vault.uri("transit", "cli-a"), vault.uri("sops/team", "cli-b")
    f = tmp_path / "s.yaml"
    f.write_text("password: hunter2\n")
    assert (r := _sopsy("encrypt", "-i", "--hc-vault-transit", a, str(f), env=env)).returncode == 0, r.stderr
    g = tmp_path / "t.yaml"
    g.write_text("password: hunter2\n")
    assert (r := _sopsy("encrypt", "-i", str(g), env={**env, "SOPS_VAULT_URIS": b})).returncode == 0, r.stderr
    assert [e["key_name"] for e in yaml.safe_load(g.read_text())["sops"]["hc_vault"]] == ["cli-b"]
    r = _sopsy("rotate", "-i", "--add-hc-vault-transit", b, str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert [e["key_name"] for e in yaml.safe_load(f.read_text())["sops"]["hc_vault"]] == ["cli-a", "cli-b"]
    r = _sopsy("rotate", "-i", "--rm-hc-vault-transit", a, str(f), env=env)
    assert r.returncode == 0, r.stderr
    assert [e["key_name"] for e in yaml.safe_load(f.read_text())["sops"]["hc_vault"]] == ["cli-b"]
    vault.requests.clear()
    assert _sops("decrypt", str(f), env=env).stdout == "password: hunter2\n"
    assert [r.path for r in vault.requests] == ["/v1/sops/team/decrypt/cli-b"]
    r = _sopsy("groups", "add", "-f", str(f), "-i", "--hc-vault-transit", a, env=env)
    assert r.returncode == 0, r.stderr
    groups = yaml.safe_load(f.read_text())["sops"]["key_groups"]
    assert [[e["key_name"] for e in g["hc_vault"]] for g in groups] == [["cli-b"], ["cli-a"]]
    vault.requests.clear()
    assert _sops("decrypt", str(f), env=env).stdout == "password: hunter2\n"  # a share from each group
    assert sorted(r.path for r in vault.requests) == ["/v1/sops/team/decrypt/cli-b", "/v1/transit/decrypt/cli-a"]


def test_cli_creation_rule(vault: FakeVault, tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: flat\n    hc_vault_transit_uri: {vault.uri('transit', 'rule-a')}\n"
        f"  - key_groups:\n      - hc_vault: [{vault.uri('sops/team', 'rule-b')}]\n")
    env = _sops_env(VAULT_TOKEN=TOKEN, HOME=str(tmp_path))
    for name, key in (("flat.yaml", "rule-a"), ("grouped.yaml", "rule-b")):
        (tmp_path / name).write_text("k: v\n")
        r = _sopsy("encrypt", "-i", name, env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert yaml.safe_load((tmp_path / name).read_text())["sops"]["hc_vault"][0]["key_name"] == key
        assert _sops("decrypt", str(tmp_path / name), env=env).stdout == "k: v\n"


def test_cli_errors_are_one_line(vault: FakeVault, tmp_path: Path) -> None:
    env = _sops_env(VAULT_TOKEN=TOKEN, HOME=str(tmp_path))
    f = tmp_path / "s.yaml"
    f.write_text("k: v\n")
    r = _sopsy("encrypt", "--hc-vault-transit", "vault:8200/v1/transit/keys/k", str(f), env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Vault" in r.stderr
    assert _sopsy("encrypt", "-i", "--hc-vault-transit", vault.uri("transit", "cli-e"), str(f), env=env).returncode == 0
    r = _sopsy("decrypt", str(f), env={**env, "VAULT_TOKEN": "hvs.not-the-token"})
    assert r.returncode == 128 and "Traceback" not in r.stderr, r.stderr
    assert "HTTP 403: permission denied" in r.stderr and "not-the-token" not in r.stderr
    (tmp_path / "s2.yaml").write_text("k: v\n")
    r = _sopsy("encrypt", "--hc-vault-transit", vault.uri("nope", "k"), str(tmp_path / "s2.yaml"), env=env)
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "could not encrypt the data key with" in r.stderr and "HTTP 404" in r.stderr

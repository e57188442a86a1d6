"""The key service, both ways with the real sops: sopsy's client against ``sops keyservice`` and
the sops client against sopsy's server, over TCP on 127.0.0.1 and over unix sockets. In every
interop case only the server process can see the key (its environment has it, the client's
does not) and the client runs with the local key service disabled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEY, RECIPIENT, RECIPIENT2, TESTDATA, sops_binary
from support import keyservice as ks

from sopsy import commands, settings
from sopsy.errors import KeyRetrievalError, KeyUnavailable, SopsyError, UsageError
from sopsy.keys import KeySpec
from sopsy.keys import age as age_keys
from sopsy.keyservice import client, keymap, proto, server
from sopsy.metadata import KeyEntry

PLAIN = "db:\n    user: admin\n    password: hunter2\nport: 5432\n"


@pytest.fixture
def no_local_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This process sees no age identity at all (the server process holds it)."""
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    home = tmp_path / "client-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    age_keys.PROVIDER._identities = None


def use_services(monkeypatch: pytest.MonkeyPatch, uris: list[str], local: bool = False) -> None:
    monkeypatch.setattr(settings.SETTINGS, "keyservices", uris)
    monkeypatch.setattr(settings.SETTINGS, "local_keyservice", local)


def sops_encrypted(tmp_path: Path, recipient: str = RECIPIENT) -> Path:
    """A file the real sops encrypted (it needs only the recipient for that)."""
    src = tmp_path / "plain.yaml"
    src.write_text(PLAIN)
    proc = subprocess.run([sops_binary(), "encrypt", "--age", recipient, str(src)], capture_output=True,
                          env=ks.clean_env(tmp_path), check=False)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "secret.yaml"
    out.write_bytes(proc.stdout)
    return out


def address(tmp_path: Path, network: str) -> str:
    return str(tmp_path / "ks.sock") if network == "unix" else f"127.0.0.1:{ks.free_port()}"


def uri_of(network: str, addr: str) -> str:
    return f"unix://{addr}" if network == "unix" else f"tcp://{addr}"


@pytest.fixture(params=["tcp", "unix"])
def sops_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real `sops keyservice`, holding the throwaway key of RECIPIENT (not RECIPIENT2)."""
    root = tmp_path_factory.mktemp("sops-ks")
    network = request.param
    addr = address(root, network)
    env = ks.clean_env(root, SOPS_AGE_KEY_FILE=str(AGE_KEY))
    argv = [sops_binary(), "keyservice", "--network", network, "--address", addr]
    with ks.running(argv, env, network, addr):
        yield uri_of(network, addr)


# -- the protocol ------------------------------------------------------------------------------


def _normalised(fdp: object) -> object:
    from google.protobuf import descriptor_pb2

    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(fdp)  # type: ignore[arg-type]

    def strip(messages: object) -> None:
        for m in messages:  # type: ignore[attr-defined]
            for f in m.field:
                f.ClearField("json_name")
            strip(m.nested_type)

    strip(copy.message_type)
    for s in copy.service:
        for m in s.method:
            if not m.options.ListFields():
                m.ClearField("options")
    return copy


def test_descriptor_is_sops_proto_as_protoc_compiles_it(tmp_path: Path) -> None:
    """The run-time descriptor, without sopsy's extensions, equals protoc's compile of sops's .proto."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    src = TESTDATA / "keyservice"
    out = tmp_path / "set.bin"
    assert protoc.main(["protoc", f"-I{src.parent}", f"--descriptor_set_out={out}",
                        str(src / "keyservice.proto")]) == 0
    (compiled,) = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    assert _normalised(compiled) == _normalised(proto.file_descriptor(with_extensions=False))


def test_sopsy_extensions_leave_sops_numbers_free_and_stay_in_the_oneof() -> None:
    ext = proto.file_descriptor()
    key = next(m for m in ext.message_type if m.name == "Key")
    pkcs11 = next(f for f in key.field if f.name == "pkcs11_key")
    assert pkcs11.number >= 100 and pkcs11.HasField("oneof_index")
    assert all(n >= 100 for fields in proto.SOPSY_FIELDS.values() for _, n, _ in fields)
    k = proto.Key()
    k.pkcs11_key.uri = "pkcs11:object=x"
    assert k.WhichOneof("key_type") == "pkcs11_key"


# -- start-up: no grpc unless a key service is used --------------------------------------------


def _imported(args: list[str], env: dict[str, str]) -> tuple[int, set[str]]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "sopsy", *args], capture_output=True,
                          env=env, check=False)
    mods = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()
            if line.startswith("import time:")}
    assert "sopsy.datakey" in mods  # the listing is real: the data key was handled
    return proc.returncode, {m for m in mods if m.split(".")[0] == "grpc" or m.startswith("google.protobuf")}


def test_grpc_and_protobuf_are_imported_only_when_a_remote_service_is_asked(tmp_path: Path) -> None:
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEY)}
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    enc = tmp_path / "e.yaml"
    assert _imported(["encrypt", "--age", RECIPIENT, "--output", str(enc), str(src)], env) == (0, set())
    assert _imported(["decrypt", str(enc)], env) == (0, set())
    # a --keyservice that is never needed (the local key works) opens nothing
    assert _imported(["--keyservice", "tcp://127.0.0.1:9", "decrypt", str(enc)], env) == (0, set())
    # control: with the local service off, the (unreachable) remote one is asked
    code, grpc_mods = _imported(["--keyservice", "tcp://127.0.0.1:9", "--enable-local-keyservice=false",
                                 "decrypt", str(enc)], env)
    assert code == 128 and "grpc" in grpc_mods and "google.protobuf" in grpc_mods


# -- sopsy's client against the real `sops keyservice` -----------------------------------------


def test_sopsy_decrypts_through_sops_keyservice(sops_service: str, tmp_path: Path) -> None:
    enc = sops_encrypted(tmp_path)
    env = ks.clean_env(tmp_path)  # this process holds no key...
    alone = ks.sopsy("decrypt", str(enc), env=env)
    assert alone.returncode == 128 and "no age identity" in alone.stderr
    # ...the key service does; global flags before the command, as tools that wrap sops pass them
    proc = ks.sopsy("--keyservice", sops_service, "--enable-local-keyservice=false", "decrypt", str(enc), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == PLAIN


def test_sopsy_encrypts_through_sops_keyservice_and_sops_decrypts(sops_service: str, tmp_path: Path) -> None:
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    out = tmp_path / "e.yaml"
    env = ks.clean_env(tmp_path, SOPS_KEYSERVICE=sops_service, SOPS_ENABLE_LOCAL_KEYSERVICE="false")
    proc = ks.sopsy("encrypt", "--age", RECIPIENT, "--output", str(out), str(src), env=env)
    assert proc.returncode == 0, proc.stderr
    (entry,) = yaml.safe_load(out.read_text())["sops"]["age"]
    assert list(entry) == ["recipient", "enc"] and entry["recipient"] == RECIPIENT
    proc = subprocess.run([sops_binary(), "decrypt", str(out)], capture_output=True, text=True,
                          env=ks.clean_env(tmp_path, SOPS_AGE_KEY_FILE=str(AGE_KEY)), check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == PLAIN
    # with the environment's services and the flag after the command, sopsy reads it back
    back = ks.sopsy("decrypt", "--keyservice", sops_service, str(out), env=env)
    assert back.returncode == 0, back.stderr
    assert back.stdout == PLAIN


def test_no_service_at_all_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    use_services(monkeypatch, [])
    with pytest.raises(UsageError, match="no key services"):
        commands.encrypt(str(src), commands.KeyOptions({"age": [RECIPIENT]}), output=str(tmp_path / "e.yaml"))
    enc = sops_encrypted(tmp_path)
    with pytest.raises(KeyRetrievalError, match="no key services"):
        commands.decrypt(str(enc))


def test_failure_names_every_service_on_one_line(sops_service: str, tmp_path: Path, no_local_keys: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    enc = sops_encrypted(tmp_path, RECIPIENT2)  # a key neither this process nor the service holds
    dead = f"tcp://127.0.0.1:{ks.free_port()}"
    use_services(monkeypatch, [sops_service, dead], local=True)
    with pytest.raises(KeyRetrievalError) as err:
        commands.decrypt(str(enc))
    message = str(err.value)
    assert "\n" not in message
    assert f"age {RECIPIENT2}: local: no age identity" in message
    assert f" | {sops_service}: " in message
    assert f" | {dead}: cannot reach the key service" in message


def test_sops_server_refuses_sopsy_pkcs11_extension(sops_service: str) -> None:
    """sops ignores the extension field: it sees a request without a key."""
    remote = client.Remote(sops_service)
    entry = KeyEntry("pkcs11", {"uri": "pkcs11:token=t;object=k", "mechanism": "aes-gcm", "enc": "AAAA"})
    with pytest.raises(KeyUnavailable, match="Must provide a key"):
        remote.decrypt(entry)


# -- the real sops client against sopsy's server ---------------------------------------------


@pytest.fixture(params=["tcp", "unix"])
def sopsy_service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("sopsy-ks")
    network = request.param
    addr = address(root, network)
    env = ks.clean_env(root, SOPS_AGE_KEY_FILE=str(AGE_KEY))
    with ks.running(ks.sopsy_server_argv(network, addr), env, network, addr) as proc:
        yield uri_of(network, addr)
        proc.terminate()
        assert proc.wait(timeout=10) == 0  # SIGTERM is a clean shutdown, as for sops
    if network == "unix":
        assert not os.path.lexists(addr)  # and the socket is gone


def test_sops_decrypts_and_encrypts_through_sopsy_keyservice(sopsy_service: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    enc = sops_encrypted(tmp_path)
    env = ks.clean_env(tmp_path)  # the sops client holds no key
    sops = sops_binary()
    alone = subprocess.run([sops, "decrypt", str(enc)], capture_output=True, env=env, check=False)
    assert alone.returncode == 128
    flags = ["--keyservice", sopsy_service, "--enable-local-keyservice=false"]
    proc = subprocess.run([sops, "decrypt", *flags, str(enc)], capture_output=True, text=True, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == PLAIN
    src = tmp_path / "p.yaml"
    src.write_text(PLAIN)
    made = subprocess.run([sops, "encrypt", "--age", RECIPIENT, *flags, str(src)], capture_output=True,
                          env=env, check=False)
    assert made.returncode == 0, made.stderr
    out = tmp_path / "made.yaml"
    out.write_bytes(made.stdout)
    commands.decrypt(str(out))  # sopsy itself, with the key (this process has it), reads sops's file
    assert capsys.readouterr().out == PLAIN


# -- server behaviour --------------------------------------------------------------------------


def _age_entry(enc_path: Path) -> KeyEntry:
    (fields,) = yaml.safe_load(enc_path.read_text())["sops"]["age"]
    return KeyEntry("age", dict(fields))


def test_prompt_asks_before_the_key_is_used_and_no_refuses(tmp_path: Path) -> None:
    questions: list[str] = []
    used: list[str] = []

    def ask(question: str) -> str:
        questions.append(question)
        return "maybe" if len(questions) == 1 else "n"

    handler = server.KeyServiceHandler(prompt=True, ask=ask)
    real_unwrap = age_keys.PROVIDER.unwrap
    running = server.start("tcp", "127.0.0.1:0", handler=handler)
    try:
        remote = client.Remote(running.uri)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(age_keys.PROVIDER, "unwrap", lambda e: used.append(e.identity) or real_unwrap(e))
            with pytest.raises(KeyUnavailable, match="Request rejected by user"):
                remote.decrypt(_age_entry(sops_encrypted(tmp_path)))
    finally:
        running.stop()
    assert len(questions) == 2 and f"decrypt request using age key {RECIPIENT}" in questions[0]
    assert used == []


def test_unknown_and_missing_key_types_are_answered_as_sops_does() -> None:
    handler = server.KeyServiceHandler()
    with pytest.raises(server._Abort, match="Must provide a key") as err:
        handler.decrypt(proto.DecryptRequest(ciphertext=b"x"))
    assert err.value.code == "NOT_FOUND"
    request = proto.DecryptRequest.FromString(proto.serialize(proto.DecryptRequest(ciphertext=b"x"))
                                              + b"\x0a\x03\xf2\x07\x00")  # Key with an unknown field 126
    with pytest.raises(server._Abort, match="Unknown key type"):
        handler.decrypt(request)


def test_a_client_cannot_choose_the_server_pkcs11_module_or_pin() -> None:
    uri = "pkcs11:token=t;object=k?module-path=/tmp/evil.so&pin-source=/etc/shadow&module-name=x"
    assert server._server_side_uri(uri) == "pkcs11:token=t;object=k"


def test_tcp_port_in_use_and_stale_socket_are_errors(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SopsyError, match=f"cannot listen on tcp://127.0.0.1:{port}"):
            server.start("tcp", f"127.0.0.1:{port}")
    stale = tmp_path / "old.sock"
    stale.write_text("")
    with pytest.raises(SopsyError, match="the path exists"):
        server.start("unix", str(stale))


def test_unix_socket_is_owner_only_and_removed_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    running = server.start("unix", str(path))
    try:
        assert (path.stat().st_mode & 0o777) == 0o600
    finally:
        running.stop()
    assert not path.exists()


@pytest.mark.parametrize(("network", "addr", "target"), [
    ("tcp", "127.0.0.1:5000", "127.0.0.1:5000"), ("tcp", ":5000", "[::]:5000"),
    ("unix", "/run/ks.sock", "unix:/run/ks.sock"),
])
def test_listen_targets(network: str, addr: str, target: str) -> None:
    assert server.listen_target(network, addr) == target


def test_bad_listen_arguments() -> None:
    for network, addr in (("udp", "127.0.0.1:1"), ("tcp", "localhost"), ("unix", "")):
        with pytest.raises(UsageError):
            server.listen_target(network, addr)


# -- client URIs and key mapping ----------------------------------------------------------------


def test_keyservice_uris_as_sops_reads_them(tmp_path: Path) -> None:
    assert client.target_of("tcp://127.0.0.1:5000") == "127.0.0.1:5000"
    assert client.target_of("tcp://[::1]:5000") == "[::1]:5000"
    assert client.target_of("tcp://keys.example:5000") == "keys.example:5000"
    assert client.target_of("unix:///run/sops.sock") == "unix:/run/sops.sock"
    for bad in ("127.0.0.1:5000", "http://h:1", "tcp://h", "unix://relative.sock", "unix:rel"):
        with pytest.raises(SopsyError, match="--keyservice"):
            client.target_of(bad)
    enc = sops_encrypted(tmp_path)  # a bad URI fails the command even though the local key would do
    proc = ks.sopsy("--keyservice", "http://x:1", "decrypt", str(enc), env=ks.clean_env(
        tmp_path, SOPS_AGE_KEY_FILE=str(AGE_KEY)))
    assert proc.returncode == 1
    assert proc.stderr == "sopsy: --keyservice 'http://x:1': expected tcp://HOST:PORT or unix:///ABSOLUTE/PATH\n"


def test_key_messages_carry_what_sops_sends() -> None:
    kms = KeySpec("kms", "arn:aws:kms:eu-west-1:123456789012:key/k", {
        "role": "arn:aws:iam::123456789012:role/r", "context": {"b": "2", "a": "1"}, "aws_profile": "p"})
    k = keymap.key_of_spec(kms).kms_key
    assert (k.arn, k.role, dict(k.context), k.aws_profile) == (kms.id, kms.options["role"], {"a": "1", "b": "2"}, "p")
    entry = keymap.entry_of_spec(kms, "Y2lwaGVy")
    assert list(entry.fields) == ["arn", "role", "context", "created_at", "enc", "aws_profile"]
    bare = keymap.entry_of_spec(KeySpec("kms", kms.id), "Y2lwaGVy")
    assert list(bare.fields) == ["arn", "created_at", "enc", "aws_profile"]  # empty role/context omitted
    vault = keymap.key_of_spec(KeySpec("hc_vault", "https://vault.example:8200/v1/sops/transit/keys/first"))
    assert (vault.vault_key.vault_address, vault.vault_key.engine_path, vault.vault_key.key_name) == (
        "https://vault.example:8200", "sops/transit", "first")
    azure = keymap.key_of_spec(KeySpec("azure_kv", "https://v.vault.azure.net/keys/name/0123abcd"))
    assert (azure.azure_keyvault_key.vault_url, azure.azure_keyvault_key.name,
            azure.azure_keyvault_key.version) == ("https://v.vault.azure.net", "name", "0123abcd")
    pgp = keymap.key_of_entry(KeyEntry("pgp", {"created_at": "x", "enc": "y", "fp": "ABCD"}))
    assert pgp.pgp_key.fingerprint == "ABCD"
    assert list(keymap.entry_of_spec(KeySpec("pgp", "AB CD"), "armored").fields) == ["created_at", "enc", "fp"]
    pin = keymap.key_of_spec(KeySpec("pkcs11", "pkcs11:object=k?pin-value=1234&module-path=/m.so"))
    assert pin.pkcs11_key.uri == "pkcs11:object=k?module-path=/m.so"  # the PIN never travels


def test_keyservice_command_errors_are_one_line(tmp_path: Path) -> None:
    env = ks.clean_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cases = {("--network", "udp"): "sopsy: --network 'udp': expected tcp or unix\n",
                 ("--addr", "127.0.0.1"): "sopsy: --address '127.0.0.1': expected HOST:PORT\n",
                 ("--addr", f"127.0.0.1:{port}"): f"sopsy: cannot listen on tcp://127.0.0.1:{port}: "
                                                  "Address already in use\n"}
        for args, message in cases.items():
            proc = ks.sopsy("keyservice", *args, env=env)
            assert (proc.returncode, proc.stderr) == (1, message)

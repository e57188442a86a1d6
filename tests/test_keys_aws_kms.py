"""AWS KMS keys against a moto server on loopback (real boto3 over HTTP), and interop with real sops."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support.kms_sops_files import decrypt_value, sops_json
from support.moto_server import DUMMY_AWS_ENV, REQUESTS, create_key, moto_server, sops_env

from sopsy import datakey
from sopsy.errors import EncryptionContextError, KeyUnavailable, SopsyError, UsageError
from sopsy.keys import aws_kms
from sopsy.keys.aws_kms import (
    AwsKmsProvider,
    make_spec,
    parse_encryption_context,
    parse_kms_arg,
    session_name,
)
from sopsy.metadata import KeyEntry, Metadata

SOPS = str(Path(sys.executable).with_name("sops"))
ROLE = "arn:aws:iam::123456789012:role/sopsy-test"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Dummy credentials and AWS_ENDPOINT_URL pointing at moto; no user AWS files are read."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for k, v in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return endpoint


# -- argument parsing ------------------------------------------------------------------------


def test_encryption_context_parsing() -> None:
    assert parse_encryption_context("") == {}
    assert parse_encryption_context("app:web,env:prod") == {"app": "web", "env": "prod"}
    assert parse_encryption_context("a:") == {"a": ""}


@pytest.mark.parametrize("bad", ["a:b:c", "a", "a:b,c", "a:b,"])
def test_bad_encryption_context_exits_6_like_sops(bad: str, tmp_path: Path) -> None:
    with pytest.raises(EncryptionContextError) as info:
        parse_encryption_context(bad)
    assert info.value.exit_code == 6
    # the real sops rejects the same text with the same exit code
    src = tmp_path / "x.json"
    src.write_text('{"a": "b"}\n')
    proc = subprocess.run([SOPS, "encrypt", "--kms", "arn:aws:kms:us-east-1:123456789012:key/x",
                           "--encryption-context", bad, str(src)],
                          capture_output=True, env={**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1"}, check=False)
    assert proc.returncode == 6


def test_kms_arg_parsing() -> None:
    arn1 = "arn:aws:kms:us-east-1:123456789012:key/one"
    arn2 = "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/two"
    specs = parse_kms_arg(f"{arn1}+{ROLE}, {arn2} ", {"k": "v"}, "prof")
    assert [(s.type, s.id) for s in specs] == [("kms", arn1), ("kms", arn2)]
    assert specs[0].options == {"role": ROLE, "context": {"k": "v"}, "aws_profile": "prof"}
    assert specs[1].options["role"] == ""
    assert parse_kms_arg("") == []
    with pytest.raises(UsageError):
        parse_kms_arg("arn:aws:s3:::bucket")
    with pytest.raises(UsageError):
        parse_kms_arg("alias/short-name")


def test_session_name_matches_sops_rules() -> None:
    # expectations from sops's own kms tests: "-" is stripped, the name is cut at 64 characters
    assert session_name("hostname") == "sops@hostname"
    assert session_name("some-hostname") == "sops@somehostname"
    assert session_name("a" * 100) == "sops@" + "a" * 59


def test_spec_of_round_trips_an_entry() -> None:
    entry = KeyEntry("kms", {"arn": "arn:aws:kms:eu-west-1:1:key/k", "role": ROLE, "context": {"a": "b"},
                             "created_at": "2024-01-01T00:00:00Z", "enc": "eA==", "aws_profile": "p"})
    spec = AwsKmsProvider().spec_of(entry)
    assert spec.id == "arn:aws:kms:eu-west-1:1:key/k"
    assert spec.options == {"role": ROLE, "context": {"a": "b"}, "aws_profile": "p"}


# -- against moto ----------------------------------------------------------------------------


def test_wrap_unwrap_region_from_arn(aws: str) -> None:
    arn = create_key(aws, "eu-west-1")  # the default region is us-east-1: only the ARN says eu-west-1
    p = AwsKmsProvider()
    key = os.urandom(32)
    entry = p.wrap(make_spec(arn), key)
    assert list(entry.fields) == ["arn", "created_at", "enc", "aws_profile"]
    assert entry.fields["aws_profile"] == ""
    assert base64.b64decode(entry.enc) != key
    Metadata.from_dict({"kms": [entry.fields], "lastmodified": entry.fields["created_at"], "version": "3.11.0"})
    assert AwsKmsProvider().unwrap(entry) == key


def test_field_order_with_role_and_context(aws: str) -> None:
    arn = create_key(aws, "us-east-1")
    entry = AwsKmsProvider().wrap(make_spec(arn, ROLE, {"zeta": "1", "alpha": "2"}), b"\x01" * 33)
    assert list(entry.fields) == ["arn", "role", "context", "created_at", "enc", "aws_profile"]
    assert list(entry.fields["context"]) == ["alpha", "zeta"]
    assert AwsKmsProvider().unwrap(entry) == b"\x01" * 33


def test_encryption_context_is_enforced(aws: str) -> None:
    arn = create_key(aws)
    key = os.urandom(32)
    entry = AwsKmsProvider().wrap(make_spec(arn, context={"app": "web"}), key)
    entry.fields["context"] = {"app": "db"}
    with pytest.raises(KeyUnavailable) as info:
        AwsKmsProvider().unwrap(entry)
    assert "InvalidCiphertext" in str(info.value)
    assert key.hex() not in str(info.value) and entry.enc not in str(info.value)
    del entry.fields["context"]
    with pytest.raises(KeyUnavailable):
        AwsKmsProvider().unwrap(entry)


def test_unknown_key_and_bad_enc(aws: str) -> None:
    arn = create_key(aws)
    missing = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    with pytest.raises(SopsyError, match="could not encrypt the data key"):
        AwsKmsProvider().wrap(make_spec(missing), b"k" * 32)
    entry = AwsKmsProvider().wrap(make_spec(arn), b"k" * 32)
    bad = KeyEntry("kms", {**entry.fields, "enc": "not base64!"})
    with pytest.raises(KeyUnavailable, match="base64"):
        AwsKmsProvider().unwrap(bad)
    tampered = base64.b64decode(entry.enc)
    tampered = tampered[:-1] + bytes([tampered[-1] ^ 1])
    with pytest.raises(KeyUnavailable, match="decrypt failed"):
        AwsKmsProvider().unwrap(KeyEntry("kms", {**entry.fields, "enc": base64.b64encode(tampered).decode()}))


def test_profile_from_shared_credentials(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = create_key(aws)
    entry = AwsKmsProvider().wrap(make_spec(arn), b"p" * 32)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
        "[sopsy-test]\naws_access_key_id = fromprofile\naws_secret_access_key = secret\n")
    with pytest.raises(KeyUnavailable, match="no AWS credentials"):
        AwsKmsProvider().unwrap(entry)
    entry.fields["aws_profile"] = "sopsy-test"
    assert AwsKmsProvider().unwrap(entry) == b"p" * 32
    assert AwsKmsProvider().spec_of(entry).options["aws_profile"] == "sopsy-test"
    entry.fields["aws_profile"] = "no-such-profile"
    with pytest.raises(KeyUnavailable, match="profile 'no-such-profile' not found"):
        AwsKmsProvider().unwrap(entry)


def test_role_is_assumed_through_sts(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = create_key(aws)
    entry = AwsKmsProvider().wrap(make_spec(arn, ROLE), b"r" * 32)
    assert AwsKmsProvider().unwrap(entry) == b"r" * 32
    # with STS unreachable the role cannot be assumed, which proves the key goes through STS
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(KeyUnavailable, match="failed to assume role"):
        AwsKmsProvider().unwrap(entry)


def test_one_kms_call_per_key_not_per_value(aws: str) -> None:
    arns = [create_key(aws), create_key(aws, "eu-central-1")]
    specs = [make_spec(a) for a in arns]
    key = datakey.new_data_key()
    before = REQUESTS.count
    groups, _ = datakey.wrap(key, [specs])
    assert REQUESTS.count - before == 2
    text = sops_json({f"k{i}": f"value {i}" for i in range(50)}, key, groups[0])
    meta = Metadata.from_dict(json.loads(text)["sops"])
    before = REQUESTS.count
    assert datakey.recover(meta) == key
    assert REQUESTS.count - before == 1  # the first key works: the second is never asked


def test_sdk_not_imported_until_used() -> None:
    code = ("import sys, sopsy.keys, sopsy.core, sopsy.datakey, sopsy.keys.aws_kms\n"
            "from sopsy.keys import provider\nprovider('kms')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- interop with the real sops binary -------------------------------------------------------


def _sops(args: list[str], endpoint: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SOPS, *args], capture_output=True, text=True, env=sops_env(endpoint), timeout=60,
                          check=False, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.mark.parametrize("context", ["", "app:sopsy,env:test"])
def test_sops_encrypts_sopsy_decrypts(aws: str, tmp_path: Path, context: str) -> None:
    arn = create_key(aws, "eu-west-1")
    src = tmp_path / "plain.yaml"
    src.write_text("db:\n    password: hunter2\n")
    args = ["encrypt", "--kms", arn] + (["--encryption-context", context] if context else []) + [str(src)]
    proc = _sops(args, aws)
    assert proc.returncode == 0, proc.stderr
    doc = yaml.safe_load(proc.stdout)
    fields = doc["sops"]["kms"][0]
    ours = AwsKmsProvider().wrap(make_spec(arn, context=parse_encryption_context(context)), b"x" * 32)
    assert list(fields) == list(ours.fields)  # same field order as sops writes
    entry = KeyEntry("kms", fields)
    data_key = aws_kms.PROVIDER.unwrap(entry)
    assert len(data_key) == 32
    assert decrypt_value(doc["db"]["password"], data_key, ("db", "password")) == b"hunter2"
    assert AwsKmsProvider().spec_of(entry).options["context"] == parse_encryption_context(context)


@pytest.mark.parametrize(("context", "role"), [({}, ""), ({"app": "sopsy", "env": "test"}, ""), ({}, ROLE)])
def test_sopsy_encrypts_sops_decrypts(aws: str, tmp_path: Path, context: dict[str, str], role: str) -> None:
    arn = create_key(aws, "ap-southeast-2")
    key = datakey.new_data_key()
    entry = aws_kms.PROVIDER.wrap(make_spec(arn, role, context), key)
    data = {"user": "admin", "password": "correct horse", "port": 5432, "nested": {"list": ["a", True]}}
    path = tmp_path / "secret.json"
    path.write_text(sops_json(data, key, [entry]))
    proc = _sops(["decrypt", str(path)], aws)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == data
    if context:  # sops must really use the stored context: without it KMS refuses
        doc = json.loads(path.read_text())
        del doc["sops"]["kms"][0]["context"]
        path.write_text(json.dumps(doc))
        assert _sops(["decrypt", str(path)], aws).returncode == 128


def test_whole_file_through_core_both_ways(aws: str, tmp_path: Path) -> None:
    """sopsy's core + JSON store with a KMS key (with context) ↔ sops, on one whole file."""
    from sopsy import core
    from sopsy.stores import get_store

    arn = create_key(aws, "eu-west-1")
    text = '{\n    "db": {"user": "admin", "password": "hunter2"},\n    "port": 5432\n}\n'
    spec = parse_kms_arg(arn, parse_encryption_context("app:sopsy"))[0]
    enc = core.encrypt_text(get_store("json"), text, core.EncryptOptions(key_groups=[[spec]]))
    path = tmp_path / "ours.json"
    path.write_text(enc)
    proc = _sops(["decrypt", str(path)], aws)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(text)
    src = tmp_path / "plain.json"
    src.write_text(text)
    proc = _sops(["encrypt", "--kms", arn, "--encryption-context", "app:sopsy", str(src)], aws)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(core.decrypt_text(get_store("json"), proc.stdout).plaintext()) == json.loads(text)


def test_file_from_sops_before_3_3_with_the_context_bug(aws: str, tmp_path: Path) -> None:
    # sops < 3.3.0 sent KMS a context whose every key held the same one of the values (Go's loop
    # variable, getsops/sops#435) but stored the real context: sops 3.3+ tries those variants
    arn = create_key(aws, "eu-west-1")
    key = datakey.new_data_key()
    entry = aws_kms.PROVIDER.wrap(make_spec(arn, context={"app": "web", "env": "web"}), key)
    data = {"password": "hunter2"}
    doc = json.loads(sops_json(data, key, [entry]))
    doc["sops"]["kms"][0]["context"] = {"app": "web", "env": "prod"}  # what the old sops stored
    doc["sops"]["version"] = "3.2.0"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc, indent=4))
    proc = _sops(["decrypt", str(path)], aws)
    assert proc.returncode == 0, proc.stderr  # (sops prints a notice before the data)
    got = subprocess.run([sys.executable, "-m", "sopsy", "decrypt", str(path)], capture_output=True, text=True,
                         env={**os.environ}, check=False)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == data
    doc["sops"]["version"] = "3.3.0"  # from 3.3.0 on the stored context is the one: no variants
    path.write_text(json.dumps(doc, indent=4))
    assert subprocess.run([sys.executable, "-m", "sopsy", "decrypt", str(path)], capture_output=True,
                          check=False).returncode == 128

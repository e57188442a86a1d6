"""The PKCS#11 key provider against a real SoftHSM2 token (fresh token store per test session)."""

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
from support import softhsm

from sopsy import core, datakey
from sopsy.errors import KeyRetrievalError, KeyUnavailable, UsageError
from sopsy.keys import KeySpec
from sopsy.keys.age import generate as age_generate
from sopsy.keys.pkcs11 import (
    GCM_AAD,
    MECH_AES,
    MECH_RSA,
    PROVIDER,
    Pkcs11Provider,
    env_specs,
    oaep_sha256_decode,
    parse_pkcs11_arg,
    parse_uri,
    strip_pin_value,
)
from sopsy.metadata import KeyEntry, Metadata

PIN = "1234-test"
OTHER_PIN = "9999"
TOKEN = "sopsy-test"
SOPS = Path(sys.executable).with_name("sops")

_missing = softhsm.missing_reason()
needs_hsm = pytest.mark.skipif(_missing is not None, reason=f"SoftHSM2 unavailable: {_missing}")


# -- URI parsing (no token needed) -------------------------------------------------------------


def test_list_splits_on_commas_before_a_new_uri_only() -> None:
    specs = parse_pkcs11_arg("pkcs11:token=a;object=k1, pkcs11:token=b%2Cc;object=x,y")
    assert [s.id for s in specs] == ["pkcs11:token=a;object=k1", "pkcs11:token=b%2Cc;object=x,y"]
    assert all(s.type == "pkcs11" for s in specs)
    assert parse_uri(specs[1].id).get("token") == "b,c"
    assert parse_uri(specs[1].id).get("object") == "x,y"
    assert parse_pkcs11_arg(" , ") == []


def test_pin_value_is_refused_from_argv_and_never_kept_in_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPSY_PKCS11_ALLOW_PIN_VALUE", raising=False)
    with pytest.raises(UsageError) as err:
        parse_pkcs11_arg("pkcs11:token=a;object=k?pin-value=s3cret")
    assert "s3cret" not in str(err.value)
    (spec,) = parse_pkcs11_arg("pkcs11:token=a;object=k?module-path=/x.so&pin-value=s3cret", allow_pin_value=True)
    assert spec.id == "pkcs11:token=a;object=k?module-path=/x.so"
    assert spec.options["pin"] == "s3cret"
    assert "s3cret" not in str(spec) and "s3cret" not in repr(spec)
    monkeypatch.setenv("SOPSY_PKCS11_ALLOW_PIN_VALUE", "1")
    assert parse_pkcs11_arg("pkcs11:object=k?pin-value=p")[0].options == {"pin": "p"}
    monkeypatch.setenv("SOPSY_PKCS11_URIS", "pkcs11:object=a?pin-value=q,pkcs11:object=b")
    assert [(s.id, s.options) for s in env_specs()] == [("pkcs11:object=a", {"pin": "q"}), ("pkcs11:object=b", {})]


def test_uri_parsing_follows_rfc_7512() -> None:
    uri = parse_uri("PKCS11:token=My%20Token;id=%01%02;type=private?pin-source=file:/tmp/p&x-vendor=1")
    assert uri.get("token") == "My Token"
    assert uri.get_bytes("id") == b"\x01\x02"
    assert uri.get("pin-source") == "file:/tmp/p"
    assert strip_pin_value("pkcs11:object=k?pin-value=1&module-path=/m.so") == "pkcs11:object=k?module-path=/m.so"
    assert strip_pin_value("pkcs11:object=k?pin-value=1") == "pkcs11:object=k"
    for bad in ("token=a", "pkcs11:tokn=a", "pkcs11:token=a;token=b", "pkcs11:type=bogus",
                "pkcs11:object", "pkcs11:slot-id=x", "pkcs11:object=%zz",
                "pkcs11:object=a?pin-value=1&pin-source=/f"):
        with pytest.raises(UsageError):
            parse_uri(bad)


def test_oaep_decoder_matches_cryptography() -> None:
    # Independent check of the hand-written EME-OAEP decoder: encrypt with `cryptography`, do the
    # raw RSA step with the private numbers, decode here.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(65537, 2048)
    n, d = key.public_key().public_numbers().n, key.private_numbers().d
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    for payload in (b"", b"\x00" * 32, os.urandom(33)):
        ct = key.public_key().encrypt(payload, oaep)
        em = pow(int.from_bytes(ct, "big"), d, n).to_bytes(256, "big")
        assert oaep_sha256_decode(em, 256) == payload
        with pytest.raises(KeyUnavailable):
            oaep_sha256_decode(bytes([em[0] ^ 1]) + em[1:], 256)
        with pytest.raises(KeyUnavailable):
            oaep_sha256_decode(em[:-1] + bytes([em[-1] ^ 1]), 256)


def test_pkcs11_sdk_is_imported_only_when_a_key_is_used() -> None:
    code = ("import sys, sopsy.core, sopsy.datakey, sopsy.keys\nfrom sopsy.keys import provider\n"
            "p = provider('pkcs11')\nfrom sopsy.keys.pkcs11 import parse_pkcs11_arg\n"
            "parse_pkcs11_arg('pkcs11:object=a')\nprint('pkcs11' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- against SoftHSM2 -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if _missing is not None:
        pytest.skip(f"SoftHSM2 unavailable: {_missing}")
    with pytest.MonkeyPatch.context() as mp:
        h = softhsm.start(tmp_path_factory.mktemp("softhsm"))
        # SoftHSM reads SOFTHSM2_CONF once per process, when the provider first loads it
        mp.setenv("SOFTHSM2_CONF", str(h.conf))
        h.init_token(TOKEN, PIN)
        h.init_token("other", OTHER_PIN)
        secrets = h.make_keys(TOKEN, [
            {"kind": "rsa-generate", "label": "rsa-gen", "id": "01"},
            {"kind": "rsa-import", "label": "rsa-imp"},
            {"kind": "aes-generate", "label": "aes-gen"},
            {"kind": "aes-import", "label": "aes-imp"},
            {"kind": "aes-generate", "label": "dup", "id": "0a"},
            {"kind": "aes-generate", "label": "dup", "id": "0b"},
        ])
        h.make_keys("other", [{"kind": "rsa-generate", "label": "rsa-gen", "id": "01"}])
        yield {"hsm": h, "module": h.module, "secrets": secrets}


@pytest.fixture()
def env(hsm: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Module from SOPSY_PKCS11_MODULE, PIN from SOPSY_PKCS11_PIN; PIN cache cleared."""
    monkeypatch.setenv("SOPSY_PKCS11_MODULE", hsm["module"])
    monkeypatch.setenv("SOPSY_PKCS11_PIN", PIN)
    PROVIDER._pins.clear()
    return hsm


def spec(obj: str, token: str = TOKEN, extra: str = "") -> KeySpec:
    (s,) = parse_pkcs11_arg(f"pkcs11:token={token};object={obj}{extra}", allow_pin_value=True)
    return s


@needs_hsm
@pytest.mark.parametrize("obj,mech", [("rsa-gen", MECH_RSA), ("rsa-imp", MECH_RSA),
                                      ("aes-gen", MECH_AES), ("aes-imp", MECH_AES)])
def test_wrap_unwrap_round_trip(env: dict[str, Any], obj: str, mech: str) -> None:
    for payload in (os.urandom(32), os.urandom(33)):
        entry = PROVIDER.wrap(spec(obj), payload)
        assert entry.type == "pkcs11"
        assert list(entry.fields) == ["uri", "mechanism", "created_at", "enc"]
        assert entry.fields["uri"] == f"pkcs11:token={TOKEN};object={obj}"
        assert entry.fields["mechanism"] == mech
        base64.b64decode(entry.enc, validate=True)
        assert PROVIDER.unwrap(entry) == payload
        # the metadata loader accepts the entry (created_at is validated as RFC 3339)
        meta = Metadata.from_dict({"pkcs11": [entry.fields], "lastmodified": entry.fields["created_at"],
                                   "mac": "", "version": "3.11.0"})
        assert meta.key_groups == [[entry]]
        assert PROVIDER.spec_of(entry) == KeySpec("pkcs11", entry.fields["uri"])


@needs_hsm
def test_rsa_wire_format_is_oaep_sha256(env: dict[str, Any]) -> None:
    """Checked with the imported key's private half, outside the token."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    priv = serialization.load_pem_private_key(env["secrets"]["rsa-imp"].encode(), None)
    assert isinstance(priv, rsa.RSAPrivateKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    payload = os.urandom(32)
    entry = PROVIDER.wrap(spec("rsa-imp"), payload)
    assert priv.decrypt(base64.b64decode(entry.enc), oaep) == payload
    # ... and the token unwraps what `cryptography` made
    foreign = KeyEntry("pkcs11", {**entry.fields, "enc": base64.b64encode(priv.public_key().encrypt(payload, oaep)).decode()})
    assert PROVIDER.unwrap(foreign) == payload


@needs_hsm
def test_aes_wire_format_is_gcm_nonce_ciphertext_tag(env: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = AESGCM(bytes.fromhex(env["secrets"]["aes-imp"]))
    payload = os.urandom(33)
    entry = PROVIDER.wrap(spec("aes-imp"), payload)
    blob = base64.b64decode(entry.enc)
    assert len(blob) == 12 + 33 + 16
    assert key.decrypt(blob[:12], blob[12:], GCM_AAD) == payload
    nonce = os.urandom(12)
    foreign = KeyEntry("pkcs11", {**entry.fields, "enc": base64.b64encode(nonce + key.encrypt(nonce, payload, GCM_AAD)).decode()})
    assert PROVIDER.unwrap(foreign) == payload
    tampered = bytearray(blob)
    tampered[20] ^= 1
    with pytest.raises(KeyUnavailable, match="did not authenticate"):
        PROVIDER.unwrap(KeyEntry("pkcs11", {**entry.fields, "enc": base64.b64encode(bytes(tampered)).decode()}))


@needs_hsm
def test_rsa_wrap_needs_no_pin_but_aes_and_unwrap_do(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPSY_PKCS11_PIN")
    entry = PROVIDER.wrap(spec("rsa-gen"), b"k" * 32)  # stdin is not a terminal under pytest
    with pytest.raises(KeyUnavailable, match="needs a PIN"):
        PROVIDER.unwrap(entry)
    with pytest.raises(UsageError, match="needs a PIN"):
        PROVIDER.wrap(spec("aes-gen"), b"k" * 32)
    # pin-value in a spec (from SOPSY_PKCS11_URIS) and pin-source in the URI both work
    entry = PROVIDER.wrap(spec("aes-gen", extra=f"?pin-value={PIN}"), b"k" * 32)
    assert "pin" not in entry.fields["uri"]
    PROVIDER._pins.clear()
    pin_file = env["hsm"].root / "pin.txt"
    pin_file.write_text(PIN + "\n")
    src = KeyEntry("pkcs11", {**entry.fields, "uri": entry.fields["uri"] + f"?pin-source=file://{pin_file}"})
    assert PROVIDER.unwrap(src) == b"k" * 32


@needs_hsm
def test_module_path_in_the_uri(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPSY_PKCS11_MODULE")
    with pytest.raises(UsageError, match="no PKCS#11 module"):
        PROVIDER.wrap(spec("rsa-gen"), b"k" * 32)
    entry = PROVIDER.wrap(spec("rsa-gen", extra=f"?module-path={env['module']}"), b"k" * 32)
    assert entry.fields["uri"].endswith(f"?module-path={env['module']}")
    assert PROVIDER.unwrap(entry) == b"k" * 32
    # a module-path that does not exist on this machine gives way to SOPSY_PKCS11_MODULE
    moved = KeyEntry("pkcs11", {**entry.fields, "uri": "pkcs11:token=sopsy-test;object=rsa-gen?module-path=/nonexistent/p11.so"})
    with pytest.raises(KeyUnavailable, match="cannot load PKCS#11 module /nonexistent/p11.so"):
        PROVIDER.unwrap(moved)
    monkeypatch.setenv("SOPSY_PKCS11_MODULE", env["module"])
    assert PROVIDER.unwrap(moved) == b"k" * 32


@needs_hsm
def test_errors_are_one_line_reasons_without_the_pin(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    entry = PROVIDER.wrap(spec("aes-gen"), b"k" * 32)
    bad_pin = "wrong-pin-777"
    monkeypatch.setenv("SOPSY_PKCS11_PIN", bad_pin)
    PROVIDER._pins.clear()
    fresh = Pkcs11Provider()  # no cached PIN
    cases: list[tuple[KeyEntry, str]] = [
        (entry, "wrong PIN for token token=sopsy-test (from SOPSY_PKCS11_PIN)"),
        (KeyEntry("pkcs11", {**entry.fields, "uri": "pkcs11:token=absent;object=aes-gen"}),
         "no token matching token=absent is present"),
    ]
    for e, reason in cases:
        with pytest.raises(KeyUnavailable) as err:
            fresh.unwrap(e)
        assert str(err.value) == reason
        assert bad_pin not in str(err.value) and PIN not in str(err.value)
    monkeypatch.setenv("SOPSY_PKCS11_PIN", PIN)
    for fields, reason in [
        ({"uri": "pkcs11:token=sopsy-test;object=nothing"}, "no AES key matches object=nothing"),
        ({"uri": "pkcs11:token=sopsy-test;object=dup"}, "several key objects match object=dup"),
        ({"uri": "pkcs11:object=aes-gen"}, r"2 tokens match \(any token\)"),
        ({"mechanism": "des3"}, "unknown mechanism 'des3'"),
        ({"enc": "not base64!"}, "not base64"),
        ({"uri": "pkcs11:tokn=x"}, "unknown path attribute"),
    ]:
        with pytest.raises(KeyUnavailable, match=reason):
            PROVIDER.unwrap(KeyEntry("pkcs11", {**entry.fields, **fields}))
    rsa_entry = PROVIDER.wrap(spec("rsa-gen"), b"k" * 32)
    with pytest.raises(KeyUnavailable, match="the token's RSA key did not decrypt this entry"):
        PROVIDER.unwrap(KeyEntry("pkcs11", {**rsa_entry.fields, "uri": "pkcs11:token=sopsy-test;object=rsa-imp"}))
    # the AES key named by id works where the label alone is ambiguous
    dup = PROVIDER.wrap(KeySpec("pkcs11", "pkcs11:token=sopsy-test;object=dup;id=%0b"), b"d" * 32)
    assert PROVIDER.unwrap(dup) == b"d" * 32
    with pytest.raises(UsageError, match="cannot wrap the data key for PKCS#11 key pkcs11:token=absent"):
        PROVIDER.wrap(spec("aes-gen", token="absent", extra=f"?pin-value={PIN}"), b"k" * 32)


@needs_hsm
def test_pin_asked_once_per_token(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [PROVIDER.wrap(spec(o), b"p" * 32) for o in ("rsa-gen", "aes-gen")]
    monkeypatch.delenv("SOPSY_PKCS11_PIN")
    PROVIDER._pins.clear()
    with pytest.raises(KeyUnavailable, match="needs a PIN"):
        PROVIDER.unwrap(entries[0])
    monkeypatch.setenv("SOPSY_PKCS11_PIN", PIN)
    assert PROVIDER.unwrap(entries[0]) == b"p" * 32
    monkeypatch.delenv("SOPSY_PKCS11_PIN")
    assert PROVIDER.unwrap(entries[1]) == b"p" * 32  # the PIN that worked is remembered


@needs_hsm
def test_shamir_groups_across_two_tokens(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    key = os.urandom(32)
    groups, threshold = datakey.wrap(key, [[spec("rsa-gen")], [spec("rsa-gen", token="other")]], 2)
    meta = Metadata(key_groups=groups, shamir_threshold=threshold)
    # SOPSY_PKCS11_PIN holds one token's PIN; the other comes from pin-source
    pin_file = env["hsm"].root / "other-pin.txt"
    pin_file.write_text(OTHER_PIN)
    groups[1][0].fields["uri"] += f"?pin-source={pin_file}"
    assert datakey.recover(meta) == key
    PROVIDER._pins.clear()
    pin_file.write_text("0000")
    with pytest.raises(KeyRetrievalError, match="wrong PIN for token token=other"):
        datakey.recover(meta)


# -- a file with an age and a PKCS#11 key, read by sops ------------------------------------------------


def _sops(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SOPS), *args], capture_output=True, text=True, env=env, check=False, timeout=60)


@needs_hsm
@pytest.mark.skipif(not SOPS.exists(), reason=f"the sops binary is not at {SOPS}")
def test_file_with_age_and_pkcs11_keys_works_with_sops(env: dict[str, Any], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sopsy.stores import get_store

    secret, recipient = age_generate()
    age_file = tmp_path / "age.txt"
    age_file.write_text(secret + "\n")
    text = '{\n  "db": {"password": "hunter2", "port": 5432},\n  "list": [1, true, "x"]\n}\n'
    store = get_store("json")
    p11 = spec("rsa-gen")
    out = core.encrypt_text(store, text, core.EncryptOptions(key_groups=[[KeySpec("age", recipient), p11]]))
    path = tmp_path / "secret.json"
    path.write_text(out)
    sops_meta = json.loads(out)["sops"]
    assert [e["uri"] for e in sops_meta["pkcs11"]] == [p11.id]
    assert len(sops_meta["age"]) == 1

    # sopsy decrypts it through the token alone
    opened = core.decrypt_text(store, out, decryption_order="pkcs11")
    assert opened.plaintext() == text
    # sopsy's rotate keeps the PKCS#11 key (same URI and mechanism, new data key)
    rotated = core.rotate(opened)
    rot_meta = json.loads(rotated)["sops"]
    assert [(e["uri"], e["mechanism"]) for e in rot_meta["pkcs11"]] == [(p11.id, MECH_RSA)]
    assert rot_meta["pkcs11"][0]["enc"] != sops_meta["pkcs11"][0]["enc"]
    assert core.decrypt_text(store, rotated, decryption_order="pkcs11").plaintext() == text

    sops_env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1", "SOPS_AGE_KEY_FILE": str(age_file),
                "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    dec = _sops(["decrypt", str(path)], sops_env)
    assert dec.returncode == 0, dec.stderr
    assert json.loads(dec.stdout) == json.loads(text)

    # what sops does to the entry when it rewrites the file: `set` and `rotate` drop it
    got = _sops(["set", str(path), '["db"]["port"]', "5433"], sops_env)
    assert got.returncode == 0, got.stderr
    after_set = json.loads(path.read_text())
    assert "pkcs11" not in after_set["sops"] and len(after_set["sops"]["age"]) == 1
    path.write_text(out)
    got = _sops(["rotate", "-i", str(path)], sops_env)
    assert got.returncode == 0, got.stderr
    assert "pkcs11" not in json.loads(path.read_text())["sops"]

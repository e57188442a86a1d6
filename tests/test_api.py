"""The Python API, used only through the public names of ``import sopsy`` (as the README shows)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import RECIPIENT, VECTORS, run_sops

import sopsy


def test_import_is_cheap() -> None:
    code = ("import sys, sopsy; heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('typer', 'click', 'rich', 'boto3', 'google', 'grpc', 'pkcs11', 'yaml', 'cryptography')"
            " or m.startswith('sopsy.')]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_load_a_file_sops_made() -> None:
    data = sopsy.load(VECTORS / "enc.yaml")
    assert data["hello"] == "Welcome to SOPS!"
    assert data["number"] == 1234 and data["float_int"] == 3.0 and data["nothing"] is None
    assert data["nested"]["list"] == ["a", 7, {"x": "y"}]
    assert data["ts"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_load_dotenv_gives_the_variables() -> None:
    data = sopsy.load(VECTORS / "enc.env")
    plain = (VECTORS / "plain.env").read_text()
    first = next(line for line in plain.splitlines() if "=" in line and not line.startswith("#"))
    key = first.split("=", 1)[0].removeprefix("export ").strip()
    assert key in data and isinstance(data[key], str)


def test_encrypt_then_decrypt_round_trip_and_sops_reads_it() -> None:
    plain = b'{\n  "db": {"password": "hunter2"},\n  "port": 5432\n}\n'
    enc = sopsy.encrypt(plain, format="json", age=RECIPIENT)
    assert b"hunter2" not in enc
    assert sopsy.decrypt(enc, format="json") == plain
    assert sopsy.loads(enc, format="json") == {"db": {"password": "hunter2"}, "port": 5432}
    r = run_sops("decrypt", "--input-type", "json", "--output-type", "json", "/dev/stdin", input=enc)
    assert r.returncode == 0, r.stderr


def test_encrypt_with_a_crypt_rule() -> None:
    enc = sopsy.encrypt(b"user: bob\npassword: x\n", format="yaml", age=[RECIPIENT],
                        rules={"encrypted_regex": "^password$"})
    assert b"user: bob" in enc and b"password: ENC[" in enc


def test_errors_are_classes_with_exit_codes(tmp_path: Path) -> None:
    enc = sopsy.encrypt(b"a: b\n", format="yaml", age=RECIPIENT)
    tampered = enc.replace(b"a: ENC[AES256_GCM,data:", b"a: ENC[AES256_GCM,data:AA")
    with pytest.raises(sopsy.SopsyError) as info:
        sopsy.decrypt(tampered, format="yaml")
    assert info.value.exit_code == 25 and isinstance(info.value, sopsy.DecryptTreeError)
    with pytest.raises(sopsy.NoFile) as missing:
        sopsy.load(tmp_path / "none.yaml")
    assert missing.value.exit_code == 100
    with pytest.raises(sopsy.MetadataNotFound):
        sopsy.loads(b"a: b\n", format="yaml")


def test_the_readme_example(tmp_path: Path) -> None:
    """The README's Python section, as written there: load, then edit one value in place."""
    path = tmp_path / "secrets.json"
    path.write_bytes(sopsy.encrypt(b'{\n  "db": {"password": "old", "port": 5432, "ratio": 1.5},\n  "hosts": [1, 2]\n}\n',
                                   format="json", age=RECIPIENT))
    config = sopsy.load(path)
    # numbers as json.loads gives them (sops's model makes every JSON number a float)
    assert config == {"db": {"password": "old", "port": 5432, "ratio": 1.5}, "hosts": [1, 2]}
    assert type(config["db"]["port"]) is int and type(config["hosts"][0]) is int and type(config["db"]["ratio"]) is float
    before = path.read_text()
    with sopsy.edit(path) as doc:
        doc["db"]["password"] = "new"
    after = path.read_text()
    changed = [a for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert changed and all('"password"' in a or '"lastmodified"' in a or '"mac"' in a for a in changed)
    assert sopsy.load(path)["db"]["password"] == "new"
    assert run_sops("decrypt", str(path)).returncode == 0

"""Shamir key groups that mix age, AWS KMS (moto) and a PKCS#11 token (SoftHSM2), through the CLI;
sops reads the groups it knows (age, kms) and ignores the one it does not (pkcs11)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from conftest import RECIPIENT, TESTDATA, run_sops, run_sopsy
from support import softhsm
from support.moto_server import create_key, moto_server, sops_env


def test_age_kms_pkcs11_groups(tmp_path: Path) -> None:
    missing = softhsm.missing_reason()
    if missing is not None:
        pytest.skip(f"SoftHSM2 unavailable: {missing}")
    hsm = softhsm.start(tmp_path / "hsm")
    hsm.init_token("prod", "sopsy-test-pin-97531")
    hsm.make_keys("prod", [{"kind": "rsa-generate", "label": "wrap", "id": "01"}])
    with moto_server() as endpoint:
        arn = create_key(endpoint)
        (tmp_path / ".sopsy.yaml").write_text(textwrap.dedent(f"""\
            creation_rules:
              - shamir_threshold: 2
                key_groups:
                  - age: [{RECIPIENT}]
                  - kms: [{{arn: "{arn}"}}]
                  - pkcs11: ["pkcs11:token=prod;object=wrap"]
        """))
        f = tmp_path / "m.yaml"
        f.write_text("password: hunter2\n")
        aws = sops_env(endpoint)
        token_env = {**hsm.env, "SOPSY_PKCS11_MODULE": hsm.module, "SOPSY_PKCS11_PIN": "sopsy-test-pin-97531"}
        no_age = {"SOPS_AGE_KEY_FILE": os.devnull}
        r = run_sopsy("encrypt", "-i", str(f), env={**aws, **token_env})
        assert r.returncode == 0, r.stderr
        text = f.read_text()
        assert "pkcs11:" in text and arn in text and RECIPIENT in text and "sopsy-test-pin-97531" not in text
        # sops: age + kms are two shares, enough for the threshold
        got = run_sops("decrypt", str(f), env={**aws, "SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_key.txt")})
        assert got.returncode == 0, got.stderr
        assert got.stdout == b"password: hunter2\n"
        # sopsy: token + kms, without age
        assert run_sopsy("decrypt", str(f), env={**aws, **token_env, **no_age}).stdout == b"password: hunter2\n"
        # sopsy: token + age, without AWS credentials
        no_aws = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
        assert run_sopsy("decrypt", str(f), env={**token_env, **no_aws}).stdout == b"password: hunter2\n"
        # only one share available: exit 128 with every key tried listed
        r = run_sopsy("decrypt", str(f), env={**token_env, **no_age, **no_aws})
        assert r.returncode == 128 and r.stdout == b""
        assert "age" in r.stderr.decode() and "kms" in r.stderr.decode()

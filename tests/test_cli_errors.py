"""Every mistake a user can make on the command line, once: the exit code, one line on stderr
naming what is wrong, nothing on stdout, no traceback, no "internal error", no secret."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGE_KEYS_BOTH, RECIPIENT, RECIPIENT2, TESTDATA, run_sopsy
from support.privileges import as_user, can_drop_privileges

SECRET = "hunter2"
KEY1 = str(TESTDATA / "throwaway_age_key.txt")
TWO_GROUPS = f"creation_rules:\n  - key_groups: [{{age: [{RECIPIENT}]}}, {{age: [{RECIPIENT2}]}}]\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Files for the mistakes below (made once: encrypting costs a process each)."""
    d = tmp_path_factory.mktemp("mistakes")
    files = {"plain": "plain.yaml", "enc": "enc.yaml", "enc2": "enc2.json", "groups": "groups.yaml"}

    def enc(name: str, text: str, *args: str, env: dict[str, str] | None = None) -> None:
        (d / name).write_text(text)
        r = run_sopsy("encrypt", "-i", *args, str(d / name), env=env)
        assert r.returncode == 0, r.stderr

    (d / "plain.yaml").write_text(f"user: admin\npassword: {SECRET}\n")
    enc("enc.yaml", f"user: admin\npassword: {SECRET}\n", "--age", RECIPIENT)
    enc("enc2.json", json.dumps({"password": SECRET}), "--age", RECIPIENT2)
    enc("nested.yaml", f"db:\n  password: {SECRET}\n", "--age", RECIPIENT)
    (d / "two-groups.yaml").write_text(TWO_GROUPS)
    enc("groups.yaml", f"password: {SECRET}\n", env={"SOPS_CONFIG": str(d / "two-groups.yaml")})
    text = (d / "enc.yaml").read_text()
    derived = {
        "tampered.yaml": text.replace("user: ENC[AES256_GCM,data:", "user: ENC[AES256_GCM,data:AA"),
        "badregex.yaml": text.replace("unencrypted_suffix: _unencrypted", "encrypted_regex: '('"),
        # metadata sops cannot unmarshal (as in files of sops 0.x-1.x): sops exits 1
        "noversion.yaml": re.sub(r"\n *version: [^\n]*", "", text),
        "nolastmodified.yaml": re.sub(r"lastmodified: [^\n]*", 'lastmodified: ""', text),
        "threshold.yaml": (d / "groups.yaml").read_text().replace("shamir_threshold: 2",
                                                                   "shamir_threshold: 1000000"),
        "empty.yaml": "", "invalid.yaml": "a: [unclosed\n", "big.yaml": f"port: {2**63}\n",
        "unreadable.yaml": "a: 1\n",
    }
    for name, content in derived.items():
        (d / name).write_text(content)
    (d / "unreadable.yaml").chmod(0)
    # 10,000 recipients none of which is ours: the error must stay one short line
    doc = json.loads((d / "enc2.json").read_text())
    doc["sops"]["age"] = doc["sops"]["age"] * 10000
    (d / "many.json").write_text(json.dumps(doc))
    (d / "dir").mkdir()
    (d / "existing-key.txt").write_text("# a key\n")
    for name, body in {
        "typo.yaml": f"creation_rules:\n  - path_regx: nothing-matches-this\n    age: {RECIPIENT}\n",
        "agee.yaml": f"creation_rules:\n  - agee: {RECIPIENT}\n",
        "badre.yaml": f"creation_rules:\n  - path_regex: '(('\n    age: {RECIPIENT}\n",
        "broken.yaml": "creation_rules: [\n",
        "nomatch.yaml": f"creation_rules:\n  - path_regex: ^prod/\n    age: {RECIPIENT}\n",
        "bigthreshold.yaml": f"creation_rules:\n  - age: {RECIPIENT}\n    shamir_threshold: 3\n",
        "keys2.yaml": f"creation_rules:\n  - age: {RECIPIENT2}\n",
    }.items():
        (d / "cfg").mkdir(exist_ok=True)
        (d / "cfg" / name).write_text(body)
    files = {k: str(d / v) for k, v in files.items()}
    files["d"] = str(d)
    return files


R, R2 = RECIPIENT, RECIPIENT2
# id, argv ({d}: the directory above, {enc}...: its files), extra environment, exit code, message part
MISTAKES: list[tuple[str, list[str], dict[str, str], int, str]] = [
    # the command line itself
    ("unknown option", ["decrypt", "--no-such-flag", "{enc}"], {}, 1, "No such option: --no-such-flag"),
    ("unknown command", ["decryptt", "{enc}"], {}, 1, "No such command 'decryptt'"),
    ("missing argument", ["rotate"], {}, 1, "Missing argument 'FILE'"),
    ("extra argument", ["rotate", "{enc}", "extra"], {}, 1, "unexpected extra argument"),
    ("several files to decrypt", ["decrypt", "{enc}", "extra"], {}, 1, "2 files given: several need --output-dir DIR"),
    ("not an integer", ["encrypt", "--shamir-secret-sharing-threshold", "x", "{plain}"], {}, 1, "not a valid integer"),
    ("unknown format", ["decrypt", "--input-type", "xml", "{enc}"], {}, 1, "unknown file type 'xml'"),
    ("unknown output format", ["decrypt", "--output-type", "toml", "{enc}"], {}, 1, "unknown file type 'toml'"),
    # missing, unreadable and odd files
    ("decrypt missing file", ["decrypt", "{d}/missing.yaml"], {}, 100, "no such file: "),
    ("encrypt missing file", ["encrypt", "--age", R, "{d}/missing.yaml"], {}, 100, "no such file: "),
    ("rotate -i missing file", ["rotate", "-i", "{d}/missing.yaml"], {}, 100, "no such file: "),
    ("rotate --add on missing file", ["rotate", "--add-age", R2, "{d}/missing.yaml"], {}, 49, "no such file: "),
    ("updatekeys missing file", ["updatekeys", "-y", "{d}/missing.yaml"], {}, 100, "no such file: "),
    ("filestatus missing file", ["filestatus", "{d}/missing.yaml"], {}, 100, "no such file: "),
    ("exec-env missing file", ["exec-env", "{d}/missing.yaml", "true"], {}, 100, "no such file: "),
    ("directory as input", ["decrypt", "{d}/dir"], {}, 2, "is a directory"),
    ("directory in place", ["encrypt", "-i", "--age", R, "{d}/dir"], {}, 2, "is a directory"),
    ("directory to edit", ["edit", "{d}/dir"], {}, 3, "is a directory"),
    ("unreadable file", ["decrypt", "{d}/unreadable.yaml"], {}, 2, "Permission denied"),
    ("device in place", ["decrypt", "-i", "/dev/null"], {}, 2, "not a regular file"),
    ("empty file", ["decrypt", "{d}/empty.yaml"], {}, 92, "{d}/empty.yaml: "),
    ("wrong --input-type", ["encrypt", "--age", R, "--input-type", "json", "{plain}"], {}, 2,
     "{plain}: invalid JSON at line 1, column 1"),
    ("wrong --input-type to decrypt", ["decrypt", "--input-type", "dotenv", "{enc}"], {}, 2,
     "{enc}: line 3 is neither a comment nor a KEY=VALUE assignment"),
    ("invalid YAML", ["encrypt", "--age", R, "{d}/invalid.yaml"], {}, 2, "invalid YAML"),
    ("not encrypted", ["decrypt", "{plain}"], {}, 1, "{plain}: sops metadata not found (the file is not encrypted)"),
    ("edit a plain file", ["edit", "{plain}"], {"SOPS_EDITOR": "true"}, 1, "{plain}: sops metadata not found"),
    ("set in a plain file", ["set", "{plain}", '["a"]', "1"], {}, 1, "{plain}: sops metadata not found"),
    ("exec-env of a plain file", ["exec-env", "{plain}", "true"], {}, 1, "{plain}: sops metadata not found"),
    ("encrypted YAML read as binary", ["decrypt", "--input-type", "binary", "{enc}"], {}, 1,
     "read as binary, yet it holds encrypted values; give its format with --input-type"),
    ("already encrypted", ["encrypt", "--age", R, "{enc}"], {}, 203, "{enc}: the file is already encrypted"),
    ("status of a missing file", ["status", "{d}/missing.yaml"], {}, 100, "no such file: {d}/missing.yaml"),
    ("nested value into dotenv", ["decrypt", "--output-type", "dotenv", "{d}/nested.yaml"], {}, 4,
     "cannot use complex value in dotenv file; offending key db"),
    ("a tree into binary", ["decrypt", "--output-type", "binary", "{enc}"], {}, 4,
     "cannot write the data as binary: only a file holding a single 'data' value can be; give --output-type"),
    # outputs
    ("output into a missing directory", ["decrypt", "--output", "{d}/nodir/out.yaml", "{enc}"], {}, 3, "does not exist"),
    ("output is a directory", ["decrypt", "--output", "{d}/dir", "{enc}"], {}, 3, "is a directory"),
    ("publish (not in sopsy)", ["publish", "{plain}"], {}, 1, "publish is not supported by sopsy"),
    ("keygen into a missing directory", ["keygen", "--output", "{d}/nodir/k.txt"], {}, 3, "does not exist"),
    ("keygen over a file", ["keygen", "--output", "{d}/existing-key.txt"], {}, 3, "exists; not overwriting"),
    # conflicting options
    ("in place and output", ["decrypt", "-i", "--output", "{d}/o.yaml", "{enc}"], {}, 8, "--in-place cannot be"),
    ("in place on stdin", ["decrypt", "-i", "-"], {}, 8, "--in-place needs a file"),
    ("two crypt rules", ["encrypt", "--age", R, "--encrypted-regex", "a", "--unencrypted-suffix", "_u", "{plain}"],
     {}, 8, "only one of"),
    # bad values
    ("bad encrypted regex", ["encrypt", "--age", R, "--encrypted-regex", "(", "{plain}"], {}, 1,
     "--encrypted-regex: not a valid regular expression: missing ): ("),
    ("bad unencrypted regex", ["encrypt", "--age", R, "--unencrypted-regex", "a{{1001}}", "{plain}"], {}, 1,
     "--unencrypted-regex: not a valid regular expression"),
    ("bad comment regex", ["encrypt", "--age", R, "--encrypted-comment-regex", "[", "{plain}"], {}, 1,
     "--encrypted-comment-regex: not a valid regular expression"),
    ("threshold above the groups", ["encrypt", "--age", f"{R},{R2}", "--shamir-secret-sharing-threshold", "2",
                                    "{plain}"], {}, 1, "is larger than the number of key groups (1)"),
    ("negative threshold", ["encrypt", "--age", R, "--shamir-secret-sharing-threshold", "-2", "{plain}"], {}, 1,
     "must be a positive number"),
    ("unknown key type to try first", ["decrypt", "--decryption-order", "age,pgpp", "{enc}"], {}, 1,
     "--decryption-order: unknown key type 'pgpp'"),
    ("unknown key type in the environment", ["decrypt", "{enc}"], {"SOPS_DECRYPTION_ORDER": "kms,nope"}, 1,
     "SOPS_DECRYPTION_ORDER: unknown key type 'nope'"),
    ("key type twice", ["decrypt", "--decryption-order", "age,age", "{enc}"], {}, 112, "listed twice"),
    ("bad encryption context", ["encrypt", "--age", R, "--encryption-context", "nocolon", "{plain}"], {}, 6,
     "encryption context"),
    ("bad extract path", ["decrypt", "--extract", "password", "{enc}"], {}, 91, "invalid tree path"),
    ("absent extract path", ["decrypt", "--extract", '["nope"]', "{enc}"], {}, 1, "component ['nope'] not found"),
    ("bad recipient", ["encrypt", "--age", "age1typo", "{plain}"], {}, 1, "not a valid age recipient"),
    ("remove a key the file lacks", ["rotate", "--rm-age", R2, "{enc}"], {}, 1, "cannot remove keys"),
    ("remove every key", ["rotate", "--rm-age", R, "{enc}"], {}, 1, "no key to decrypt it"),
    ("bad lock timeout", ["decrypt", "-i", "{enc}"], {"SOPSY_LOCK_TIMEOUT": "soon"}, 1, "SOPSY_LOCK_TIMEOUT must be"),
    ("integer beyond int64", ["encrypt", "--age", R, "{d}/big.yaml"], {}, 23,
     "'port': the integer is outside the signed 64-bit range"),
    # configuration
    ("misspelt path_regex", ["encrypt", "{plain}"], {"SOPS_CONFIG": "{d}/cfg/typo.yaml"}, 5,
     "creation rule 1: unknown key 'path_regx' (did you mean path_regex?)"),
    ("misspelt age", ["encrypt", "{plain}"], {"SOPS_CONFIG": "{d}/cfg/agee.yaml"}, 5,
     "creation rule 1: unknown key 'agee' (did you mean age?)"),
    ("bad regex in config", ["encrypt", "{plain}"], {"SOPS_CONFIG": "{d}/cfg/badre.yaml"}, 5,
     "creation rule 1: path_regex is not a valid regular expression"),
    ("invalid config YAML", ["encrypt", "{plain}"], {"SOPS_CONFIG": "{d}/cfg/broken.yaml"}, 5, "invalid YAML"),
    ("config threshold above the groups", ["encrypt", "{plain}"], {"SOPS_CONFIG": "{d}/cfg/bigthreshold.yaml"}, 5,
     "shamir_threshold 3 is larger than the number of key groups (1)"),
    ("no matching rule", ["encrypt", "{plain}"], {"SOPS_CONFIG": "{d}/cfg/nomatch.yaml"}, 1, "no matching creation"),
    ("missing config", ["--config", "{d}/cfg/none.yaml", "encrypt", "{plain}"], {}, 5, "does not exist"),
    ("updatekeys without an answer", ["updatekeys", "{enc}"], {"SOPS_CONFIG": "{d}/cfg/keys2.yaml"}, 1, "use -y"),
    ("edit a new file without a rule", ["edit", "{d}/new.yaml"], {"SOPS_CONFIG": "{d}/cfg/nomatch.yaml"}, 1,
     "creating {d}/new.yaml (it does not exist): no matching creation rule"),
    # keys
    ("missing age key file", ["decrypt", "{enc}"], {"SOPS_AGE_KEY_FILE": "{d}/no-keys.txt"}, 128,
     "{d}/no-keys.txt"),
    ("wrong key", ["decrypt", "{enc2}"], {"SOPS_AGE_KEY_FILE": KEY1}, 128, "none of the age identities matches"),
    ("10,000 recipients, none ours", ["decrypt", "{d}/many.json"], {"SOPS_AGE_KEY_FILE": KEY1}, 128,
     "and 9997 more: none of the age identities matches"),
    ("huge threshold in the metadata", ["decrypt", "{d}/threshold.yaml"], {}, 128,
     "shamir_threshold (1000000) is larger than its number of key groups (2)"),
    ("bad regex in the metadata", ["decrypt", "{d}/badregex.yaml"], {}, 2,
     "the file's encrypted_regex is not a valid regular expression"),
    ("tampered value", ["decrypt", "{d}/tampered.yaml"], {}, 25, ""),
    ("no version in the metadata", ["decrypt", "{d}/noversion.yaml"], {}, 1, "has no version string"),
    ("empty lastmodified in the metadata", ["decrypt", "{d}/nolastmodified.yaml"], {}, 1, "not an RFC 3339 time"),
    # the editor
    ("no such editor", ["edit", "{enc}"], {"SOPS_EDITOR": "{d}/no-editor"}, 201, "editor not found"),
    ("unsplittable editor", ["edit", "{enc}"], {"SOPS_EDITOR": "'vim"}, 201, "cannot be split"),
    ("editor fails", ["edit", "{enc}"], {"SOPS_EDITOR": "false"}, 1, "the editor exited with code 1"),
    ("no change", ["edit", "{enc}"], {"SOPS_EDITOR": "true"}, 200, "not been modified"),
]


@pytest.mark.parametrize("args, env, code, fragment", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistake_gives_its_code_and_one_line(world: dict[str, str], args: list[str], env: dict[str, str],
                                             code: int, fragment: str) -> None:
    def fill(s: str) -> str:
        return s.format(**world)

    argv = [fill(a) for a in args]
    full_env = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), **{k: fill(v) for k, v in env.items()}}
    if "SOPS_CONFIG" not in env:
        full_env.pop("SOPS_CONFIG", None)
    preexec = None
    if "unreadable" in " ".join(argv):
        why = can_drop_privileges()
        if why:
            pytest.skip(f"root reads any file and {why}")
        preexec = as_user()
    before = {p.name: p.read_bytes() for p in Path(world["d"]).iterdir() if p.is_file() and p.stat().st_mode & 0o444}
    r = subprocess.run([sys.executable, "-m", "sopsy", *argv], input=b"", capture_output=True, env=full_env,
                       check=False, timeout=120, preexec_fn=preexec)  # noqa: PLW1509
    err = r.stderr.decode()
    assert r.returncode == code, err
    # updatekeys shows the key changes (no values) before it asks
    assert len(err.strip().splitlines()) == (4 if fragment == "use -y" else 1), err
    assert err.strip().splitlines()[-1].startswith("sopsy: ")
    assert "Traceback" not in err and "internal error" not in err and SECRET not in err
    assert len(err) < 1500, f"{len(err)} characters"
    assert fill(fragment) in err
    assert r.stdout == b""
    after = {p.name: p.read_bytes() for p in Path(world["d"]).iterdir() if p.is_file() and p.name in before}
    assert after == before  # a failed command changes nothing


def test_an_age_secret_key_given_as_recipient_is_never_echoed(world: dict[str, str]) -> None:
    """A newcomer pastes the identity instead of its public key: refused, and the key never
    reaches stderr (CI logs), wherever it was given."""
    secret = next(ln for ln in Path(KEY1).read_text().splitlines() if ln.startswith("AGE-SECRET-KEY-"))
    cfg = Path(world["d"]) / "cfg" / "secret-as-recipient.yaml"
    cfg.write_text(f"creation_rules:\n  - age: {secret}\n")
    for argv, env in ((["encrypt", "--age", secret, world["plain"]], {}),
                      (["encrypt", "--age", f"{RECIPIENT},{secret.lower()}", world["plain"]], {}),
                      (["rotate", "--rm-age", secret, world["enc"]], {}),
                      (["encrypt", world["plain"]], {"SOPS_AGE_RECIPIENTS": secret}),
                      (["encrypt", world["plain"]], {"SOPS_CONFIG": str(cfg)})):
        r = run_sopsy(*argv, env=env)
        err = r.stderr.decode()
        assert r.returncode == 1 and "an age secret key was given where a recipient" in err, err
        assert secret.split("-")[-1][:20].lower() not in err.lower() and r.stdout == b""


def test_output_redirected_onto_the_input_file_is_refused(tmp_path: Path) -> None:
    """`sopsy encrypt f > f`: the shell has emptied f already; a dotenv or binary file was then
    encrypted empty with exit 0 (the secrets gone without a word). Now: a one-line error."""
    for name in ("app.env", "blob.bin"):
        f = tmp_path / name
        f.write_text("A=1\n")
        with f.open("w") as out:  # what `> f` does
            r = subprocess.run([sys.executable, "-m", "sopsy", "encrypt", "--age", RECIPIENT, str(f)], stdout=out,
                               stderr=subprocess.PIPE, check=False)
        assert r.returncode == 1 and f"standard output is {f} itself" in r.stderr.decode(), r.stderr
        assert f.read_bytes() == b""  # nothing written into it


def test_decryption_failures_name_the_file(tmp_path: Path) -> None:
    """No key, a tampered value, a MAC that does not check: the line names the file, once, for
    every command that opens one (the fast JSON/dotenv path too)."""
    key2 = {"SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_key2.txt")}
    for name, text in (("s.yaml", "a: x\n"), ("s.json", '{"a": "x"}\n'), ("s.env", "A=x\n")):
        f = tmp_path / name
        f.write_text(text)
        assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f)).returncode == 0
        for args in (("decrypt", str(f)), ("exec-env", str(f), "true"), ("set", str(f), '["a"]', '"y"')):
            r = run_sopsy(*args, env=key2)
            assert r.returncode == 128, r.stderr
            assert r.stderr.startswith(f"sopsy: {f}: could not retrieve the data key".encode()), r.stderr
            assert r.stderr.count(str(f).encode()) == 1
        bad = tmp_path / f"bad-{name}"
        bad.write_bytes(f.read_bytes().replace(b"ENC[AES256_GCM,data:", b"ENC[AES256_GCM,data:AA", 1))
        r = run_sopsy("decrypt", str(bad))
        assert r.returncode == 25 and r.stderr.startswith(f"sopsy: {bad}: a value".encode()), r.stderr


def test_set_and_unset_mistakes_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("a: x\n")
    assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f)).returncode == 0
    r = run_sopsy("set", str(f), '["a"]', "not json")
    assert (r.returncode, r.stderr) == (7, f'sopsy: {f}: ["a"]: the value is not valid JSON\n'.encode())
    r = run_sopsy("unset", str(f), '["zz"]')
    assert (r.returncode, r.stderr) == (1, f'sopsy: {f}: key not found: ["zz"]\n'.encode())

"""Creation rules (sopsy/config.py): lookup, matching, schema, errors, and agreement with real sops."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import sops_binary

from sopsy.config import ConfigError, CreationRule, find_config, load_rule, match_path
from sopsy.errors import ConflictingParameters, UsageError
from sopsy.keys import KeySpec
from sopsy.rules import RULE_NAMES, CryptRule

A1 = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
A2 = "age1ujce3d0mtfr6gqs5ufrk2gc3ag2l7y473cvd7536vfnetf9a3sus7gdsgt"
REPO = Path(__file__).resolve().parent.parent
SOPS = Path(sops_binary())  # the real sops from sops-binary, found next to this Python


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ages(rule: CreationRule | None) -> list[list[str]]:
    assert rule is not None
    return [[k.id for k in g if k.type == "age"] for g in rule.key_groups]


@pytest.fixture(autouse=True)
def _no_env_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOPS_CONFIG", raising=False)


# --- lookup ----------------------------------------------------------------------------------

def test_walks_up_from_the_files_directory_not_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo_cfg = write(tmp_path / "repo" / ".sops.yaml", f"creation_rules: [{{age: {A1}}}]\n")
    write(tmp_path / "elsewhere" / ".sops.yaml", f"creation_rules: [{{age: {A2}}}]\n")
    target = tmp_path / "repo" / "a" / "b" / "secret.yaml"
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert find_config(str(target), None) == repo_cfg
    # relative file path is taken relative to the cwd, then walked from its own directory
    monkeypatch.chdir(tmp_path)
    assert find_config("repo/a/b/secret.yaml", None) == Path(os.path.abspath(repo_cfg))


def test_stdin_walks_up_from_the_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / ".sops.yaml", "creation_rules: []\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")
    assert find_config(None, None) == cfg


def test_sopsy_yaml_preferred_in_the_same_directory_nearest_wins_otherwise(tmp_path: Path) -> None:
    write(tmp_path / ".sops.yaml", "creation_rules: []\n")
    top_sopsy = write(tmp_path / ".sopsy.yaml", "creation_rules: []\n")
    assert find_config(str(tmp_path / "f.yaml"), None) == top_sopsy
    near_sops = write(tmp_path / "sub" / ".sops.yaml", "creation_rules: []\n")
    assert find_config(str(tmp_path / "sub" / "f.yaml"), None) == near_sops


def test_sops_yml_is_not_a_config(tmp_path: Path) -> None:
    write(tmp_path / "p" / ".sops.yml", "creation_rules: []\n")
    found = find_config(str(tmp_path / "p" / "f.yaml"), None)
    assert found is None or tmp_path not in found.parents


def test_explicit_and_env_override_the_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / ".sops.yaml", "creation_rules: []\n")
    other = write(tmp_path / "conf" / "custom.yaml", "creation_rules: []\n")
    env = write(tmp_path / "conf" / "env.yaml", "creation_rules: []\n")
    f = str(tmp_path / "f.yaml")
    assert find_config(f, str(other)) == other
    monkeypatch.setenv("SOPS_CONFIG", str(env))
    assert find_config(f, None) == env
    assert find_config(f, str(other)) == other  # --config beats the environment
    with pytest.raises(ConfigError) as exc:
        find_config(f, str(tmp_path / "missing.yaml"))
    assert exc.value.exit_code == 5


# --- matching --------------------------------------------------------------------------------

def test_path_regex_is_relative_to_the_config_dir_or_absolute_outside(tmp_path: Path) -> None:
    cfg = write(tmp_path / "repo" / ".sopsy.yaml", f"""
creation_rules:
  - path_regex: ^prod/.*\\.yaml$
    age: {A1}
  - path_regex: ^/
    age: {A2}
  - age: {A1},{A2}
""")
    repo = tmp_path / "repo"
    assert match_path(cfg, repo / "prod" / "db.yaml") == os.path.join("prod", "db.yaml")
    assert ages(load_rule(cfg, str(repo / "prod" / "db.yaml"))) == [[A1]]
    assert ages(load_rule(cfg, str(repo / "dev" / "db.yaml"))) == [[A1, A2]]
    outside = tmp_path / "outside" / "prod" / "db.yaml"
    assert match_path(cfg, outside) == str(outside)
    assert ages(load_rule(cfg, str(outside))) == [[A2]]  # absolute path: ^prod/ misses, ^/ hits


def test_path_regex_is_searched_not_anchored_and_first_match_wins(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", f"""
creation_rules:
  - path_regex: secret
    age: {A2}
  - path_regex: \\.yaml$
    age: {A1}
""")
    assert ages(load_rule(cfg, str(tmp_path / "x" / "my-secrets.yaml"))) == [[A2]]
    assert ages(load_rule(cfg, str(tmp_path / "plain.yaml"))) == [[A1]]


def test_no_matching_rule_is_a_one_line_usage_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", f"creation_rules:\n  - path_regex: ^only/\n    age: {A1}\n")
    with pytest.raises(UsageError) as exc:
        load_rule(cfg, str(tmp_path / "f.yaml"))
    assert exc.value.exit_code == 1
    assert "no matching creation rule in" in str(exc.value) and str(cfg) in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("text", ["", "# nothing\n", "destination_rules: []\n", "stores: {yaml: {indent: 2}}\n"])
def test_config_without_creation_rules_counts_as_none(tmp_path: Path, text: str) -> None:
    cfg = write(tmp_path / ".sops.yaml", text)
    assert load_rule(cfg, str(tmp_path / "f.yaml")) is None


def test_empty_creation_rules_list_matches_nothing(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", "creation_rules: []\n")
    with pytest.raises(UsageError):
        load_rule(cfg, str(tmp_path / "f.yaml"))


# --- schema ----------------------------------------------------------------------------------

def test_string_and_list_key_lists_are_the_same(tmp_path: Path) -> None:
    cfg_s = write(tmp_path / "s" / ".sops.yaml", f"creation_rules: [{{age: ' {A1} , {A2},'}}]\n")
    cfg_l = write(tmp_path / "l" / ".sops.yaml", f"creation_rules: [{{age: [{A1}, {A2}]}}]\n")
    assert ages(load_rule(cfg_s, str(tmp_path / "s" / "f"))) == [[A1, A2]]
    assert ages(load_rule(cfg_l, str(tmp_path / "l" / "f"))) == [[A1, A2]]


def test_flat_lists_of_every_type(tmp_path: Path) -> None:
    arn = "arn:aws:kms:us-east-1:111122223333:key/k1"
    role = "arn:aws:iam::111122223333:role/r"
    gcp = "projects/p/locations/global/keyRings/r/cryptoKeys/k"
    uri1 = "pkcs11:token=t1;object=a,b;type=private?pin-value=1234"
    uri2 = "pkcs11:token=t2;object=c"
    cfg = write(tmp_path / ".sopsy.yaml", f"""
creation_rules:
  - age: {A1}
    pgp: "AAAA BBBB, CCCC"
    kms: ["{arn}+{role}", "{arn}"]
    aws_profile: dev
    gcp_kms: {gcp}
    pkcs11: "{uri1}, {uri2}"
    azure_keyvault: https://v.vault.azure.net/keys/n/1
    hc_vault_transit_uri: https://vault:8200/v1/transit/keys/k
""")
    rule = load_rule(cfg, str(tmp_path / "f.yaml"), encryption_context={"app": "x"})
    assert rule is not None and len(rule.key_groups) == 1
    group = rule.key_groups[0]
    assert [str(k) for k in group] == [
        f"age:{A1}", f"pkcs11:{uri1}", f"pkcs11:{uri2}", "pgp:AAAABBBB", "pgp:CCCC", f"kms:{arn}", f"kms:{arn}",
        f"gcp_kms:{gcp}", "azure_kv:https://v.vault.azure.net/keys/n/1",
        "hc_vault:https://vault:8200/v1/transit/keys/k"]
    kms = [k for k in group if k.type == "kms"]
    assert kms[0].options == {"role": role, "context": {"app": "x"}, "aws_profile": "dev"}
    assert kms[1].options == {"role": "", "context": {"app": "x"}, "aws_profile": "dev"}
    assert rule.shamir_threshold == 0 and rule.crypt_rule is None and rule.mac_only_encrypted is False


def test_key_groups_with_merge_dedup_and_shamir(tmp_path: Path) -> None:
    arn = "arn:aws:kms:eu-west-1:111122223333:key/k2"
    cfg = write(tmp_path / ".sops.yaml", f"""
creation_rules:
  - age: {A1}          # ignored: key_groups replace the flat lists
    shamir_threshold: 2
    key_groups:
      - age: ["{A1},{A2}", {A1}]
        merge:
          - age: [{A2}]
            merge:
              - age: [{A1}]
      - kms:
          - arn: {arn}
            role: arn:aws:iam::111122223333:role/r
            context: {{env: prod, n: 1}}
            aws_profile: p
          - arn: {arn}
        gcp_kms: [{{resource_id: projects/p/locations/l/keyRings/r/cryptoKeys/k}}]
        azure_keyvault: [{{vaultUrl: "https://v.vault.azure.net", key: n, version: "1"}}]
        hc_vault: [https://vault:8200/v1/transit/keys/k]
        pkcs11: ["pkcs11:token=a;object=b"]
        pgp: [AAAA]
""")
    rule = load_rule(cfg, str(tmp_path / "f.yaml"))
    assert rule is not None and rule.shamir_threshold == 2
    # merge first (depth first), then the group's own keys; repeats dropped, first kept
    assert ages(rule) == [[A1, A2], []]
    second = rule.key_groups[1]
    assert [k.type for k in second] == ["pkcs11", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"]
    (kms,) = [k for k in second if k.type == "kms"]  # the second kms entry repeats the ARN (sops: ToString = ARN)
    assert kms == KeySpec("kms", arn)
    assert kms.options == {"role": "arn:aws:iam::111122223333:role/r", "context": {"env": "prod", "n": "1"},
                           "aws_profile": "p"}
    assert [k.id for k in second if k.type == "azure_kv"] == ["https://v.vault.azure.net/keys/n/1"]


def test_flat_lists_keep_duplicates(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", f"creation_rules: [{{age: '{A1},{A1}'}}]\n")
    assert ages(load_rule(cfg, str(tmp_path / "f"))) == [[A1, A1]]


def test_crypt_rule_and_mac_only(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", f"""
creation_rules:
  - path_regex: one
    age: {A1}
    encrypted_regex: ^(data|stringData)$
    mac_only_encrypted: true
  - path_regex: two
    age: {A1}
    unencrypted_suffix: _plain
    encrypted_comment_regex: sops:enc
""")
    rule = load_rule(cfg, str(tmp_path / "one.yaml"))
    assert rule is not None
    assert rule.crypt_rule == CryptRule("encrypted_regex", "^(data|stringData)$")
    assert rule.mac_only_encrypted is True
    with pytest.raises(ConflictingParameters) as exc:
        load_rule(cfg, str(tmp_path / "two.yaml"))
    assert exc.value.exit_code == 8


def test_unknown_top_level_keys_are_ignored(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", f"""
version: 7
anchors: &k {{age: {A1}}}
creation_rules:
  - path_regex: json$
    age: {A1}
destination_rules: [{{path_regex: x, s3_bucket: b}}]
""")
    assert ages(load_rule(cfg, str(tmp_path / "anything.json"))) == [[A1]]


@pytest.mark.parametrize("rule, fragment", [
    # a misspelt path_regex would otherwise make the rule match every file
    ("{path_regx: ^prod/, age: A}", "creation rule 2: unknown key 'path_regx' (did you mean path_regex?)"),
    ("{path_regex: ^prod/, agee: A}", "creation rule 2: unknown key 'agee' (did you mean age?)"),
    ("{filename_regex: ^prod/, age: A}", "creation rule 2: unknown key 'filename_regex' (sops 3 no longer reads"),
    ("{path_regex: x, key_groups: [{age: [A]}, {kmss: []}]}", "creation rule 2: key group 2: unknown key 'kmss'"),
    ("{path_regex: x, key_groups: [{kms: [{arn: a, rolle: r}]}]}", "key group 1: kms entry: unknown key 'rolle'"),
    ("{path_regex: x, key_groups: [{merge: [{pgpp: []}]}]}", "key group 1 (merge): unknown key 'pgpp'"),
    ("{path_regex: x, age: A, colour: blue}", "creation rule 2: unknown key 'colour' (known keys: age,"),
    ("{path_regex: x, age: A, encrypted_regex: '('}", "creation rule 2: encrypted_regex is not a valid regular"),
    ("{path_regex: '[', age: A}", "creation rule 2: path_regex is not a valid regular expression"),
])
def test_unknown_keys_and_bad_regexes_in_any_rule_are_errors(tmp_path: Path, rule: str, fragment: str) -> None:
    """Every rule is checked, also those after the matching one (rule 1 matches here)."""
    cfg = write(tmp_path / ".sops.yaml", f"creation_rules:\n  - {{age: {A1}}}\n  - {rule.replace('A', A1)}\n")
    with pytest.raises(ConfigError) as exc:
        load_rule(cfg, str(tmp_path / "f.yaml"))
    assert fragment in str(exc.value) and exc.value.exit_code == 5
    assert "\n" not in str(exc.value)


def test_a_threshold_larger_than_the_groups_is_an_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / ".sops.yaml", f"creation_rules:\n  - {{age: {A1}, shamir_threshold: 2}}\n")
    with pytest.raises(ConfigError, match=r"creation rule 1: shamir_threshold 2 is larger than the number of key gr"):
        load_rule(cfg, str(tmp_path / "f.yaml"))


@pytest.mark.parametrize("body, fragment", [
    ("creation_rules: [\n  - age: x\n", "invalid YAML at line"),
    ("creation_rules: {age: x}\n", "creation_rules must be a list"),
    ("creation_rules: [{age: 12}]\n", "age must be a string or a list of strings"),
    ("creation_rules: [{age: x, shamir_threshold: '2'}]\n", "shamir_threshold"),
    ("creation_rules: [{age: x, mac_only_encrypted: 'yes'}]\n", "mac_only_encrypted"),
    ("creation_rules: [{path_regex: '((', age: x}]\n", "creation rule 1: path_regex is not a valid regular"),
    ("creation_rules: [{key_groups: [{kms: [arn:aws:kms:x]}]}]\n", "kms must be a list of mappings"),
    ("creation_rules: [{age: a, age: b}]\n", "duplicate key 'age'"),
    ("- just\n- a list\n", "must be a YAML mapping"),
])
def test_malformed_configs_are_one_line_config_errors(tmp_path: Path, body: str, fragment: str) -> None:
    cfg = write(tmp_path / ".sops.yaml", body)
    with pytest.raises(ConfigError) as exc:
        load_rule(cfg, str(tmp_path / "f.yaml"))
    message = str(exc.value)
    assert fragment in message and str(cfg) in message and "\n" not in message
    assert exc.value.exit_code == 5


def test_path_regex_scalar_is_read_as_a_string(tmp_path: Path) -> None:
    # yaml.v3 reads `path_regex: 12` into a Go string; so do we
    cfg = write(tmp_path / ".sops.yaml", f"creation_rules: [{{path_regex: 12, age: {A2}}}, {{age: {A1}}}]\n")
    assert ages(load_rule(cfg, str(tmp_path / "v12.yaml"))) == [[A2]]
    assert ages(load_rule(cfg, str(tmp_path / "v1.yaml"))) == [[A1]]


def test_example_config_loads(tmp_path: Path) -> None:
    example = REPO / ".sopsy.yaml.example"
    cfg = write(tmp_path / ".sopsy.yaml", example.read_text())
    doc = yaml.safe_load(example.read_text())
    assert len(doc["creation_rules"]) >= 5
    seen_types: set[str] = set()
    for probe in ("k8s/prod/secret.yaml", "prod/db.yaml", "hsm/app.env", "shared/a.json", "terraform.tfvars",
                  "anything/else.ini"):
        rule = load_rule(cfg, str(tmp_path / probe))
        assert rule is not None and rule.has_keys, probe
        seen_types |= {k.type for g in rule.key_groups for k in g}
    assert {"age", "kms", "gcp_kms", "pkcs11"} <= seen_types


# --- agreement with the real sops binary ------------------------------------------------------

def _sops_choice(cwd: Path, target: str) -> tuple[int, list[list[str]], int, CryptRule | None, bool]:
    """Exit code, age recipients per group, Shamir threshold, crypt rule, mac_only, as sops wrote them."""
    env = dict(os.environ, SOPS_DISABLE_VERSION_CHECK="1")
    env.pop("SOPS_CONFIG", None)
    proc = subprocess.run([str(SOPS), "encrypt", target], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        return proc.returncode, [], 0, None, False
    meta = yaml.safe_load(proc.stdout)["sops"]
    groups = meta.get("key_groups") or [meta]
    recipients = [[e["recipient"] for e in (g.get("age") or [])] for g in groups]
    crypt = CryptRule.pick({name: meta.get(name) for name in RULE_NAMES})
    return 0, recipients, meta.get("shamir_threshold", 0), crypt, bool(meta.get("mac_only_encrypted"))


def _our_choice(cfg: Path, path: str) -> tuple[int, list[list[str]], int, CryptRule | None, bool]:
    """The same, from our CreationRule, with sops's defaults filled in the way sops fills them."""
    try:
        rule = load_rule(cfg, path)
    except UsageError as exc:
        return exc.exit_code, [], 0, None, False
    assert rule is not None
    groups = ages(rule)
    threshold = rule.shamir_threshold or (len(groups) if len(groups) > 1 else 0)
    crypt = rule.crypt_rule or CryptRule("unencrypted_suffix", "_unencrypted")
    return 0, groups, threshold, crypt, rule.mac_only_encrypted


@pytest.mark.skipif(not SOPS.exists(), reason=f"the real sops binary is not installed at {SOPS}")
def test_rule_selection_and_recipients_match_real_sops(tmp_path: Path) -> None:
    config_text = f"""
creation_rules:
  - path_regex: ^groups/
    shamir_threshold: 2
    key_groups:
      - age: ["{A2},{A1}"]
        merge: [{{age: [{A1}]}}]
      - age: [{A2}, {A2}]
  - path_regex: ^flat/.*\\.yaml$
    age: " {A2} , {A1},{A2}"
    encrypted_regex: ^k$
    mac_only_encrypted: true
  - path_regex: ^three/
    key_groups: [{{age: [{A1}]}}, {{age: [{A2}]}}, {{age: [{A1}, {A2}]}}]
  - path_regex: ^/
    age: [{A2}]
  - path_regex: \\.yaml$
    age: {A1}
"""
    repo = tmp_path / "repo"
    cfg = write(repo / ".sops.yaml", config_text)
    files = ["groups/a.yaml", "flat/b.yaml", "three/t.yaml", "c.yaml", "../outside/d.yaml", "e.json"]
    for name in files:
        write(repo / name, '{"k": "v"}\n')
    compared = 0
    for name in files:
        theirs = _sops_choice(repo, name)  # sops searches from its cwd = the config dir
        path = str(repo / name)
        assert find_config(path, None) == cfg or name.startswith("..")
        assert _our_choice(cfg, path) == theirs, name
        compared += 1 if theirs[0] == 0 else 0
    assert compared == len(files) - 1  # e.json matches no rule: both exit 1

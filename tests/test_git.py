"""sopsy as git's merge and diff driver: real `git merge` and `git rebase` in temporary repositories
with the drivers installed by `sopsy git setup`, for YAML, JSON and dotenv.

Each scenario is one of the failures the git issue lists, in its own repository (copied from
one prepared template, so setup is paid once). Expected results are written by hand. After each
scenario every git object (loose and packed), every file under .git (rerere is on), the work tree
and the driver's output are searched for every plaintext secret (all spelled ``s3cr...``), and
merged files are decrypted by the real sops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import AGE_KEYS_BOTH, RECIPIENT, RECIPIENT2, TESTDATA, run_sops, run_sopsy

from sopsy import core, datakey
from sopsy.keys import KeySpec
from sopsy.metadata import Metadata
from sopsy.rules import CryptRule
from sopsy.stores import get_store, store_name_for

SOPSY_CMD = f"{sys.executable} -m sopsy"
KEY2 = TESTDATA / "throwaway_age_key2.txt"
SECRET = re.compile(rb"s3cr[\w.-]*")
YAML, JSON, ENV = "secrets/app.yaml", "secrets/app.json", "secrets/app.env"


def git(repo: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(repo.parent), "GIT_EDITOR": "true", "SOPS_DISABLE_VERSION_CHECK": "1", **env}
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=full, check=False)
    if check and proc.returncode:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("template") / "repo")


def make_template(r: Path) -> Path:
    """A repository with the drivers set up by `sopsy git setup` (tests copy it)."""
    if shutil.which("git") is None:
        pytest.fail("git is needed for the git driver tests")
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "rerere.enabled", "true")
    (r / ".sopsy.yaml").write_text(f"creation_rules:\n  - path_regex: ^secrets/\n    age: {RECIPIENT}\n")
    setup = run_sopsy("git", "setup", "--command", SOPSY_CMD, cwd=str(r))
    assert setup.returncode == 0, setup.stderr
    assert (r / ".gitattributes").read_text() == "secrets/** diff=sopsy merge=sopsy\n"
    assert run_sopsy("git", "setup", "--check", "--command", SOPSY_CMD, cwd=str(r)).returncode == 0
    git(r, "add", "-A")
    git(r, "commit", "-qm", "setup")
    return r


@pytest.fixture()
def repo(template: Path, tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    shutil.copytree(template, r, symlinks=True)
    return r


# -- making versions (in process, as `sopsy edit` would) ----------------------------------------

def store_of(rel: str) -> object:
    return get_store(store_name_for(rel))


def put(repo: Path, rel: str, plain: str, recipients: tuple[str, ...] = (RECIPIENT,),
        rule: CryptRule | None = None) -> None:
    f = repo / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    opts = core.EncryptOptions([[KeySpec("age", r) for r in recipients]], crypt_rule=rule)
    f.write_text(core.encrypt_text(store_of(rel), plain, opts))  # type: ignore[arg-type]


def opened(repo: Path, rel: str) -> core.Opened:
    return core.decrypt_text(store_of(rel), (repo / rel).read_text())  # type: ignore[arg-type]


def edit(repo: Path, rel: str, plain: str) -> None:
    o = opened(repo, rel)
    (repo / rel).write_text(core.reencrypt(o, plain))


def plain(repo: Path, rel: str) -> str:
    return opened(repo, rel).plaintext()


def data_key(repo: Path, rel: str) -> bytes:
    parsed = store_of(rel).parse((repo / rel).read_text())  # type: ignore[attr-defined]
    return datakey.recover(Metadata.from_dict(parsed.metadata))


def rotate(repo: Path, rel: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
    o = opened(repo, rel)
    (repo / rel).write_text(core.rotate(o, [KeySpec("age", r) for r in add], [KeySpec("age", r) for r in remove]))


def set_rule(repo: Path, rel: str, rule: CryptRule) -> None:
    o = opened(repo, rel)
    o.metadata.crypt_rule = rule
    (repo / rel).write_text(core.reencrypt(o, o.plaintext()))


Change = Callable[[Path], None]


def diverge(repo: Path, files: dict[str, tuple[str, str, str]], ours: Change | None = None,
            theirs: Change | None = None, base: Change | None = None) -> subprocess.CompletedProcess[str]:
    """Commit the base versions on main, theirs on a branch, ours on main; merge the branch."""
    for rel, (b, _, _) in files.items():
        put(repo, rel, b)
    if base:
        base(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    for branch, side, extra in (("feature", 2, theirs), ("main", 1, ours)):
        git(repo, "checkout", "-q", "-b", branch) if branch == "feature" else git(repo, "checkout", "-q", branch)
        for rel, versions in files.items():
            if versions[side] != versions[0]:
                edit(repo, rel, versions[side])
        if extra:
            extra(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", branch)
    return git(repo, "merge", "-q", "--no-edit", "feature", check=False)



def loads(rel: str, text: str) -> object:
    """The data a text holds, read independently of sopsy (sops prints a dotenv line break as \\n)."""
    if rel.endswith(".yaml"):
        return yaml.safe_load(text)
    if rel.endswith(".json"):
        return json.loads(text)
    pairs = re.findall(r'^([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|[^\n]*)', text, re.M)
    return {k: v.replace("\\n", "\n") for k, v in pairs}


def merged_ok(repo: Path, proc: subprocess.CompletedProcess[str], expected: dict[str, str]) -> None:
    """The merge succeeded, each file decrypts to the expected text, and sops reads it the same."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for rel, text in expected.items():
        assert plain(repo, rel) == text, rel
        by_sops = run_sops("decrypt", str(repo / rel))
        assert by_sops.returncode == 0, by_sops.stderr
        assert loads(rel, by_sops.stdout.decode()) == loads(rel, text)
    assert git(repo, "status", "--porcelain").stdout == ""


def no_plaintext(repo: Path, *outputs: str | bytes) -> None:
    """No ``s3cr...`` secret in any git object, any file under .git, the work tree, or the outputs."""
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo, capture_output=True,
                             check=True).stdout
    found = {m.group() for m in SECRET.finditer(objects)}
    for f in repo.rglob("*"):
        if f.is_file():
            found |= {m.group() for m in SECRET.finditer(f.read_bytes())}
    for out in outputs:
        found |= {m.group() for m in SECRET.finditer(out.encode() if isinstance(out, str) else out)}
    assert not found, f"plaintext secrets found: {sorted(found)}"


# -- value merges ---------------------------------------------------------------------------------

Y_DB = "db:\n  user: admin\n  password: s3cr-db-1\nport: 5432\n"
J_DB = '{\n  "db": {\n    "user": "admin",\n    "password": "s3cr-db-1"\n  },\n  "port": 5432\n}\n'
E_DB = "DB_USER=admin\nDB_PASSWORD=s3cr-db-1\n"


def test_both_add_keys_at_the_end_of_a_mapping_object_and_dotenv(repo: Path) -> None:
    files = {
        YAML: (Y_DB, Y_DB.replace("s3cr-db-1\n", "s3cr-db-1\n  host: db.internal\n"),
               Y_DB.replace("s3cr-db-1\n", "s3cr-db-1\n  token: s3cr-tok-2\n")),
        JSON: (J_DB, J_DB.replace('"s3cr-db-1"\n', '"s3cr-db-1",\n    "host": "db.internal"\n'),
               J_DB.replace('"s3cr-db-1"\n', '"s3cr-db-1",\n    "token": "s3cr-tok-2"\n')),
        ENV: (E_DB, E_DB + "DB_HOST=db.internal\n", E_DB + "API_TOKEN=s3cr-tok-2\n"),
    }
    proc = diverge(repo, files)
    merged_ok(repo, proc, {
        YAML: Y_DB.replace("s3cr-db-1\n", "s3cr-db-1\n  host: db.internal\n  token: s3cr-tok-2\n"),
        JSON: J_DB.replace('"s3cr-db-1"\n', '"s3cr-db-1",\n    "host": "db.internal",\n    "token": "s3cr-tok-2"\n'),
        ENV: E_DB + "DB_HOST=db.internal\nAPI_TOKEN=s3cr-tok-2\n"})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_both_append_to_a_list(repo: Path) -> None:
    y = "hosts:\n  - a.example\n  - b.example\ntoken: s3cr-tok-1\n"
    j = '{\n  "hosts": [\n    "a.example",\n    "b.example"\n  ],\n  "token": "s3cr-tok-1"\n}\n'
    files = {YAML: (y, y.replace("b.example\n", "b.example\n  - c.example\n"),
                    y.replace("b.example\n", "b.example\n  - d.example\n")),
             JSON: (j, j.replace('"b.example"\n', '"b.example",\n    "c.example"\n'),
                    j.replace('"b.example"\n', '"b.example",\n    "d.example"\n'))}
    proc = diverge(repo, files)
    merged_ok(repo, proc, {YAML: y.replace("b.example\n", "b.example\n  - c.example\n  - d.example\n"),
                           JSON: j.replace('"b.example"\n', '"b.example",\n    "c.example",\n    "d.example"\n')})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_add_next_to_a_deleted_key(repo: Path) -> None:
    y, j, e = "user: admin\npassword: s3cr-pw-1\nport: 5432\n", \
        '{\n  "user": "admin",\n  "password": "s3cr-pw-1",\n  "port": 5432\n}\n', "USER=admin\nPASSWORD=s3cr-pw-1\nPORT=5432\n"
    files = {YAML: (y, y.replace("port:", "host: db\nport:"), y.replace("password: s3cr-pw-1\n", "")),
             JSON: (j, j.replace('  "port"', '  "host": "db",\n  "port"'), j.replace('  "password": "s3cr-pw-1",\n', "")),
             ENV: (e, e.replace("PORT=", "HOST=db\nPORT="), e.replace("PASSWORD=s3cr-pw-1\n", ""))}
    proc = diverge(repo, files)
    merged_ok(repo, proc, {YAML: "user: admin\nhost: db\nport: 5432\n",
                           JSON: '{\n  "user": "admin",\n  "host": "db",\n  "port": 5432\n}\n',
                           ENV: "USER=admin\nHOST=db\nPORT=5432\n"})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_deleted_key_is_not_resurrected_when_the_other_side_reorders(repo: Path) -> None:
    y = "zed: 1\nalpha: s3cr-a\nmike: s3cr-m\nbravo: 2\n"
    j = '{\n  "zed": 1,\n  "alpha": "s3cr-a",\n  "mike": "s3cr-m",\n  "bravo": 2\n}\n'
    e = "ZED=1\nALPHA=s3cr-a\nMIKE=s3cr-m\nBRAVO=2\n"
    files = {YAML: (y, "alpha: s3cr-a\nbravo: 2\nmike: s3cr-m\nzed: 1\n", y.replace("mike: s3cr-m\n", "")),
             # JSON the other way round: theirs sorts, ours deletes
             JSON: (j, j.replace('  "mike": "s3cr-m",\n', ""),
                    '{\n  "alpha": "s3cr-a",\n  "bravo": 2,\n  "mike": "s3cr-m",\n  "zed": 1\n}\n'),
             ENV: (e, "ALPHA=s3cr-a\nBRAVO=2\nMIKE=s3cr-m\nZED=1\n", e.replace("MIKE=s3cr-m\n", ""))}
    proc = diverge(repo, files)
    merged_ok(repo, proc, {YAML: "alpha: s3cr-a\nbravo: 2\nzed: 1\n",
                           JSON: '{\n  "alpha": "s3cr-a",\n  "bravo": 2,\n  "zed": 1\n}\n',
                           ENV: "ALPHA=s3cr-a\nBRAVO=2\nZED=1\n"})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_move_a_block_while_the_other_side_edits_a_value_in_it(repo: Path) -> None:
    y = "db:\n  user: admin\n  password: s3cr-db-1\napi:\n  url: https://api.example\n  token: s3cr-api-1\n"
    y_moved = "api:\n  url: https://api.example\n  token: s3cr-api-1\ndb:\n  user: admin\n  password: s3cr-db-1\n"
    j = '{\n  "db": {\n    "password": "s3cr-db-1"\n  },\n  "api": {\n    "token": "s3cr-api-1"\n  }\n}\n'
    j_moved = '{\n  "api": {\n    "token": "s3cr-api-1"\n  },\n  "db": {\n    "password": "s3cr-db-1"\n  }\n}\n'
    e = "A=1\nB=s3cr-b-1\n\nC=3\nD=s3cr-d-1\n"
    files = {YAML: (y, y_moved, y.replace("s3cr-api-1", "s3cr-api-2")),
             JSON: (j, j.replace("s3cr-api-1", "s3cr-api-2"), j_moved),  # theirs moves, ours edits
             ENV: (e, "C=3\nD=s3cr-d-1\n\nA=1\nB=s3cr-b-1\n", e.replace("s3cr-d-1", "s3cr-d-2"))}
    proc = diverge(repo, files)
    merged_ok(repo, proc, {YAML: y_moved.replace("s3cr-api-1", "s3cr-api-2"),
                           JSON: j_moved.replace("s3cr-api-1", "s3cr-api-2"),
                           ENV: "C=3\nD=s3cr-d-2\n\nA=1\nB=s3cr-b-1\n"})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_comment_edit_and_value_edit_on_the_same_item(repo: Path) -> None:
    y = "port: 5432\npassword: s3cr-pw-1 # rotated yearly\n"
    e = "PORT=5432\n# rotated yearly\nPASSWORD=s3cr-pw-1\n"
    other = "secrets/other.yaml"
    y2 = "a: 1\n# rotated yearly\nb: s3cr-b-1\n"
    files = {YAML: (y, y.replace("yearly", "monthly"), y.replace("s3cr-pw-1", "s3cr-pw-2")),
             ENV: (e, e.replace("s3cr-pw-1", "s3cr-pw-2"), e.replace("yearly", "monthly")),  # the other way round
             other: (y2, y2.replace("s3cr-b-1", "s3cr-b-2"), y2.replace("yearly", "monthly"))}
    proc = diverge(repo, files)
    merged_ok(repo, proc, {YAML: "port: 5432\npassword: s3cr-pw-2 # rotated monthly\n",
                           ENV: "PORT=5432\n# rotated monthly\nPASSWORD=s3cr-pw-2\n",
                           other: "a: 1\n# rotated monthly\nb: s3cr-b-2\n"})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_multi_line_value_grows_next_to_an_edited_key(repo: Path) -> None:
    y = "cert: |\n  -----BEGIN-----\n  s3cr-line-1\n  -----END-----\nkey: s3cr-key-1\n"
    j = '{\n  "cert": "-----BEGIN-----\\ns3cr-line-1\\n-----END-----",\n  "key": "s3cr-key-1"\n}\n'
    e = 'CERT="-----BEGIN-----\ns3cr-line-1\n-----END-----"\nKEY=s3cr-key-1\n'
    grow = {YAML: ("  s3cr-line-1\n", "  s3cr-line-1\n  s3cr-line-2\n"),
            JSON: ("s3cr-line-1\\n", "s3cr-line-1\\ns3cr-line-2\\n"), ENV: ("s3cr-line-1\n", "s3cr-line-1\ns3cr-line-2\n")}
    files = {rel: (t, t.replace(*grow[rel]), t.replace("s3cr-key-1", "s3cr-key-2"))
             for rel, t in ((YAML, y), (JSON, j), (ENV, e))}
    proc = diverge(repo, files)
    merged_ok(repo, proc, {rel: t.replace(*grow[rel]).replace("s3cr-key-1", "s3cr-key-2")
                           for rel, t in ((YAML, y), (JSON, j), (ENV, e))})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_the_changed_side_keeps_its_comments_on_their_lines_and_its_quoting(repo: Path) -> None:
    """Theirs edits inline comments, a folded block and quoted values while ours edits other
    values: each stays on its line and in the style it was written in (was: an inline comment
    moved above its key, the block and the quotes were lost; tfvars: the merge failed)."""
    y = ("port: 5432 # default\npassword: s3cr-pw # rotated yearly\nmotd: >\n  Welcome to the\n  s3cr-motd\n"
         "q: 's3cr-q'\nc: ''\n")
    y_theirs = y.replace("yearly", "monthly").replace("Welcome to the\n  s3cr-motd", "Hello s3cr-motd") \
        .replace("s3cr-q", "s3cr-q2").replace("c: ''", "c: s3cr-c")
    tf, tf_rel = '# creds\npassword = "s3cr-tf" # rotate\nregion   = "eu"\ntags = {\n  team = "core" # owner\n}\n', \
        "secrets/app.tfvars"
    files = {YAML: (y, y.replace("5432", "6543"), y_theirs),
             tf_rel: (tf, tf.replace('"eu"', '"us"'), tf.replace("# rotate", "# rotate monthly").replace("owner", "lead"))}
    proc = diverge(repo, files)
    assert proc.returncode == 0, proc.stderr
    assert plain(repo, YAML) == y_theirs.replace("5432", "6543")
    assert plain(repo, tf_rel) == tf.replace('"eu"', '"us"').replace("# rotate", "# rotate monthly") \
        .replace("owner", "lead")
    assert run_sops("decrypt", str(repo / YAML)).returncode == 0
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_ini_comments_travel_with_their_keys_and_sections(repo: Path) -> None:
    """INI's model (sops's) keeps a key's comments after the key: the merge read them as the
    next key's, so a comment changed or added on their side failed the merge as 'a sopsy bug'
    or was lost. Ours edits values, theirs comments, a commented key and a commented section."""
    ini, rel = "; app\n[db]\n; the primary\nhost = db1\npassword = s3cr-1\n\n[api]\ntoken = s3cr-t\n", "secrets/app.ini"
    theirs = ini.replace("; the primary", "; the primary, moved in May") \
        .replace("password = s3cr-1\n", "password = s3cr-1\n; read-only\nreplica = db2\n") \
        + "\n; caching\n[cache]\n; the url\nurl = s3cr-redis\n"
    proc = diverge(repo, {rel: (ini, ini.replace("db1", "db9").replace("s3cr-t", "s3cr-t2"), theirs)})
    assert proc.returncode == 0, proc.stderr
    assert plain(repo, rel) == theirs.replace("db1", "db9").replace("s3cr-t", "s3cr-t2")
    assert run_sops("decrypt", str(repo / rel)).returncode == 0
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_jsonc_comments_changed_on_their_side_are_reported(repo: Path) -> None:
    """Comments the merge cannot carry (in an array, on a line of their own between blank
    lines) were dropped without a word: it must say so. Those above a member or after it on
    its line travel with it (tests/test_git_scenarios.py)."""
    j = '{\n  "db": {"password": "s3cr-1", "port": 5432},\n\n  // floating\n\n  "x": [1, /* one */ 2]\n}\n'
    proc = diverge(repo, {JSON: (j, j.replace("5432", "6543"), j.replace("// floating", "// sinking"))})
    assert proc.returncode == 0, proc.stderr
    assert plain(repo, JSON) == j.replace("5432", "6543")
    assert f"sopsy: {JSON}: their side changed comments that stand with no object member" in proc.stderr
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_one_side_last_written_by_the_real_sops(repo: Path) -> None:
    y = "# app\ndb:\n  user: admin # the login\n  password: s3cr-db-1\nport: 5432\n"
    files = {YAML: (y, y.replace("5432", "6543"), y), JSON: (J_DB, J_DB.replace("5432", "6543"), J_DB),
             ENV: (E_DB, E_DB.replace("admin", "root"), E_DB)}

    def sops_sets(r: Path) -> None:
        for rel, path in ((YAML, '["db"]["password"]'), (JSON, '["db"]["password"]'), (ENV, '["DB_PASSWORD"]')):
            got = run_sops("set", str(r / rel), path, '"s3cr-db-2"')
            assert got.returncode == 0, got.stderr

    proc = diverge(repo, files, theirs=sops_sets)
    merged_ok(repo, proc, {YAML: y.replace("5432", "6543").replace("s3cr-db-1", "s3cr-db-2"),
                           JSON: J_DB.replace("5432", "6543").replace("s3cr-db-1", "s3cr-db-2"),
                           ENV: E_DB.replace("admin", "root").replace("s3cr-db-1", "s3cr-db-2")})
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_ours_last_written_by_the_real_sops_keeps_its_layout(repo: Path) -> None:
    y = "db:\n  user: admin\n  password: s3cr-db-1\nport: 5432\n"

    def sops_sets(r: Path) -> None:
        assert run_sops("set", str(r / YAML), '["port"]', "6543").returncode == 0

    proc = diverge(repo, {YAML: (y, y, y.replace("s3cr-db-1", "s3cr-db-2"))}, ours=sops_sets)
    assert proc.returncode == 0, proc.stderr
    # sops re-indented ours by four spaces: that layout stays, theirs' value goes into it
    assert plain(repo, YAML) == "db:\n    user: admin\n    password: s3cr-db-2\nport: 6543\n"
    assert run_sops("decrypt", str(repo / YAML)).returncode == 0
    no_plaintext(repo, proc.stdout, proc.stderr)


# -- keys and rules -------------------------------------------------------------------------------

def decrypts_with_key2_only(path: Path) -> bool:
    env = {"SOPS_AGE_KEY_FILE": str(KEY2)}
    mine, theirs = run_sopsy("decrypt", str(path), env=env), run_sops("decrypt", str(path), env=env)
    assert (mine.returncode == 0) == (theirs.returncode == 0), (mine.stderr, theirs.stderr)
    return mine.returncode == 0


def test_recipient_added_on_the_other_branch_is_kept(repo: Path) -> None:
    def add_recipient(r: Path) -> None:
        (r / ".sopsy.yaml").write_text(f"creation_rules:\n  - path_regex: ^secrets/\n    age: {RECIPIENT},{RECIPIENT2}\n")
        from sopsy import commands

        assert commands.updatekeys(str(r / YAML), yes=True)  # same data key, one more recipient
        rotate(r, JSON, add=(RECIPIENT2,))  # a new data key and one more recipient

    files = {YAML: (Y_DB, Y_DB.replace("5432", "6543"), Y_DB), JSON: (J_DB, J_DB.replace("5432", "6543"), J_DB)}
    proc = diverge(repo, files, theirs=add_recipient)
    merged_ok(repo, proc, {YAML: Y_DB.replace("5432", "6543"), JSON: J_DB.replace("5432", "6543")})
    for rel in (YAML, JSON):
        assert decrypts_with_key2_only(repo / rel), rel
    assert not [ln for ln in proc.stderr.splitlines() if YAML in ln and "re-encrypted" in ln]  # YAML kept its key
    yaml_enc = (repo / YAML).read_text()
    ours_enc = git(repo, "show", "HEAD^1:" + YAML).stdout
    # unchanged values keep their ciphertext, so the merge diffs cleanly against ours
    assert [ln for ln in yaml_enc.splitlines() if "password" in ln] == \
        [ln for ln in ours_enc.splitlines() if "password" in ln]
    assert "every value was re-encrypted" in proc.stderr  # JSON: theirs rotated the data key
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_recipient_removed_on_the_other_branch_cannot_read_the_merge(repo: Path) -> None:
    def both(r: Path) -> None:
        for rel in (YAML, JSON, ENV):
            rotate(r, rel, add=(RECIPIENT2,))

    def revoke(r: Path) -> None:
        for rel in (YAML, JSON, ENV):
            rotate(r, rel, remove=(RECIPIENT2,))

    files = {YAML: (Y_DB, Y_DB.replace("s3cr-db-1", "s3cr-db-ours"), Y_DB),
             JSON: (J_DB, J_DB.replace("s3cr-db-1", "s3cr-db-ours"), J_DB),
             ENV: (E_DB, E_DB.replace("s3cr-db-1", "s3cr-db-ours"), E_DB)}
    proc = diverge(repo, files, base=both, theirs=revoke)
    merged_ok(repo, proc, {rel: v[1] for rel, v in files.items()})
    merged_key = data_key(repo, YAML)
    for rel in (YAML, JSON, ENV):
        assert not decrypts_with_key2_only(repo / rel), rel
        assert RECIPIENT2 not in (repo / rel).read_text()
    git(repo, "checkout", "-q", "HEAD^1")
    assert data_key(repo, YAML) != merged_key  # a fresh data key, not ours' (which the revoked key held)
    assert "every value was re-encrypted under a new data key" in proc.stderr
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_data_key_rotated_on_the_other_branch_gives_a_fresh_key(repo: Path) -> None:
    proc = diverge(repo, {ENV: (E_DB, E_DB + "X=1\n", E_DB)}, theirs=lambda r: rotate(r, ENV))
    merged_ok(repo, proc, {ENV: E_DB + "X=1\n"})
    merged = data_key(repo, ENV)
    keys = set()
    for rev in ("main^1", "main^2"):
        git(repo, "checkout", "-q", rev)
        keys.add(data_key(repo, ENV))
    assert merged not in keys and len(keys) == 2
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_encrypted_regex_tightened_on_the_other_branch_is_kept(repo: Path) -> None:
    loose, tight = CryptRule("encrypted_regex", "^password$"), CryptRule("encrypted_regex", "^(password|token)$")
    y = "password: s3cr-pw-1\ntoken: tok-plain-1\n"

    def loosen(r: Path) -> None:
        put(r, YAML, y, rule=loose)

    proc = diverge(repo, {YAML: (y, y.replace("tok-plain-1", "tok-plain-2"), y)}, base=loosen,
                   theirs=lambda r: set_rule(r, YAML, tight))
    merged_ok(repo, proc, {YAML: "password: s3cr-pw-1\ntoken: tok-plain-2\n"})
    text = (repo / YAML).read_text()
    assert "tok-plain-2" not in text and "encrypted_regex: ^(password|token)$" in text
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_rebase_keeps_a_feature_branch_recipient_change(repo: Path) -> None:
    """In a rebase ours is upstream: the feature's revocation and addition must survive it."""
    def both(r: Path) -> None:
        rotate(r, ENV, add=(RECIPIENT2,))

    put(repo, ENV, E_DB)
    put(repo, YAML, Y_DB)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    both(repo)  # the feature gives ENV a second recipient
    rotate(repo, YAML, add=(RECIPIENT2,))
    git(repo, "commit", "-qam", "feature: add a recipient")
    git(repo, "checkout", "-q", "main")
    edit(repo, ENV, E_DB.replace("admin", "root"))
    edit(repo, YAML, Y_DB.replace("s3cr-db-1", "s3cr-db-2"))
    git(repo, "commit", "-qam", "main: values")
    git(repo, "checkout", "-q", "feature")
    proc = git(repo, "rebase", "main", check=False)
    merged_ok(repo, proc, {ENV: E_DB.replace("admin", "root"), YAML: Y_DB.replace("s3cr-db-1", "s3cr-db-2")})
    assert decrypts_with_key2_only(repo / ENV) and decrypts_with_key2_only(repo / YAML)
    no_plaintext(repo, proc.stdout, proc.stderr)


# -- conflicts ------------------------------------------------------------------------------------

def editor(tmp_path: Path, body: str) -> dict[str, str]:
    script = tmp_path / f"editor{len(list(tmp_path.glob('editor*')))}.py"
    script.write_text(textwrap.dedent(body))
    return {"SOPS_EDITOR": f"{sys.executable} {script}", "EDITOR": ""}


TAKE_THEIRS = r"""
    import re, sys
    text = open(sys.argv[1]).read()
    assert "<<<<<<< ours" in text and "ENC[" not in text
    open(sys.argv[1], "w").write(re.sub(r"<<<<<<< ours\n(.*?)=======\n(.*?)>>>>>>> theirs\n", r"\2", text, flags=re.S))
"""


def test_conflict_leaves_markers_in_ciphertext_and_resolves(repo: Path, tmp_path: Path) -> None:
    files = {YAML: (Y_DB, Y_DB.replace("s3cr-db-1", "s3cr-db-ours").replace("5432", "6543"),
                    Y_DB.replace("s3cr-db-1", "s3cr-db-theirs")),
             ENV: (E_DB, E_DB.replace("s3cr-db-1", "s3cr-db-ours"), E_DB.replace("s3cr-db-1", "s3cr-db-theirs"))}
    proc = diverge(repo, files)
    assert proc.returncode != 0
    assert '["db"]["password"]' in proc.stderr and '["DB_PASSWORD"]' in proc.stderr
    assert f"sopsy git resolve {YAML}" in proc.stderr
    outputs = [proc.stdout, proc.stderr]
    for rel in (YAML, ENV):
        text = (repo / rel).read_text()
        assert text.count("<<<<<<< ") == 1 and text.count(">>>>>>> ") == 1 and text.count("ENC[AES256_GCM") > 3
        assert run_sops("decrypt", str(repo / rel)).returncode != 0  # sops refuses it
        refused = run_sopsy("decrypt", str(repo / rel))
        assert refused.returncode == 2 and b"conflict markers" in refused.stderr
        check = run_sopsy("check", rel, cwd=str(repo))
        assert check.returncode == 1 and b"conflict" in check.stderr
        outputs += [refused.stderr, check.stderr]
    # every tracked file: each file in conflict once (the index holds it at stages 1, 2 and 3)
    whole = run_sopsy("check", cwd=str(repo)).stderr.decode()
    assert whole.count(f"{YAML}: unresolved merge conflict") == 1 and "2 problem(s)" in whole, whole
    assert "both modified" in git(repo, "status").stdout
    # markers left in the editor: refused, the file stays as it was
    before = (repo / YAML).read_bytes()
    kept = run_sopsy("git", "resolve", YAML, cwd=str(repo), env=editor(tmp_path, "import sys\n"))
    assert kept.returncode == 1 and b"conflict markers remain" in kept.stderr and (repo / YAML).read_bytes() == before
    for rel in (YAML, ENV):
        done = run_sopsy("git", "resolve", rel, cwd=str(repo), env=editor(tmp_path, TAKE_THEIRS))
        assert done.returncode == 0, done.stderr
        outputs += [kept.stderr, done.stderr]
    assert plain(repo, YAML) == Y_DB.replace("s3cr-db-1", "s3cr-db-theirs").replace("5432", "6543")
    assert plain(repo, ENV) == E_DB.replace("s3cr-db-1", "s3cr-db-theirs")
    for rel in (YAML, ENV):
        assert run_sops("decrypt", str(repo / rel)).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "merged")
    assert run_sopsy("check", cwd=str(repo)).returncode == 0
    no_plaintext(repo, *outputs)


def test_delete_modify_conflict_resolves_with_sopsy_edit(repo: Path, tmp_path: Path) -> None:
    j = '{\n  "a": 1,\n  "token": "s3cr-tok-1"\n}\n'
    proc = diverge(repo, {JSON: (j, j.replace("s3cr-tok-1", "s3cr-tok-2"), '{\n  "a": 1\n}\n')})
    assert proc.returncode != 0 and '["token"] (deleted on their side, changed on ours)' in proc.stderr
    assert run_sops("decrypt", str(repo / JSON)).returncode != 0 and "<<<<<<< " in (repo / JSON).read_text()
    done = run_sopsy("edit", JSON, cwd=str(repo), env=editor(tmp_path, TAKE_THEIRS.replace("\\2", "\\1")))
    assert done.returncode == 0, done.stderr
    assert plain(repo, JSON) == j.replace("s3cr-tok-1", "s3cr-tok-2")
    no_plaintext(repo, proc.stdout, proc.stderr, done.stderr)


def test_rule_changed_differently_on_both_sides_is_a_conflict(repo: Path) -> None:
    # each rule leaves one value in plaintext on purpose; the conflicted file must encrypt both
    y = "password: pw-1\ntoken: tok-1\n"
    proc = diverge(repo, {YAML: (y, y, y)}, ours=lambda r: set_rule(r, YAML, CryptRule("encrypted_regex", "^pass")),
                   theirs=lambda r: set_rule(r, YAML, CryptRule("encrypted_regex", "^tok")))
    assert proc.returncode != 0 and "crypt rule" in proc.stderr and "'^tok'" in proc.stderr
    text = (repo / YAML).read_text()
    assert "pw-1" not in text and "tok-1" not in text and "<<<<<<< " in text
    assert run_sops("decrypt", str(repo / YAML)).returncode != 0
    done = run_sopsy("git", "resolve", "--metadata", "theirs", YAML, cwd=str(repo))
    assert done.returncode == 0, done.stderr
    text = (repo / YAML).read_text()
    assert "encrypted_regex: ^tok" in text and "tok-1" not in text and "password: pw-1" in text
    assert plain(repo, YAML) == y and run_sops("decrypt", str(repo / YAML)).returncode == 0


def test_file_added_on_both_branches_merges(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    put(repo, ENV, "A=s3cr-a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "theirs adds")
    git(repo, "checkout", "-q", "main")
    put(repo, ENV, "B=s3cr-b\n", recipients=(RECIPIENT, RECIPIENT2))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "ours adds")
    proc = git(repo, "merge", "-q", "--no-edit", "feature", check=False)
    merged_ok(repo, proc, {ENV: "B=s3cr-b\nA=s3cr-a\n"})
    assert decrypts_with_key2_only(repo / ENV)
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_file_deleted_on_one_side_changed_on_the_other(repo: Path) -> None:
    proc = diverge(repo, {ENV: (E_DB, E_DB + "X=s3cr-x\n", E_DB)}, theirs=lambda r: (r / ENV).unlink())
    assert proc.returncode != 0 and "deleted in feature" in proc.stdout
    assert plain(repo, ENV) == E_DB + "X=s3cr-x\n"  # ours stays, still encrypted
    no_plaintext(repo, proc.stdout, proc.stderr)


def test_plain_file_under_the_pattern_merges_as_text(repo: Path) -> None:
    readme = "secrets/README.md"
    (repo / "secrets").mkdir()
    (repo / readme).write_text("# Secrets\n\none\ntwo\nthree\nfour\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "readme")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / readme).write_text("# Secrets\n\none\ntwo\nthree\nFOUR\n")
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / readme).write_text("# Secrets\n\nONE\ntwo\nthree\nfour\n")
    git(repo, "commit", "-qam", "ours")
    assert "+ONE" in git(repo, "diff", "HEAD~1").stdout  # diff passes a plain file through
    proc = git(repo, "merge", "-q", "--no-edit", "feature", check=False)
    assert proc.returncode == 0, proc.stderr
    assert (repo / readme).read_text() == "# Secrets\n\nONE\ntwo\nthree\nFOUR\n"
    git(repo, "checkout", "-q", "-b", "other", "main~2")
    (repo / readme).write_text("# Secrets\n\nUno\ntwo\nthree\nfour\n")
    git(repo, "commit", "-qam", "clash")
    proc = git(repo, "merge", "-q", "--no-edit", "main", check=False)
    assert proc.returncode != 0 and "merged as text" in proc.stderr
    assert (repo / readme).read_text().startswith("# Secrets\n\n<<<<<<< ours\nUno\n=======\nONE\n>>>>>>> theirs\n")


def test_no_key_the_driver_names_it_and_keeps_ours(repo: Path) -> None:
    files = {ENV: (E_DB, E_DB + "X=1\n", E_DB + "Y=2\n")}
    for rel, (b, _, _) in files.items():
        put(repo, rel, b)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    edit(repo, ENV, E_DB + "Y=2\n")
    git(repo, "commit", "-qam", "theirs")
    git(repo, "checkout", "-q", "main")
    edit(repo, ENV, E_DB + "X=1\n")
    git(repo, "commit", "-qam", "ours")
    ours = (repo / ENV).read_bytes()
    proc = git(repo, "merge", "-q", "--no-edit", "feature", check=False, SOPS_AGE_KEY_FILE=str(KEY2))
    assert proc.returncode != 0 and RECIPIENT in proc.stderr and "git checkout -m" in proc.stderr
    assert (repo / ENV).read_bytes() == ours
    redo = git(repo, "checkout", "-m", "--", ENV)
    assert redo.returncode == 0 and plain(repo, ENV) == E_DB + "X=1\nY=2\n"
    no_plaintext(repo, proc.stdout, proc.stderr)


# -- diff -----------------------------------------------------------------------------------------

def test_diff_shows_values_and_key_changes_not_metadata_churn(repo: Path) -> None:
    put(repo, YAML, Y_DB)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    edit(repo, YAML, Y_DB.replace("5432", "6543"))
    rotate(repo, YAML, add=(RECIPIENT2,))
    diff = git(repo, "diff")
    changed = [ln for ln in diff.stdout.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert "-port: 5432" in changed and "+port: 6543" in changed
    assert f"+# key group 1: age {RECIPIENT2}" in changed
    assert any(ln.startswith("-# data key fingerprint") for ln in changed)  # rotate made a new data key
    assert not any("ENC[" in ln or "lastmodified" in ln or "mac" in ln for ln in changed)
    nokey = git(repo, "diff", SOPS_AGE_KEY_FILE=str(tmp_missing(repo)))
    assert nokey.returncode == 0 and "ENC[AES256_GCM" in nokey.stdout and "no key to decrypt" in nokey.stderr
    cfg = git(repo, "config", "--get", "diff.sopsy.cachetextconv").stdout.strip()
    assert cfg == "false"


def tmp_missing(repo: Path) -> Path:
    return repo.parent / "no-such-key-file.txt"


# -- setup and check ------------------------------------------------------------------------------

def test_setup_is_idempotent_and_check_reports_what_is_missing(repo: Path) -> None:
    again = run_sopsy("git", "setup", "--command", SOPSY_CMD, cwd=str(repo))
    assert again.returncode == 0 and (repo / ".gitattributes").read_text() == "secrets/** diff=sopsy merge=sopsy\n"
    git(repo, "config", "--unset", "merge.sopsy.driver")
    check = run_sopsy("git", "setup", "--check", "--command", SOPSY_CMD, cwd=str(repo))
    assert check.returncode == 1 and b"merge.sopsy.driver" in check.stdout
    (repo / ".sopsy.yaml").write_text(f"creation_rules:\n  - path_regex: '(?:^|/)x'\n    age: {RECIPIENT}\n")
    asked = run_sopsy("git", "setup", cwd=str(repo))
    assert asked.returncode == 1 and b"name the encrypted files' patterns" in asked.stderr
    more = run_sopsy("git", "setup", "--command", SOPSY_CMD, "*.enc.json", cwd=str(repo))
    assert more.returncode == 0
    assert (repo / ".gitattributes").read_text().splitlines()[-1] == "*.enc.json diff=sopsy merge=sopsy"


def test_setup_quotes_a_pattern_with_a_space_and_refuses_a_newline(repo: Path) -> None:
    """Unquoted, git reads `vault/a b.yaml diff=...` as the pattern `vault/a` with an
    attribute `b.yaml`: the secret file would get no driver and `vault/a` would."""
    (repo / ".sopsy.yaml").write_text(f"creation_rules:\n  - path_regex: '^vault/a b\\.yaml$'\n    age: {RECIPIENT}\n")
    r = run_sopsy("git", "setup", "--command", SOPSY_CMD, cwd=str(repo))
    assert r.returncode == 0, r.stderr
    assert '"vault/a b.yaml" diff=sopsy merge=sopsy' in (repo / ".gitattributes").read_text()
    attrs = git(repo, "check-attr", "diff", "merge", "--", "vault/a b.yaml", "vault/a").stdout
    assert attrs.splitlines() == ["vault/a b.yaml: diff: sopsy", "vault/a b.yaml: merge: sopsy",
                                  "vault/a: diff: unspecified", "vault/a: merge: unspecified"]
    assert run_sopsy("git", "setup", "--check", "--command", SOPSY_CMD, cwd=str(repo)).returncode == 0
    before = (repo / ".gitattributes").read_bytes()
    bad = run_sopsy("git", "setup", "--command", SOPSY_CMD, "x\n* filter=evil", cwd=str(repo))
    assert bad.returncode == 1 and b"control character" in bad.stderr
    assert (repo / ".gitattributes").read_bytes() == before


def test_check_finds_plaintext_where_rules_want_ciphertext(repo: Path) -> None:
    (repo / "secrets").mkdir()
    (repo / "secrets/plain.yaml").write_text("password: s3cr-pw\n")
    put(repo, YAML, "password: s3cr-pw-1\nuser_unencrypted: admin\n")
    enc = (repo / YAML).read_text()
    (repo / "secrets/tampered.yaml").write_text(enc.replace(enc.split("password: ")[1].split("\n")[0], "s3cr-pw-2"))
    r = run_sopsy("check", "secrets", cwd=str(repo))
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert any("secrets/plain.yaml: not encrypted" in ln for ln in lines)
    assert any("secrets/tampered.yaml: the value at password is in plaintext" in ln for ln in lines)
    assert not any(YAML in ln for ln in lines) and b"s3cr" not in r.stderr
    hooks = yaml.safe_load((Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "sopsy-check" and hooks[0]["entry"] == "sopsy check"


def test_textconv_and_merge_start_without_typer(tmp_path: Path) -> None:
    """git runs both once per file: they take the typer-free path and import no heavy module."""
    from sopsy import entry

    assert entry._fast_textconv_args(["git", "textconv", "f.json"]) == ("f.json", None)
    assert entry._fast_textconv_args(["git", "textconv", "--input-type", "json", "f"]) == ("f", "json")
    assert entry._fast_merge_args(["merge", "b", "a", "t", "p.yaml"]) == ["b", "a", "t", "p.yaml"]
    assert entry._fast_merge_args(["merge", "--input-type", "yaml", "b", "a", "t"]) is None
    f = tmp_path / "app.json"
    put(tmp_path, "app.json", J_DB)
    code = ("import sys, os\nfrom sopsy import entry\nsys.argv = ['sopsy', 'git', 'textconv', sys.argv[1]]\n"
            "os._exit = lambda code: (print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('typer', 'click', 'yaml', 'boto3', 'google', 'pkcs11'))), sys.exit(code))\nentry.main()\n")
    done = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True,
                          env={**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}, check=False)
    assert done.returncode == 0, done.stderr
    assert '"password": "s3cr-db-1"' in done.stdout and done.stdout.strip().splitlines()[-1] == "[]"


def test_opaque_file_merges_by_lines_in_memory(repo: Path) -> None:
    pem = "secrets/cert.pem"
    base = "-----BEGIN-----\ns3cr-a\ns3cr-b\n-----END-----\n"
    proc = diverge(repo, {pem: (base, base.replace("s3cr-a", "s3cr-A"), base.replace("s3cr-b\n", "s3cr-b\ns3cr-c\n"))})
    merged_expected = "-----BEGIN-----\ns3cr-A\ns3cr-b\ns3cr-c\n-----END-----\n"
    assert proc.returncode == 0, proc.stderr
    assert plain(repo, pem) == merged_expected
    assert run_sops("decrypt", str(repo / pem)).stdout.decode() == merged_expected
    no_plaintext(repo, proc.stdout, proc.stderr)

"""``edit --show-master-keys`` (sops's ``-s``): the ``sops`` metadata is in the editor and is taken
as edited. The real sops, given the same file and editor script, shows the same data and
metadata; sopsy's result is read by both binaries. (sops 3.11 then drops every change made with
``-s``, data included: its edit loop puts the edited tree in a copy of its options. sopsy keeps
what was edited, as the option means.)"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from conftest import AGE_KEY, RECIPIENT, RECIPIENT2, TESTDATA, run_sops, run_sopsy

# The editor: a Python script that loads the shown file (YAML or JSON), records what it saw,
# changes a value and drops the second recipient from the metadata, and writes it back.
EDITOR = """\
import json, os, sys, yaml
path = sys.argv[1]
text = open(path).read()
data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
open(os.environ["SEEN"], "w").write(json.dumps(data, sort_keys=True))
data["db"]["password"] = "changed"
data["sops"]["age"] = [a for a in data["sops"]["age"] if a["recipient"] != "RECIPIENT2"]
open(path, "w").write(json.dumps(data) if path.endswith(".json") else yaml.safe_dump(data))
""".replace("RECIPIENT2", RECIPIENT2)

PLAIN = {"db": {"user": "admin", "password": "hunter2"}, "n": 5}


def _editor(tmp_path: Path) -> dict[str, str]:
    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    wrapper = tmp_path / "editor.sh"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} {script} "$1"\n')
    wrapper.chmod(0o700)
    return {"EDITOR": str(wrapper), "SOPS_EDITOR": str(wrapper)}


@pytest.mark.parametrize("ext", ["yaml", "json"])
@pytest.mark.parametrize("flag", ["-s", "--show-master-keys"])
def test_edited_metadata_is_taken_as_sops_takes_it(tmp_path: Path, ext: str, flag: str) -> None:
    env = _editor(tmp_path)
    plain = json.dumps(PLAIN).encode()
    seen = {}
    enc = run_sops("encrypt", "--age", f"{RECIPIENT},{RECIPIENT2}", "--input-type", "json",
                   "--output-type", ext, "/dev/stdin", input=plain)
    assert enc.returncode == 0, enc.stderr
    for run, who in ((run_sops, "sops"), (run_sopsy, "sopsy")):
        path = tmp_path / f"{who}.{ext}"
        path.write_bytes(enc.stdout)
        r = run("edit", flag, str(path), env={**env, "SEEN": str(tmp_path / f"{who}.seen")})
        assert r.returncode == 0, (who, r.stderr)
        seen[who] = (tmp_path / f"{who}.seen").read_text()
        if who == "sops":
            continue
        for reader in (run_sops, run_sopsy):
            # only the first key opens the result: the second left with the edited metadata
            one = reader("decrypt", "--output-type", "json", str(path), env={"SOPS_AGE_KEY_FILE": str(AGE_KEY)})
            assert one.returncode == 0, (who, one.stderr)
            assert json.loads(one.stdout) == {**PLAIN, "db": {"user": "admin", "password": "changed"}}
            two = reader("decrypt", str(path), env={"SOPS_AGE_KEY_FILE": str(TESTDATA / "throwaway_age_key2.txt")})
            assert two.returncode == 128, (who, two.stderr)
        assert RECIPIENT2 not in path.read_text()
    shown = json.loads(seen["sopsy"])
    assert shown["db"] == PLAIN["db"] and RECIPIENT2 in json.dumps(shown["sops"])
    assert shown == json.loads(seen["sops"])


def test_legacy_form_and_metadata_without_keys(tmp_path: Path) -> None:
    r = run_sops("encrypt", "--age", RECIPIENT, "--input-type", "json", "--output-type", "yaml", "/dev/stdin",
                 input=json.dumps(PLAIN).encode())
    path = tmp_path / "s.yaml"
    path.write_bytes(r.stdout)
    before = path.read_bytes()
    script = tmp_path / "drop.sh"  # the editor removes every key from the metadata
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"import sys,yaml; p=sys.argv[1]; d=yaml.safe_load(open(p)); "
                      "d['sops']['age']=[]; open(p,'w').write(yaml.safe_dump(d))\" \"$1\"\n")
    script.chmod(0o700)
    r = run_sopsy("-s", str(path), env={"EDITOR": str(script)}, input=b"")
    assert r.returncode == 2 and b"no keys" in r.stderr.lower() and len(r.stderr.splitlines()) == 1
    assert path.read_bytes() == before
    kept = re.search(rb"kept in (\S+)", r.stderr)  # not on a terminal: the edit is kept, and said where
    assert kept is not None
    kept_file = Path(kept.group(1).decode())
    kept_file.unlink()
    kept_file.parent.rmdir()  # its private directory too: no trace left on tmpfs
    # without -s the metadata is not shown, as in sops
    r = run_sopsy("edit", str(path), env={**_editor(tmp_path), "SEEN": str(tmp_path / "seen")})
    assert r.returncode == 1 and r.stderr.splitlines()[-1] == b"sopsy: the editor exited with code 1; the file was not changed"
    assert path.read_bytes() == before

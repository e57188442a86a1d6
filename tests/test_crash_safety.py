"""kill -9 at random moments of every writing command: the file is always the old one or a
complete new one, and no temp file stays (one a process cannot remove itself carries its pid and
is swept by the next write; the edit's private directory by the next edit)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import AGE_KEYS_BOTH, RECIPIENT, RECIPIENT2, run_sopsy

from sopsy import core
from sopsy.stores import get_store

PLAIN = "db:\n  user: admin\n  password: hunter2\nport: 5432\n"
EDITED = PLAIN.replace("hunter2", "correct horse")
KILLS = 8


def plaintext(data: bytes) -> str:
    return core.decrypt_text(get_store("yaml"), data.decode()).plaintext()


def setup(tmp_path: Path, command: str) -> tuple[list[str], dict[str, str], bytes]:
    """(argv before the file, environment, the file's bytes before the command)."""
    f = tmp_path / "s.yaml"
    f.write_text(PLAIN)
    env = {"SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}
    if command == "encrypt":
        return ["encrypt", "-i", "--age", RECIPIENT], env, f.read_bytes()
    assert run_sopsy("encrypt", "-i", "--age", RECIPIENT, str(f)).returncode == 0
    if command == "updatekeys":
        cfg = tmp_path / "rules.yaml"
        cfg.write_text(f"creation_rules:\n  - age: {RECIPIENT},{RECIPIENT2}\n")
        env["SOPS_CONFIG"] = str(cfg)
        return ["updatekeys", "-y"], env, f.read_bytes()
    if command == "edit":
        editor = tmp_path / "editor.py"
        editor.write_text("import sys\np = sys.argv[1]\ntext = open(p).read()\n"
                          "open(p, 'w').write(text.replace('hunter2', 'correct horse'))\n")
        env["SOPS_EDITOR"] = f"{sys.executable} {editor}"
        return ["edit"], env, f.read_bytes()
    return {"decrypt": ["decrypt", "-i"], "rotate": ["rotate", "-i"]}[command], env, f.read_bytes()


def is_new(command: str, data: bytes) -> bool:
    """Whether ``data`` is a complete result of ``command``."""
    if command == "decrypt":
        return data == PLAIN.encode()
    text = plaintext(data)
    if command == "updatekeys":
        return text == PLAIN and RECIPIENT2 in data.decode()
    return text == (EDITED if command == "edit" else PLAIN)


def private_dirs(pid: int) -> list[Path]:
    bases = {Path("/dev/shm"), Path(os.environ.get("TMPDIR", "/tmp"))}
    return [p for b in bases if b.is_dir() for p in b.iterdir()
            if p.name.startswith("sopsy-edit-") and f".{pid}-" in p.name]


@pytest.mark.parametrize("command", ["encrypt", "decrypt", "rotate", "updatekeys", "edit"])
def test_kill9_leaves_the_old_or_the_new_file_and_no_temp_file(tmp_path: Path, command: str) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    args, env, old = setup(tmp_path, command)
    f = tmp_path / "s.yaml"
    full_env = {**os.environ, **env}
    start = time.monotonic()
    assert subprocess.run([sys.executable, "-m", "sopsy", *args, str(f)], env=full_env, capture_output=True,
                          check=False).returncode == 0
    span = (time.monotonic() - start) * 1.2  # kill anywhere in a run, start-up included
    assert is_new(command, f.read_bytes())
    outcomes = {"old": 0, "new": 0}
    killed: list[int] = []
    for _ in range(KILLS):
        f.write_bytes(old)
        proc = subprocess.Popen([sys.executable, "-m", "sopsy", *args, str(f)], env=full_env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed.append(proc.pid)
        data = f.read_bytes()
        if data == old:
            outcomes["old"] += 1
        else:
            assert is_new(command, data), f"{command}: a half-written file after kill -9"
            outcomes["new"] += 1
        # the only temp file a killed process can leave is one named with its pid, for the sweep
        for name in (p.name for p in tmp_path.iterdir() if p.name.startswith(".sopsy-")):
            assert name.startswith(f".sopsy-{proc.pid}-"), name
    print(f"{command}: {outcomes} over {KILLS} kills within {span:.2f} s")
    f.write_bytes(old)
    r = subprocess.run([sys.executable, "-m", "sopsy", *args, str(f)], env=full_env, capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".sopsy-")] == []
    assert [d for pid in killed for d in private_dirs(pid)] == []  # swept (edit's plaintext directories)

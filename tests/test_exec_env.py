"""exec-env through real processes: signals, exit status, the two command forms, names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AGE_KEYS_BOTH, RECIPIENT, run_sopsy
from support.procs import SIGCHILD, start_sopsy, wait_ready

import sopsy
from sopsy import argv as argv_mod
from sopsy.settings import SETTINGS


def _encrypted(tmp_path: Path, name: str, text: str) -> str:
    fmt = {"yaml": "yaml", "json": "json", "env": "dotenv"}[name.rsplit(".", 1)[1]]
    path = tmp_path / name
    path.write_bytes(sopsy.encrypt(text, format=fmt, age=RECIPIENT))
    return str(path)


def _env() -> dict[str, str]:
    return {**os.environ, "SOPS_AGE_KEY_FILE": str(AGE_KEYS_BOTH)}


@pytest.fixture
def app_yaml(tmp_path: Path) -> str:
    return _encrypted(tmp_path, "app.yaml", "db:\n  password: s3cret\n  port: 5432\nname: svc\n")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_reach_the_command_and_its_status_comes_back(app_yaml: str, sig: signal.Signals) -> None:
    # sopsy replaces itself with the command: the pid we signal is the command's
    proc = start_sopsy("exec-env", app_yaml, "--", sys.executable, SIGCHILD, "--trap", env=_env())
    pid, _ = wait_ready(proc)
    assert pid == proc.pid
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    assert out.decode() == f"got {sig.name}\n"
    assert proc.returncode == 40 + sig


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_death_is_reported_as_a_shell_reports_it(app_yaml: str, sig: signal.Signals) -> None:
    proc = start_sopsy("exec-env", app_yaml, "--", sys.executable, SIGCHILD, env=_env())
    wait_ready(proc)
    proc.send_signal(sig)
    proc.communicate(timeout=20)
    assert proc.returncode == -sig  # died of the signal itself, so a shell says 128+N
    r = subprocess.run(["/bin/sh", "-c", f'"$0" -m sopsy exec-env "$1" -- sh -c "kill -{sig.name[3:]} \\$\\$"; echo $?',
                        sys.executable, app_yaml], capture_output=True, env=_env(), check=False)
    assert r.stdout == f"{128 + sig}\n".encode()


def test_argv_form_runs_no_shell_and_the_string_form_does(app_yaml: str) -> None:
    r = run_sopsy("exec-env", app_yaml, "--", "printf", "%s|%s", "$name", "--verbose")
    assert (r.returncode, r.stdout) == (0, b"$name|--verbose")  # no expansion; --verbose is the command's
    r = run_sopsy("exec-env", app_yaml, 'printf %s "$name"; exit 3')
    assert (r.returncode, r.stdout) == (3, b"svc")


def test_nested_keys_are_flattened_and_options_shape_the_names(app_yaml: str) -> None:
    r = run_sopsy("exec-env", "--pristine", app_yaml, "--", "env")
    assert sorted(r.stdout.decode().splitlines()) == ["db_password=s3cret", "db_port=5432", "name=svc"]
    r = run_sopsy("exec-env", "--pristine", "--upper", "--separator", "__", "--prefix", "APP_", app_yaml, "--", "env")
    assert sorted(r.stdout.decode().splitlines()) == ["APP_DB__PASSWORD=s3cret", "APP_DB__PORT=5432", "APP_NAME=svc"]


def test_later_files_override_earlier_ones_and_the_environment(tmp_path: Path, app_yaml: str) -> None:
    over = _encrypted(tmp_path, "over.env", 'name="from dotenv"\nEXTRA=${name}-x\n')
    r = run_sopsy("exec-env", app_yaml, over, "--", "sh", "-c", 'printf "%s|%s|%s" "$name" "$EXTRA" "$db_port"',
                  env={"name": "inherited"})
    assert r.stdout == b"from dotenv|from dotenv-x|5432"


def test_a_colliding_name_is_an_error_naming_both_paths(tmp_path: Path) -> None:
    f = _encrypted(tmp_path, "c.yaml", "db_password: first-secret\ndb:\n  password: second-secret\n")
    r = run_sopsy("exec-env", f, "--", "true")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1
    assert '["db_password"]' in err and '["db"]["password"]' in err and "secret" not in err.replace("password", "")
    up = _encrypted(tmp_path, "u.yaml", "Token: a\nTOKEN: b\n")
    r = run_sopsy("exec-env", "--upper", up, "--", "true")
    assert r.returncode == 1 and b'["Token"] and ["TOKEN"] both give the variable TOKEN' in r.stderr


def test_lists_need_json_values(tmp_path: Path) -> None:
    f = _encrypted(tmp_path, "l.yaml", "hosts:\n  - a\n  - b\ndb:\n  port: 1\n")
    r = run_sopsy("exec-env", f, "--", "true")
    assert r.returncode == 1 and b'["hosts"] holds a list' in r.stderr and b"--json-values" in r.stderr
    r = run_sopsy("exec-env", "--json-values", f, "--", "sh", "-c", 'printf "%s %s" "$hosts" "$db"')
    assert r.returncode == 0
    hosts, db = r.stdout.decode().split(" ")
    assert json.loads(hosts) == ["a", "b"] and json.loads(db) == {"port": 1}


@pytest.mark.parametrize(("text", "key"), [
    ('"a=b": top-secret\n', '["a=b"]'),
    ("my-key: top-secret\n", '["my-key"]'),
    ("9lives: top-secret\n", '["9lives"]'),
    ('nul: "top\\0secret"\n', '["nul"]'),
])
def test_names_and_values_the_environment_cannot_hold(tmp_path: Path, text: str, key: str) -> None:
    f = _encrypted(tmp_path, "bad.yaml", text)
    r = run_sopsy("exec-env", f, "--", "true")
    assert r.returncode == 1 and r.stderr.count(b"\n") == 1
    assert key.encode() in r.stderr and b"top" not in r.stderr  # the key named, never the value


def test_command_not_found_and_not_runnable(app_yaml: str, tmp_path: Path) -> None:
    r = run_sopsy("exec-env", app_yaml, "--", "no-such-command-sopsy")
    assert (r.returncode, r.stderr) == (127, b"sopsy: command not found: no-such-command-sopsy\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    r = run_sopsy("exec-env", app_yaml, "--", str(plain))
    assert r.returncode == 126 and b"cannot run" in r.stderr


def test_usage_errors(app_yaml: str) -> None:
    assert b"FILE... -- COMMAND" in run_sopsy("exec-env", app_yaml).stderr
    assert run_sopsy("exec-env", app_yaml, "a", "b").returncode == 1
    assert b"before --" in run_sopsy("exec-env", "--", "env").stderr
    r = run_sopsy("exec-env", "--background", "--same-process", app_yaml, "--", "true")
    assert r.returncode == 8


def test_background_starts_the_command_and_returns(app_yaml: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_sopsy("exec-env", "--background", app_yaml, "--", "sh", "-c", f'sleep 0.2; printf %s "$name" > {out}')
    assert r.returncode == 0 and b"deprecated" in r.stderr
    import time

    for _ in range(100):
        if out.exists() and out.read_text():
            break
        time.sleep(0.05)
    assert out.read_text() == "svc"


def test_user(app_yaml: str) -> None:
    import pwd

    r = run_sopsy("exec-env", "--user", "nobody", app_yaml, "--", "sh", "-c", 'id -u; printf "%s" "$USER"')
    if os.geteuid() == 0:
        assert r.stdout == f"{pwd.getpwnam('nobody').pw_uid}\nnobody".encode()
    else:  # only root may switch; a user gets one line saying so
        assert r.returncode == 1 and r.stderr.startswith(b"sopsy: --user: cannot switch to nobody")


def test_global_flags_are_taken_up_to_the_double_dash_only() -> None:
    args = ["exec-env", "a.yaml", "--verbose", "b.yaml", "--", "prog", "--config", "x"]
    SETTINGS.verbose = False
    assert argv_mod.take_global_flags(args) == ["exec-env", "a.yaml", "b.yaml", "--", "prog", "--config", "x"]
    assert SETTINGS.verbose is True and SETTINGS.config is None
    assert argv_mod.normalise(["exec-env", "a.yaml", "--", "prog", "--", "x"]) == [
        "exec-env", "a.yaml", "--", argv_mod.ARGV_MARK, "prog", "--", "x"]

"""Key-service servers for tests: the real ``sops keyservice`` and ``sopsy keyservice`` as child
processes on 127.0.0.1 (a free port) or on a unix socket, started and stopped by the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_connectable(proc: subprocess.Popen[bytes], network: str, address: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"key service exited early ({proc.returncode}): "
                               f"{proc.stderr.read().decode(errors='replace') if proc.stderr else ''}")
        try:
            if network == "unix":
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(address)
            else:
                host, port = address.rsplit(":", 1)
                socket.create_connection((host, int(port)), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"key service on {network}:{address} did not start within {timeout} s")


@contextmanager
def running(argv: list[str], env: dict[str, str], network: str, address: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run a key-service command until the block ends (then SIGTERM, and kill if it lingers)."""
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_connectable(proc, network, address)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()


def sopsy_server_argv(network: str, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sopsy", "keyservice", "--network", network, "--address", address, *extra]


def sopsy(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sopsy", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with no age identity anywhere (HOME is a fresh directory) plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SOPS_AGE_", "SOPSY_PKCS11_", "SOFTHSM2_", "XDG_CONFIG_HOME"))}
    env.update(HOME=str(home), SOPS_DISABLE_VERSION_CHECK="1", **extra)
    return env

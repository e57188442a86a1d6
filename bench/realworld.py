"""Fidelity and interop on any set of real files (not a timing benchmark).

Usage: python bench/realworld.py [--type FMT] [--sample N] [--jobs J] [--report OUT.json]
                                 [--list LISTFILE] FILE...

Every file, in process (the format from the name, or ``--type``):

- sopsy encrypt → sopsy decrypt gives back the exact bytes, or encryption is refused with a
  one-line sopsy error (a file the sops format cannot hold);
- ``set`` of a random path to a new string, then ``unset`` of a random path, on the encrypted
  file: sopsy decrypts each result to the expected data (computed here on plain Python data);
  a replaced value changes that value's ``ENC[...]`` only (the rest of the file, ``ENC``
  strings masked and the metadata block cut out, is identical), and of the metadata only
  ``lastmodified`` and ``mac`` change;
- ``updatekeys`` (to two key groups) and ``groups add``: every byte outside the metadata block
  is unchanged, and the file still decrypts to the same bytes.

A random sample of N files, with the real sops binary: sops decrypts sopsy's encryption, and
sopsy's set/unset/updatekeys results, to the data expected; sops's own encryption of the
original decrypts with sopsy to the data sops gives and to exactly the bytes ``sops decrypt``
prints (a sops-made file carries no sopsy layout hints); sopsy's set/unset of sops's file is
read by sops as expected. Uses the throwaway age keys in testdata/.

The metadata block is cut out by rules written here for each format, independently of the
stores. Outcomes are counted per format: exact, refused (one line), mismatch, crash; the
failures (file, check, detail) go to ``--report``.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECIPIENT = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
RECIPIENT2 = "age1ujce3d0mtfr6gqs5ufrk2gc3ag2l7y473cvd7536vfnetf9a3sus7gdsgt"
os.environ["SOPS_AGE_KEY_FILE"] = str(ROOT / "testdata" / "throwaway_age_keys_both.txt")
os.environ["SOPS_DISABLE_VERSION_CHECK"] = "1"
sys.path.insert(0, str(ROOT))

from sopsy import commands, core, keygroups, setunset  # noqa: E402
from sopsy.errors import SopsyError  # noqa: E402
from sopsy.keys import KeySpec  # noqa: E402
from sopsy.model import Mapping, Sequence, to_data  # noqa: E402
from sopsy.stores import get_store, store_name_for  # noqa: E402
from sopsy.values import GoTime  # noqa: E402

OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
EXT = {"yaml": ".yaml", "json": ".json", "dotenv": ".env", "ini": ".ini", "tfvars": ".tfvars"}
SOPS_FORMATS = ("yaml", "json", "dotenv", "ini")  # sops has no tfvars store
ENC = re.compile(r"ENC\[AES256_GCM,[^\]]*\]")
# a value as the file spells it: quoted or not, or as a block scalar
MASK = re.compile(r"(?:![^\s]* )?(?:[|>][-+0-9]*\r?\n[ \t]*)?([\"']?)ENC\[AES256_GCM,[^\]]*\]\1")
SEQ_COMMENT = re.compile(r"(?m)^([ \t]*)- (ENC\[AES256_GCM,[^\]]*type:comment\])")
NEW = "sopsy-qa-value"
ALIAS = re.compile(r"(?:^|[\s\[{,:-])\*[^\s,\]}]+")


class Failed(Exception):
    """One check gave the wrong answer."""


class SopsOwnBug(Exception):
    """The real sops cannot read what it wrote itself (some comments it encrypts under one
    path and looks for under another): the check cannot compare with it."""


def norm(x: Any) -> Any:
    """Data as sops's JSON output holds it (every number a float, times as text)."""
    if isinstance(x, dict):
        return {k: norm(v) for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    if isinstance(x, GoTime):
        return x.text
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return "nan" if isinstance(x, float) and math.isnan(x) else float(x)


def strip_metadata(kind: str, text: str) -> str:
    """The file without its sops metadata block (each format's own rule)."""
    if kind == "yaml":  # `sops:` is written last in each document (in a flow mapping: `{}` stays flow)
        text = re.sub(r'(?s)\{"sops": \{.*\}\}\n?\Z', "{}\n", text)
        if not re.search(r"(?m)^ *sops:\r?$", text):  # a flow-style document: the last member
            return re.sub(r'(?s),?\s*"sops"\s*:\s*\{.*\Z', "", text)
        # (at the document's own column: a document indented as a whole has it indented too)
        return re.sub(r"(?ms)^ *sops:\r?\n.*?(?=^---|\Z)", "", text)
    if kind == "json":  # the last member of the top-level object
        return re.sub(r'(?s),?\s*"sops"\s*:\s*\{.*\Z', "", text)
    if kind == "dotenv":
        return "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith("sops_"))
    if kind == "ini":
        return re.sub(r"(?ms)^\[sops\][^\n]*\n.*?(?=^\[|\Z)", "", text)
    return re.sub(r"(?ms)^sops = \{\n.*?^\}\n?", "", text)


def leaf_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for k, v in data.items():
            out += leaf_paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += leaf_paths(v, (*prefix, i))
    elif prefix:
        out.append(prefix)
    return out


def path_text(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f'["{p}"]' for p in path)


def plain_key(p: Any) -> bool:
    return isinstance(p, int) or not any(c in str(p) for c in "\"'\\")


def data_of(kind: str, text: str) -> Any:
    return to_data(get_store(kind).parse(text).documents[0])


def apply(data: Any, path: tuple[Any, ...], value: Any = None, delete: bool = False) -> Any:
    data = json.loads(json.dumps(norm(data)))
    cur = data
    for p in path[:-1]:
        cur = cur[p]
    if delete:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return data


def meta_of(kind: str, text: str) -> dict[str, Any]:
    return dict(get_store(kind).parse(text).metadata or {})


def check_set_unset(kind: str, enc: str, tmp: Path, rng: random.Random) -> list[tuple[str, str, Any]]:
    """Set then unset a random path of the encrypted file; returns [(check, file text)]."""
    plain = core.decrypt_text(get_store(kind), enc).plaintext()
    if has_repeated_keys(get_store(kind).parse(plain).documents[0]):
        return []  # which of two equal keys a path names is not data: nothing to compare
    data = data_of(kind, plain)
    leaves = [p for p in leaf_paths(data) if all(plain_key(q) for q in p)]
    if kind == "ini":
        leaves = [p for p in leaves if len(p) == 2]
    if not leaves:
        return []
    f = tmp / ("f" + EXT[kind])
    f.write_bytes(enc.encode("utf-8", "surrogateescape"))
    target = rng.choice(leaves)
    new_key = rng.random() < 0.3 and isinstance(_parent(data, target), dict)
    if new_key:
        target = (*target[:-1], "sopsy_qa_new")
    setunset.set_value(str(f), path_text(target), json.dumps(NEW), input_type=kind)
    after_set = f.read_bytes().decode("utf-8", "surrogateescape")
    want = apply(data, target, NEW)
    _expect_data(kind, after_set, want, f"set {path_text(target)}")
    old = None if new_key else _parent(data, target)[target[-1]]
    try:
        _expect_only(kind, enc, after_set, replaced=old not in (None, ""), what=f"set {path_text(target)}")
    except Failed:
        # a value inside a copy of a YAML alias: the copy is written out whole (the anchor keeps
        # its value), which is the change, not a layout loss
        before_plain = core.decrypt_text(get_store(kind), enc).plaintext().splitlines()
        after_plain = core.decrypt_text(get_store(kind), after_set).plaintext().splitlines()
        gone = [ln for ln in difflib.ndiff(before_plain, after_plain) if ln.startswith("- ")]
        if kind != "yaml" or not any(ALIAS.search(ln) for ln in gone):
            raise
    out: list[tuple[str, str, Any]] = [("set", after_set, want)]
    rest = [p for p in leaf_paths(want) if all(plain_key(q) for q in p) and (kind != "ini" or len(p) == 2)]
    victim = rng.choice(rest)
    setunset.unset_value(str(f), path_text(victim), input_type=kind)
    after_unset = f.read_bytes().decode("utf-8", "surrogateescape")
    want2 = apply(want, victim, delete=True)
    _expect_data(kind, after_unset, want2, f"unset {path_text(victim)}")
    b, a = set(ENC.findall(strip_metadata(kind, after_set))), set(ENC.findall(strip_metadata(kind, after_unset)))
    if a - b:
        raise Failed(f"unset {path_text(victim)}: ENC values changed other than the removed one")
    out.append(("unset", after_unset, want2))
    return out


def has_repeated_keys(node: Any) -> bool:
    work = [node]
    while work:
        n = work.pop()
        if isinstance(n, Mapping):
            keys = [k for k, _ in n.items if k is not None]
            if len(keys) != len(set(keys)):
                return True
            work += [v for _, v in n.items]
        elif isinstance(n, Sequence):
            work += n.items
    return False


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        data = data[p]
    return data


def _expect_data(kind: str, text: str, want: Any, what: str) -> None:
    got = norm(data_of(kind, core.decrypt_text(get_store(kind), text).plaintext()))
    if got != norm(want):
        raise Failed(f"{what}: sopsy reads back other data")


def _expect_only(kind: str, before: str, after: str, replaced: bool, what: str) -> None:
    b, a = set(ENC.findall(strip_metadata(kind, before))), set(ENC.findall(strip_metadata(kind, after)))
    if len(a - b) != 1 or len(b - a) != (1 if replaced else 0):
        raise Failed(f"{what}: {len(b - a)} ENC values went and {len(a - b)} came")
    if replaced and _masked(kind, before) != _masked(kind, after):
        raise Failed(f"{what}: bytes other than the value changed")
    mb, ma = meta_of(kind, before), meta_of(kind, after)
    for k in ("lastmodified", "mac", "sopsy_layout"):  # the layout hints hold the value's spelling
        mb.pop(k, None)
        ma.pop(k, None)
    if mb != ma:
        raise Failed(f"{what}: metadata other than lastmodified/mac changed")


def _masked(kind: str, text: str) -> str:
    """The file without metadata and with every ENC value masked; a comment sops stored as a
    sequence element (``- ENC[...type:comment]``) counts as the ``#ENC[...]`` line sopsy
    writes it back as when it rewrites a sops-made file (docs/yaml-format.md, Comments)."""
    text = SEQ_COMMENT.sub(r"\1#\2", strip_metadata(kind, text))
    return MASK.sub("E", text)


def check_metadata_only(kind: str, enc: str, tmp: Path) -> list[tuple[str, str]]:
    f = tmp / ("f" + EXT[kind])
    f.write_bytes(enc.encode("utf-8", "surrogateescape"))
    (tmp / ".sops.yaml").write_text(
        f"creation_rules:\n  - key_groups:\n      - age: [{RECIPIENT}, {RECIPIENT2}]\n      - age: [{RECIPIENT2}]\n"
        "    shamir_threshold: 2\n")
    if not commands.updatekeys(str(f), yes=True, input_type=kind):
        raise Failed("updatekeys: nothing written")
    upd = f.read_bytes().decode("utf-8", "surrogateescape")
    added = keygroups.add(get_store(kind), str(f), [KeySpec("age", RECIPIENT)])
    plain = core.decrypt_text(get_store(kind), enc).plaintext()
    for what, text in (("updatekeys", upd), ("groups add", added)):
        if strip_metadata(kind, text) != strip_metadata(kind, enc):
            raise Failed(f"{what}: bytes outside the metadata block changed")
        if core.decrypt_text(get_store(kind), text).plaintext() != plain:
            raise Failed(f"{what}: decrypts to other bytes")
    (tmp / ".sops.yaml").unlink()
    return [("updatekeys", upd), ("groups add", added)]


def one_file(job: tuple[str, str, int]) -> dict[str, Any]:
    """All in-process checks on one file: {'kind', 'outcome', 'detail', 'enc', 'derived'}."""
    f, kind, seed = job
    res: dict[str, Any] = {"file": f, "kind": kind, "derived": []}
    try:
        src = Path(f).read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        return {**res, "outcome": "unreadable", "detail": str(exc)}
    store = get_store(kind)
    step = "encrypt"
    tmp = Path(tempfile.mkdtemp(prefix="sopsy-rw-"))
    try:
        enc = core.encrypt_text(store, src, OPTS)
        res["enc"] = enc
        step = "decrypt"
        if core.decrypt_text(store, enc).plaintext() != src:
            return {**res, "outcome": "mismatch", "detail": "round trip: other bytes"}
        step = "set/unset"
        res["derived"] = check_set_unset(kind, enc, tmp, random.Random(seed))
        step = "metadata-only"
        res["derived"] += [(w, t, None) for w, t in check_metadata_only(kind, enc, tmp)]
        return {**res, "outcome": "exact"}
    except Failed as exc:
        return {**res, "outcome": "mismatch", "detail": str(exc)}
    except SopsyError as exc:
        if step == "encrypt":
            lines = str(exc).count("\n")
            return {**res, "outcome": "refused" if not lines else "refused (multi-line!)", "detail": str(exc)}
        return {**res, "outcome": "crash", "detail": f"{step}: {type(exc).__name__}: {exc}"}
    except Exception as exc:  # noqa: BLE001 - the point is to count them
        tb = traceback.format_exc().strip().splitlines()[-3:]
        return {**res, "outcome": "crash", "detail": f"{step}: {type(exc).__name__}: {exc} | {' / '.join(tb)}"}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sops_json(sops: str, path: Path, kind: str, plain_comments: bool = True) -> Any:
    """The data sops reads; ``plain_comments=False``: sops must find no comment it cannot
    decrypt (a comment that was encrypted must be encrypted again, under the AAD sops expects)."""
    r = subprocess.run([sops, "decrypt", "--input-type", kind, "--output-type", "json", str(path)],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise Failed(f"sops cannot decrypt: {r.stderr.decode(errors='replace').strip()[:200]}")
    if not plain_comments and b"possibly unencrypted comment" in r.stderr:
        raise Failed("sops finds a comment it cannot decrypt")
    return json.loads(r.stdout)


def sops_checks(job: tuple[str, str, str, list[Any], str]) -> list[tuple[str, str]]:
    """The checks with the real sops on one file: [(outcome, detail)]."""
    f, kind, enc, derived, sops = job
    out: list[tuple[str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="sopsy-rw-sops-"))
    try:
        ext = EXT[kind]
        ours, orig, theirs = tmp / ("ours" + ext), tmp / ("orig" + ext), tmp / ("theirs" + ext)
        ours.write_bytes(enc.encode("utf-8", "surrogateescape"))
        orig.write_bytes(Path(f).read_bytes())
        t = subprocess.run([sops, "encrypt", "--input-type", kind, "--output-type", kind, "--age", RECIPIENT,
                            str(orig)], capture_output=True, timeout=60)
        if t.returncode != 0:
            return [("sops refuses the original", t.stderr.decode(errors="replace").strip()[:200])]
        theirs.write_bytes(t.stdout)
        out.append(_check(lambda: _same(sops_json(sops, ours, kind), sops_json(sops, theirs, kind)),
                          "sops reads sopsy's file as its own"))
        out.append(_check(lambda: _sopsy_reads_sops(sops, theirs, kind), "sopsy reads sops's file as sops"))
        for what, text, want in derived:
            p = tmp / ("derived" + ext)
            p.write_bytes(text.encode("utf-8", "surrogateescape"))
            if want is not None:
                out.append(_check(lambda p=p, want=want: _same(sops_json(sops, p, kind), norm(want)),
                                  f"sops reads sopsy's {what}"))
            else:
                out.append(_check(lambda p=p: _same(sops_json(sops, p, kind), sops_json(sops, ours, kind)),
                                  f"sops reads sopsy's {what}"))
        out.append(_check(lambda: _set_on_sops_file(sops, theirs, kind, tmp), "sopsy set/unset on sops's file"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _check(fn: Any, name: str) -> tuple[str, str]:
    try:
        fn()
        return (f"ok: {name}", "")
    except Failed as exc:
        return (f"FAIL: {name}", str(exc))
    except SopsOwnBug as exc:
        return (f"sops's own bug: {name}", str(exc))
    except Exception as exc:  # noqa: BLE001
        return (f"CRASH: {name}", f"{type(exc).__name__}: {exc}"[:300])


def _same(a: Any, b: Any) -> None:
    if a != b:
        raise Failed("data differs")


def _sopsy_reads_sops(sops: str, theirs: Path, kind: str) -> None:
    r = subprocess.run([sops, "decrypt", str(theirs)], capture_output=True, timeout=60)
    if r.returncode != 0:
        raise Failed("sops cannot decrypt its own file")
    if b"possibly unencrypted comment" in r.stderr:
        raise SopsOwnBug("sops cannot decrypt comments of its own file (it prints them encrypted)")
    opened = core.decrypt_text(get_store(kind), theirs.read_bytes().decode("utf-8", "surrogateescape"))
    mine = getattr(opened, "printed", opened.plaintext)()  # (what decrypt prints; older code: plaintext)
    if mine.encode("utf-8", "surrogateescape") != r.stdout:
        raise Failed("sopsy's plaintext differs from the bytes sops prints")


def _set_on_sops_file(sops: str, theirs: Path, kind: str, tmp: Path) -> None:
    text = theirs.read_bytes().decode("utf-8", "surrogateescape")
    own = subprocess.run([sops, "decrypt", str(theirs)], capture_output=True, timeout=60)
    # sopsy must leave sops no comment it cannot decrypt, unless sops cannot read its own
    plain_comments = b"possibly unencrypted comment" in own.stderr
    for what, after, want in check_set_unset(kind, text, tmp, random.Random(3)):
        p = tmp / ("sopsmade" + EXT[kind])
        p.write_bytes(after.encode("utf-8", "surrogateescape"))
        if sops_json(sops, p, kind, plain_comments=plain_comments) != norm(want):
            raise Failed(f"{what}: sops reads other data")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sample", type=int, default=50, help="files checked with the real sops, per format")
    ap.add_argument("--type", help="the format of every file (default: from the name)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", action="append", default=[], help="a file listing files, one a line")
    ap.add_argument("--report", help="write the failures here (JSON)")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    files = list(args.files)
    for lst in args.list:
        files += [ln for ln in Path(lst).read_text().splitlines() if ln.strip()]
    sops = shutil.which("sops", path=os.path.dirname(sys.executable)) or shutil.which("sops")
    jobs = [(f, args.type or store_name_for(f), i) for i, f in enumerate(files)]
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    with multiprocessing.Pool(args.jobs, maxtasksperchild=200) as pool:
        for r in pool.imap_unordered(one_file, jobs, chunksize=4):
            counts[r["kind"]][r["outcome"]] += 1
            if r["outcome"] in ("mismatch", "crash", "refused (multi-line!)"):
                failures.append({k: r[k] for k in ("file", "kind", "outcome", "detail")})
            elif r["outcome"] == "refused":
                failures.append({"file": r["file"], "kind": r["kind"], "outcome": "refused", "detail": r["detail"]})
            if r["outcome"] == "exact" and r["kind"] in SOPS_FORMATS:
                done.append(r)
    for kind, c in sorted(counts.items()):
        print(f"{kind}: {sum(c.values())} files: {dict(c)}")
    interop: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    if sops and done:
        rng = random.Random(7)
        sample: list[dict[str, Any]] = []
        for kind in SOPS_FORMATS:
            mine = [r for r in done if r["kind"] == kind]
            sample += rng.sample(mine, min(args.sample, len(mine)))
        sjobs = [(r["file"], r["kind"], r["enc"], r["derived"], sops) for r in sample]
        with multiprocessing.Pool(args.jobs) as pool:
            for r, res in zip(sample, pool.imap(sops_checks, sjobs), strict=True):
                for outcome, detail in res:
                    interop[r["kind"]][outcome] += 1
                    if not outcome.startswith("ok"):
                        failures.append({"file": r["file"], "kind": r["kind"], "outcome": outcome, "detail": detail})
        for kind, c in sorted(interop.items()):
            print(f"{kind} with sops: {dict(sorted(c.items()))}")
    if args.report:
        Path(args.report).write_text(json.dumps(failures, indent=1))


if __name__ == "__main__":
    main()

"""sops-made files for every key type and option that runs here, read and rewritten by sopsy,
and the reverse (not a timing benchmark; a campaign with the real sops binary).

Usage: python bench/sops_matrix.py [-v]

Keys: age, post-quantum age (age1pq1...), PGP (a throwaway key in a temporary GNUPGHOME), age
and PGP in one group, two Shamir groups. Options: every crypt rule, --mac-only-encrypted,
--output-type conversions, multi-document YAML, comments, binary. Each sops-made file is also
rewritten by sops (set, unset, rotate, updatekeys, groups add, edit through an EDITOR script).

For each sops-made file: ``sopsy decrypt`` prints exactly what ``sops decrypt`` prints, and the
same data with ``--output-type json``; sopsy's set and rotate of it are read by sops as the data
expected. For each sopsy-made file (same options): sops reads sopsy's data, then sops rewrites
it (set, rotate, updatekeys, edit) and sopsy reads what sops reads. Failures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.gnupg import GnuPGHome  # noqa: E402

AGE1 = "age1xk7drdl5aurh89q0an3e9jg9ddqv8wevsseh9avl9273azqhqetsl9k7xe"
AGE2 = "age1ujce3d0mtfr6gqs5ufrk2gc3ag2l7y473cvd7536vfnetf9a3sus7gdsgt"
BIN = Path(sys.executable).parent
SOPS, SOPSY = str(BIN / "sops"), str(BIN / "sopsy")

PLAIN = {
    "yaml": ("# top note\ndb:\n  user: admin # who\n  password: hunter2\n  port: 5432\n  ratio: 0.5\n"
             "  on: true\nlist:\n  # item note\n  - a\n  - 1e-07\n  - null\nplain_u: visible\nsecret_e: hidden\n"
             "# sops:enc\nmarked: m1\n"),
    "multi": "a: 1\nb: x\n---\nc: [1, 2]\nd: {e: f}\n",
    "json": '{\n  "db": {"user": "admin", "password": "hunter2", "port": 5432, "ratio": 0.5},\n'
            '  "list": ["a", 1, null, true],\n  "plain_u": "visible",\n  "secret_e": "hidden"\n}\n',
    "dotenv": "# note\nUSER=admin\nPASSWORD=hunter2\nplain_u=visible\nsecret_e=hidden\n",
    "ini": "; note\n[db]\nuser = admin\npassword = hunter2\nplain_u = visible\n[other]\nsecret_e = hidden\n",
    "binary": "\x00\x01 some bytes \xff\n",
}
EXT = {"yaml": ".yaml", "multi": ".yaml", "json": ".json", "dotenv": ".env", "ini": ".ini", "binary": ".bin"}
TYPE = {"yaml": "yaml", "multi": "yaml", "json": "json", "dotenv": "dotenv", "ini": "ini", "binary": "binary"}
# crypt rules, as creation-rule lines of .sops.yaml (sops has no flags for some of them)
RULES: list[tuple[str, str]] = [
    ("unencrypted_suffix", "unencrypted_suffix: _u"),
    ("encrypted_suffix", "encrypted_suffix: _e"),
    ("unencrypted_regex", "unencrypted_regex: '^(user|plain_u)$'"),
    ("encrypted_regex", "encrypted_regex: '^(password|secret_e|db)$'"),
    ("unencrypted_comment_regex", "unencrypted_comment_regex: who"),
    ("encrypted_comment_regex", "encrypted_comment_regex: 'sops:enc'"),
    ("mac_only_encrypted", "encrypted_regex: '^(password|secret_e)$'\n    mac_only_encrypted: true"),
]
PATHS = {"dotenv": ('["USER"]', ["USER"]), "ini": ('["db"]["user"]', ["db", "user"]), "multi": ('["a"]', ["a"])}


class Matrix:
    def __init__(self, verbose: bool) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="sopsy-matrix-"))
        self.gpg = GnuPGHome()
        self.fp = self.gpg.generate("matrix")
        pq = subprocess.run([SOPSY, "keygen", "--pq", "--output", str(self.tmp / "pq.txt")], capture_output=True,
                            text=True, check=True)
        self.pq = pq.stderr.strip().split()[-1]
        keys = self.tmp / "keys.txt"
        keys.write_text((ROOT / "testdata" / "throwaway_age_keys_both.txt").read_text() + "\n"
                        + (self.tmp / "pq.txt").read_text())
        self.env = {**os.environ, "SOPS_AGE_KEY_FILE": str(keys), "SOPS_DISABLE_VERSION_CHECK": "1",
                    **self.gpg.env()}
        self.ok = 0
        self.failed: list[str] = []
        self.verbose = verbose

    def run(self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(args), capture_output=True, env={**self.env, **(env or {})}, cwd=cwd or self.tmp,
                              input=stdin, timeout=120)

    def check(self, name: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
            self.ok += 1
            if self.verbose:
                print("ok  ", name)
        except Exception as exc:  # noqa: BLE001 - a campaign: report and go on
            self.failed.append(f"{name}: {exc}"[:600])
            print("FAIL", name, "|", str(exc)[:400])

    # -- helpers ----------------------------------------------------------------------------------

    def dec(self, tool: str, f: Path, *extra: str) -> bytes:
        r = self.run(tool, "decrypt", *extra, str(f))
        if r.returncode != 0:
            raise AssertionError(f"{Path(tool).name} decrypt failed: {r.stderr.decode()[-300:]}")
        return r.stdout

    def same_as_sops(self, f: Path, kind: str) -> None:
        """sopsy prints the bytes sops prints, and the same data as JSON."""
        a, b = self.dec(SOPS, f), self.dec(SOPSY, f)
        if a != b:
            raise AssertionError(f"plaintext differs:\nsops : {a[:300]!r}\nsopsy: {b[:300]!r}")
        if kind != "binary":
            ja, jb = self.dec(SOPS, f, "--output-type", "json"), self.dec(SOPSY, f, "--output-type", "json")
            if json.loads(ja) != json.loads(jb):
                raise AssertionError(f"JSON data differs:\nsops : {ja[:300]!r}\nsopsy: {jb[:300]!r}")

    def key_args(self, keys: str) -> list[str]:
        return {"age": ["--age", AGE1], "pq": ["--age", self.pq], "pgp": ["--pgp", self.fp],
                "age+pgp": ["--age", AGE1, "--pgp", self.fp]}[keys]

    def shamir_config(self, d: Path) -> None:
        (d / ".sops.yaml").write_text(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
            f"      - age: [{AGE1}]\n      - pgp: [{self.fp}]\n      - age: [{AGE2}]\n")

    def edit_script(self) -> str:
        """An EDITOR that changes one line of the file it is given (as a person would)."""
        script = self.tmp / "editor.py"
        script.write_text("import sys, re\np = sys.argv[1]\nt = open(p).read()\n"
                          "t = re.sub(r'admin', 'root', t, count=1) if 'admin' in t else t.replace('x', 'y', 1)\n"
                          "open(p, 'w').write(t)\n")
        return f"{sys.executable} {script}"

    # -- the two directions -------------------------------------------------------------------------

    def sops_rewrites(self, f: Path, kind: str, src: str, label: str, tool_reads: Callable[[Path], None]) -> None:
        """sops changes the file in each way it can; ``tool_reads`` checks the result."""
        if kind == "binary":
            ops: list[tuple[str, list[str]]] = [("rotate", ["rotate", "-i"])]
        else:
            path = PATHS.get(src, ('["db"]["user"]', []))[0]
            ops = [("set", ["set", str(f), path, '"root"']), ("unset", ["unset", str(f), path]),
                   ("rotate", ["rotate", "-i"]), ("edit", ["edit"]), ("updatekeys", ["updatekeys", "-y"]),
                   ("groups add", ["groups", "add", "-i", "--age", AGE2, "--file"])]
        for op, args in ops:
            g = f.with_name(f.stem + "-" + op.replace(" ", "_") + f.suffix)
            shutil.copy(f, g)
            full = args if op in ("set", "unset") else [*args, str(g)]
            if op in ("set", "unset"):
                full = [args[0], str(g), *args[2:]]
            env = {"EDITOR": self.edit_script()} if op == "edit" else None
            conf = g.parent / ".sops.yaml"
            saved = conf.read_text() if conf.exists() else None
            if op == "updatekeys":
                conf.write_text(f"creation_rules:\n  - age: {AGE1},{AGE2}\n    pgp: {self.fp}\n")
            r = self.run(SOPS, *(["--input-type", "binary", "--output-type", "binary"] if kind == "binary" and
                                 op != "rotate" else []), *full, env=env, cwd=g.parent)
            if op == "updatekeys":
                conf.unlink()
                if saved is not None:
                    conf.write_text(saved)
            if r.returncode != 0:
                self.check(f"{label} / sops {op}", lambda r=r: (_ for _ in ()).throw(
                    RuntimeError("sops itself failed: " + r.stderr.decode()[-200:])))
                continue
            self.check(f"{label} / sops {op} / sopsy reads", lambda g=g: tool_reads(g))

    def sopsy_rewrites(self, f: Path, kind: str, src: str, label: str) -> None:
        """sopsy's set and rotate of a sops-made file: sops reads the data expected."""
        if kind == "binary":
            g = f.with_name(f.stem + "-yrot" + f.suffix)
            shutil.copy(f, g)

            def rot() -> None:
                r = self.run(SOPSY, "rotate", "-i", str(g))
                assert r.returncode == 0, r.stderr.decode()[-300:]
                assert self.dec(SOPS, g) == self.dec(SOPS, f)
            self.check(f"{label} / sopsy rotate / sops reads", rot)
            return
        path, key = PATHS.get(src, ('["db"]["user"]', ["db", "user"]))
        want = json.loads(self.dec(SOPS, f, "--output-type", "json"))
        if kind != "multi":
            cur = want
            for k in key[:-1]:
                cur = cur[k]
            cur[key[-1]] = "root"
        for op in ("set", "rotate"):
            g = f.with_name(f.stem + "-y" + op + f.suffix)
            shutil.copy(f, g)

            def go(op: str = op, g: Path = g) -> None:
                args = ["set", str(g), path, '"root"'] if op == "set" else ["rotate", "-i", str(g)]
                r = self.run(SOPSY, *args, cwd=g.parent)
                assert r.returncode == 0, r.stderr.decode()[-300:]
                got = json.loads(self.dec(SOPS, g, "--output-type", "json"))
                exp = want if op == "set" else json.loads(self.dec(SOPS, f, "--output-type", "json"))
                if kind == "multi" and op == "set":
                    return  # sops's JSON of a multi-document file is its first document only
                assert got == exp, f"sops reads {json.dumps(got)[:300]} want {json.dumps(exp)[:300]}"
                if b"possibly unencrypted comment" in self.run(SOPS, "decrypt", str(g)).stderr:
                    raise AssertionError("sops finds a comment it cannot decrypt")
            self.check(f"{label} / sopsy {op} / sops reads", go)

    def case(self, kind: str, keys: str, rule: str, conf: str | None = None, out_type: str | None = None,
             shamir: bool = False) -> None:
        """``conf``: a creation-rule line (the crypt rule) in the case's .sops.yaml."""
        label = f"{kind}/{keys}/{rule}" + (f"/->{out_type}" if out_type else "")
        name = label.replace("/", "_").replace(">", "").replace("+", "_")
        work = self.tmp / name
        work.mkdir()
        key_args = [] if shamir or conf else self.key_args(keys)
        if shamir:
            self.shamir_config(work)
        if conf:
            (work / ".sops.yaml").write_text(f"creation_rules:\n  - age: {AGE1}\n    {conf}\n")
        okind = out_type or kind
        for tool in (SOPS, SOPSY):
            try:
                f = self._make_in(work, tool, kind, name, key_args, out_type)
            except RuntimeError as exc:
                if tool == SOPS:
                    print("skip", label, "(sops refuses:", str(exc)[-120:].strip(), ")")
                    return
                self.check(f"{label} / sopsy encrypt", lambda exc=exc: (_ for _ in ()).throw(exc))
                continue
            if tool == SOPS:
                self.check(f"{label} / sops-made / sopsy decrypts as sops", lambda f=f: self.same_as_sops(f, okind))
                self.sopsy_rewrites(f, okind, kind, f"{label} / sops-made")
                self.sops_rewrites(f, okind, kind, f"{label} / sops-made",
                                   lambda g: self.same_as_sops(g, okind))
            else:
                self.check(f"{label} / sopsy-made / sops reads sopsy's data",
                           lambda f=f: self._same_data(f, okind))
                self.sops_rewrites(f, okind, kind, f"{label} / sopsy-made", lambda g: self.same_as_sops(g, okind))

    def _make_in(self, work: Path, tool: str, kind: str, name: str, args: list[str], out_type: str | None) -> Path:
        src = work / ("plain" + EXT[kind])
        src.write_bytes(PLAIN[kind].encode("latin-1" if kind == "binary" else "utf-8"))
        extra = ["--input-type", "binary"] if kind == "binary" else []
        r = self.run(tool, "encrypt", *extra, *args, *(["--output-type", out_type] if out_type else []), str(src),
                     cwd=work)
        if r.returncode != 0:
            raise RuntimeError(f"{Path(tool).name} encrypt {name}: {r.stderr.decode()[-300:]}")
        dst = work / (Path(tool).name + EXT[out_type or kind])
        dst.write_bytes(r.stdout)
        return dst

    def _same_data(self, f: Path, kind: str) -> None:
        if kind == "binary":
            assert self.dec(SOPS, f) == self.dec(SOPSY, f)
            return
        a = json.loads(self.dec(SOPS, f, "--output-type", "json"))
        b = json.loads(self.dec(SOPSY, f, "--output-type", "json"))
        assert a == b, f"sops {json.dumps(a)[:300]} sopsy {json.dumps(b)[:300]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--quick", action="store_true", help="age only, default rule (a smoke run)")
    args = ap.parse_args()
    m = Matrix(args.v)
    try:
        for keys in ("age",) if args.quick else ("age", "pq", "pgp", "age+pgp"):
            for kind in ("yaml", "json", "dotenv", "ini", "multi", "binary"):
                m.case(kind, keys, "default")
        if not args.quick:
            for kind in ("yaml", "json", "dotenv", "ini"):
                m.case(kind, "shamir", "default", shamir=True)
                for rule, conf in RULES:
                    m.case(kind, "age", rule, conf)
            for kind, out in (("yaml", "json"), ("json", "yaml"), ("dotenv", "json"), ("ini", "json"),
                              ("yaml", "dotenv"), ("json", "ini"), ("dotenv", "yaml")):
                m.case(kind, "age", "default", out_type=out)
    finally:
        m.gpg.close()
        shutil.rmtree(m.tmp, ignore_errors=True)
    print(f"{m.ok} checks passed, {len(m.failed)} failed")


if __name__ == "__main__":
    main()

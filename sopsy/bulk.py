"""Many files, one process: ``decrypt --output-dir DIR FILE...`` and ``-r DIR``.

One process decrypts every file: the interpreter starts once, each provider sets up once, and
data keys are unwrapped by a pool of threads, one unwrap per distinct wrapped key
(:mod:`sopsy.unwraps`), so that a tree of files for KMS costs about one round trip per
``--jobs`` files instead of a process and a round trip each. Each output is written atomically
with mode 0600 (directories made 0700). A file that fails is named with its reason while the
others go on; the exit status is then that of the first failed file (in the order given). A
progress bar shows on a terminal (stderr), nothing otherwise.

Which files ``-r`` takes: regular files under the directory (not in ``.git``, not inside the
output directory) whose contents carry sops's marks (an ``ENC[AES256_GCM,`` value and a
``lastmodified`` field): plaintext files, the config and anything else are left alone, and
their number is said. A symbolic link to a file out of the directory is refused (named, as a
failure), as ``os.walk`` does not enter linked directories. Outputs keep their path relative to the directory; a named file goes to
the output directory under its own name.
"""

from __future__ import annotations

import os
import sys

from .errors import ConflictingParameters, Interrupted, OutputError, SopsyError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

DEFAULT_JOBS = 8
_MARKS = (b"ENC[AES256_GCM,", b"lastmodified")


class Job:
    __slots__ = ("src", "dest", "root", "tree")

    def __init__(self, src: str, dest: str, root: str, tree: str | None = None) -> None:
        self.src = src
        self.dest = dest
        self.root = root  # the output directory
        self.tree = tree  # the -r directory it was found in


def looks_encrypted(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return True  # let the decryption say what is wrong with it
    return all(mark in data for mark in _MARKS)


def _walk(tree: str, skip: str) -> Iterator[str]:
    def fail(exc: OSError) -> None:
        raise UsageError(f"-r {tree}: {exc.strerror}: {exc.filename}")

    for dirpath, dirnames, filenames in os.walk(tree, onerror=fail):
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and os.path.realpath(os.path.join(dirpath, d)) != skip)
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if os.path.isfile(path):
                yield path


def plan(files: Sequence[str], trees: Sequence[str], output_dir: str) -> tuple[list[Job], int]:
    """The jobs, and how many files under the trees were left alone (no sops marks). Two
    sources for one output, or an output over its own source, is an error before any work."""
    jobs: list[Job] = []
    skipped = 0
    out_real = os.path.realpath(output_dir)
    for f in files:
        if f == "-":
            raise UsageError("--output-dir takes files, not standard input")
        jobs.append(Job(f, os.path.join(output_dir, os.path.basename(os.path.normpath(f))), output_dir))
    for tree in trees:
        if not os.path.isdir(tree):
            raise UsageError(f"-r {tree}: not a directory")
        for path in _walk(tree, out_real):
            if looks_encrypted(path):
                jobs.append(Job(path, os.path.join(output_dir, os.path.relpath(path, tree)), output_dir, tree))
            else:
                skipped += 1
    seen: dict[str, str] = {}
    for job in jobs:
        key = os.path.realpath(job.dest)
        if key in seen:
            raise UsageError(f"{seen[key]} and {job.src} would both be written to {job.dest}")
        if key == os.path.realpath(job.src):
            raise UsageError(f"{job.src}: the output would replace the encrypted file; choose another --output-dir")
        seen[key] = job.src
    return jobs, skipped


def decrypt_one(job: Job, options: dict[str, Any]) -> None:
    from .commands import check_input_file, decrypted
    from .fileio import atomic_write, read_bytes

    check_input_file(job.src)
    if job.tree is not None and not _within(os.path.realpath(job.tree), os.path.realpath(job.src)):
        # as os.walk does not enter a linked directory: a tree (a checkout of someone's branch)
        # cannot make sopsy decrypt the user's other files into DIR
        raise UsageError(f"a symbolic link out of -r {job.tree} (to {os.path.realpath(job.src)}); not followed")
    text = decrypted(read_bytes(job.src), job.src, **options)
    _check_inside(job)
    make_private_dirs(os.path.dirname(job.dest))
    atomic_write(job.dest, text, 0o600)


def _check_inside(job: Job) -> None:
    """Plaintext stays inside the output directory: a symbolic link planted there (the file
    itself, or a directory on its way) would have it written elsewhere, over any file the
    user can write, so it is refused rather than followed (``--output FILE`` follows links)."""
    parent = os.path.realpath(os.path.dirname(job.dest))  # also resolves what does not exist yet
    if os.path.islink(job.dest) or not _within(os.path.realpath(job.root), parent):
        raise OutputError(f"{job.dest} is or goes through a symbolic link (to {os.path.realpath(job.dest)}); "
                          "not writing plaintext outside --output-dir")


def _within(root: str, path: str) -> bool:
    return os.path.commonpath([root, path]) == root


def make_private_dirs(path: str) -> None:
    """``mkdir -p`` with every directory it makes 0700 (os.makedirs gives the upper ones 0777
    less the umask)."""
    if not path or os.path.isdir(path):
        return
    make_private_dirs(os.path.dirname(path))
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not os.path.isdir(path):
            raise UsageError(f"cannot create {path}: a file is in the way") from None
    except OSError as exc:
        raise UsageError(f"cannot create {path}: {exc.strerror}") from None


def decrypt_many(files: Sequence[str], trees: Sequence[str], output_dir: str, *, jobs: int = DEFAULT_JOBS,
                 input_type: str | None = None, output_type: str | None = None, ignore_mac: bool = False,
                 decryption_order: str | None = None) -> int:
    """Decrypt every file into ``output_dir``; returns 0, or the exit code of the first failure."""
    if not files and not trees:
        raise UsageError("--output-dir needs files to decrypt (FILE... or -r DIR)")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConflictingParameters(f"--output-dir {output_dir} is not a directory")
    todo, skipped = plan(files, trees, output_dir)
    options = {"input_type": input_type, "output_type": output_type, "ignore_mac": ignore_mac,
               "decryption_order": decryption_order}
    with _Report(len(todo)) as report:
        failures = _run(todo, options, jobs, report)
        report.summary(len(todo), failures, skipped)
    return failures[min(failures)] if failures else 0


def _run(todo: list[Job], options: dict[str, Any], workers: int, report: _Report) -> dict[int, int]:
    """Decrypt in a thread pool; returns {job index: exit code} for the failures."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from . import datakey
    from .unwraps import SharedUnwraps

    failures: dict[int, int] = {}
    datakey.SHARED = SharedUnwraps()
    pool = ThreadPoolExecutor(max_workers=min(workers, max(1, len(todo))), thread_name_prefix="sopsy-decrypt")
    try:
        futures = {pool.submit(decrypt_one, job, options): i for i, job in enumerate(todo)}
        for fut in as_completed(futures):
            i = futures[fut]
            code, reason = _outcome(fut)
            if code:
                failures[i] = code
                report.failed(todo[i].src, reason)
            report.advance()
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise Interrupted("interrupted; files already written stay") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        datakey.SHARED = None
    return failures


def _outcome(fut: Any) -> tuple[int, str]:
    try:
        fut.result()
    except SopsyError as exc:
        return exc.exit_code, str(exc)
    except RecursionError:
        return 2, "the input is nested too deeply"
    except Exception as exc:  # a bug: still one line
        return 1, f"internal error ({type(exc).__name__}); please report it"
    return 0, ""


class _Report:
    """Failures as they happen, a progress bar on a terminal, a summary line when some failed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Report:
        if _stderr_is_terminal() and self.total > 1:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(TextColumn("decrypting"), BarColumn(), MofNCompleteColumn(),
                                console=Console(stderr=True), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("decrypt", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def say(self, line: str) -> None:
        from .fileio import shown

        line = shown(line)
        if self.bar is not None:
            self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=sys.stderr)

    def failed(self, path: str, reason: str) -> None:
        # many messages name the file already; the line starts with it, once
        reason = reason.removeprefix(f"{path}: ")
        reason = reason[:-len(path) - 2] if reason.endswith(f": {path}") else reason
        self.say(f"sopsy: {path}: {reason}")

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def summary(self, total: int, failures: dict[int, int], skipped: int) -> None:
        if skipped:
            self.say(f"sopsy: {skipped} file(s) under -r without sops metadata left alone")
        if failures:
            self.say(f"sopsy: {len(failures)} of {total} file(s) failed; the others were decrypted")


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (ValueError, OSError):
        return False

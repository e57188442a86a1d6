"""A sleep-like test command for exec-env / exec-file: reports itself, then waits for signals.

    sigchild.py [--own-group] [--trap | --count-int SECONDS] [ARG...]

Prints ``ready <pid> <first ARG or ->`` and sleeps. Without options every signal has its
default action (TERM, INT and HUP end it). ``--trap`` prints ``got NAME`` for each forwarded
signal and exits 40+N on TERM, INT or HUP. ``--count-int S`` counts the SIGINTs that arrive
within S seconds of the first, prints ``INT xN`` and exits 7 (what Ctrl-C tests look at).
``--own-group`` leaves the terminal's foreground process group first (as a job-control shell
would), so that Ctrl-C reaches it only through sopsy.
"""

from __future__ import annotations

import os
import signal
import sys
import time

FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--own-group"]:
        args.pop(0)
        os.setpgid(0, 0)
    mode = args.pop(0) if args and args[0].startswith("--") else ""
    window = float(args.pop(0)) if mode == "--count-int" else 0.0
    for name in FORWARDED:  # start from the default actions, whatever the test runner ignores
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    ints: list[float] = []
    if mode == "--trap":
        def trap(signum: int, frame: object) -> None:
            print("got", signal.Signals(signum).name, flush=True)
            if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                sys.exit(40 + signum)

        for name in FORWARDED:
            signal.signal(getattr(signal, name), trap)
    elif mode == "--count-int":
        signal.signal(signal.SIGINT, lambda signum, frame: ints.append(time.monotonic()))
    print("ready", os.getpid(), args[0] if args else "-", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.02)
        if ints and time.monotonic() - ints[0] > window:
            print(f"INT x{len(ints)}", flush=True)
            sys.exit(7)
    sys.exit(99)


if __name__ == "__main__":
    main()

"""Running sopsy as an ordinary user would, from a test that may run as root.

Root ignores file permissions, so "a read-only directory" or "a group the user belongs to" mean
nothing to it. When the tests run as root, the child keeps uid 0 (the interpreter may live under
/root) but loses the capabilities that bypass permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
CAP_FOWNER, CAP_CHOWN) through the bounding set, so the kernel checks it like any user. As a
non-root user nothing needs to change.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence

PR_CAPBSET_DROP = 24
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 0, 1, 2, 3


def can_drop_privileges() -> str | None:
    """None when :func:`as_user` works here, else why not (the test that skips prints it)."""
    if os.geteuid() != 0:
        return None
    import subprocess
    import sys

    # dropping from the bounding set needs CAP_SETPCAP, which a container may not grant
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=as_user(),  # noqa: PLW1509
                           capture_output=True, check=False)
    return None if probe.returncode == 0 else f"cannot drop capabilities here (exit {probe.returncode})"


def as_user(groups: Sequence[int] | None = None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a root child subject to permission checks (None when not root).
    ``groups`` sets the supplementary groups first (a user who is a member of them)."""
    if os.geteuid() != 0:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def drop() -> None:
        if groups is not None:
            os.setgroups(list(groups))
        for cap in (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                os._exit(97)

    return drop

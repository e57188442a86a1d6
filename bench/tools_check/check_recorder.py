"""Ansible callback for bench/tools_check.sh: records every ``assert`` task's outcome.

One JSON line per assert condition (``that`` item) to ``results.jsonl`` beside this file:
the task's source position, the condition's index and text, and whether it held. ansible's
assert evaluates its conditions in order and stops at the first false one, so on a failed
assert the conditions before it held, the failing one did not, and the rest were not reached.
Loaded without being enabled (ansible-test sets its own callback list), through
``callback_plugins`` in the integration.cfg that tools_check.sh writes.
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.jsonl")
_ASSERT = ("assert", "ansible.builtin.assert", "ansible.legacy.assert")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "check_recorder"
    CALLBACK_NEEDS_ENABLED = False

    def _record(self, result, failed: bool) -> None:  # type: ignore[no-untyped-def]
        task = result._task
        if task.action not in _ASSERT:
            return
        that = task.args.get("that")
        conditions = [that] if isinstance(that, str) else list(that or [])
        failing = result._result.get("assertion") if failed else None
        where = task.get_path() or task.get_name()
        # keep the part from "targets/" on: the temporary copy's directory name differs per run
        where = where[where.find("targets/"):] if "targets/" in where else where
        held = True
        with open(_OUT, "a", encoding="utf-8") as out:
            for i, cond in enumerate(conditions):
                if failed and (failing is None or str(cond).strip() == str(failing).strip()):
                    held = False  # the failing condition; the ones after it were not reached
                out.write(json.dumps({"task": where, "index": i, "condition": str(cond),
                                      "passed": held}) + "\n")

    def v2_runner_on_ok(self, result) -> None:  # type: ignore[no-untyped-def]
        self._record(result, failed=False)

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:  # type: ignore[no-untyped-def]
        self._record(result, failed=True)

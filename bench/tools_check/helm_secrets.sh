#!/usr/bin/env bash
# One-off measurement (not part of CI): helm-secrets' unit tests of `helm secrets decrypt`,
# `encrypt` and `edit`, run with the real sops and with sopsy as `sops`. See docs/dropin.md.
#
# Usage: bench/tools_check/helm_secrets.sh HELM_SECRETS_SRC
#   HELM_SECRETS_SRC  a checkout of jkroepke/helm-secrets (its tests/ and scripts/)
# Needs: bats, bats-assert, bats-support, bats-file (Debian packages), gpg, the repo's .venv.
# No helm binary is installable here, so a stand-in `helm` runs the plugin's scripts/run.sh for
# `helm secrets ...` as helm does, and answers the few other calls the test setup makes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SRC="$(cd "${1:?usage: $0 HELM_SECRETS_SRC}" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/hs"
mkdir -p "$WORK/hs/tests/bats/extensions" "$WORK/fakehelm"
for ext in bats-support bats-assert bats-file; do
    rm -rf "$WORK/hs/tests/bats/extensions/$ext"
    ln -s "/usr/lib/bats/$ext" "$WORK/hs/tests/bats/extensions/$ext"
done
cat > "$WORK/fakehelm/helm" <<EOF
#!/usr/bin/env bash
case "\$1" in
  version) echo "v3.17.0+gstandin" ;;
  plugin) [ "\$2" = list ] && printf 'NAME\tVERSION\nsecrets\t4.6.0\ngit\t1.3.0\n' ;;
  create) mkdir -p "\$2/templates"; printf 'apiVersion: v2\nname: chart\nversion: 0.1.0\n' > "\$2/Chart.yaml"; : > "\$2/values.yaml" ;;
  del|delete|uninstall) exit 0 ;;
  secrets) shift; export HELM_PLUGIN_DIR="$WORK/hs" HELM_BIN="$WORK/fakehelm/helm"; exec sh "$WORK/hs/scripts/run.sh" "\$@" ;;
  *) echo "stand-in helm: \$* is not supported" >&2; exit 1 ;;
esac
EOF
chmod +x "$WORK/fakehelm/helm"
for BIN in sops sopsy; do
    mkdir -p "$WORK/bin-$BIN"
    ln -s "$ROOT/.venv/bin/$BIN" "$WORK/bin-$BIN/sops"
    (cd "$WORK/hs" && PATH="$WORK/bin-$BIN:$WORK/fakehelm:$PATH" bats --tap \
        tests/unit/decrypt.bats tests/unit/encrypt.bats tests/unit/edit.bats > "$WORK/$BIN.tap" 2>&1) || true
    echo "helm-secrets with $BIN: $(grep -c '^ok' "$WORK/$BIN.tap") passed, $(grep -c '^not ok' "$WORK/$BIN.tap") failed"
    grep '^not ok' "$WORK/$BIN.tap" | sed 's/^/  /' || true
done

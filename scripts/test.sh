#!/usr/bin/env bash
# Install everything the tests need (system packages too) and run lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# SoftHSM2 for the PKCS#11 tests; GnuPG for the PGP tests; OpenSSL's headers and a C compiler
# for the native accelerator
need=""
command -v softhsm2-util >/dev/null 2>&1 || need="$need softhsm2"
command -v gpg >/dev/null 2>&1 || need="$need gnupg"
[ -f /usr/include/openssl/evp.h ] || need="$need libssl-dev"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # shellcheck disable=SC2086
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $need >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
# grpcio-tools (protoc) checks the key-service descriptor against sops's .proto
.venv/bin/pip install -q -e '.[test,aws,gcp,pkcs11,hcl,keyservice,vault,azure]' 'moto[server]' grpcio grpcio-tools
.venv/bin/ruff check sopsy
.venv/bin/mypy sopsy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"

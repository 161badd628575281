#!/usr/bin/env bash
# Installs the Debian 12 packages certa builds, tests and benchmarks with.
# Idempotent: does nothing when every package is already present.
# Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  clang libclang-rt-14-dev          # libFuzzer targets and the sanitizer build
  libssl-dev                        # OpenSSL 3: SHA-256, Ed25519 keys (PEM)
  libsodium-dev                     # Ed25519 signatures made and verified
  liburing-dev                      # io_uring block log
  libjemalloc-dev                   # allocator of every program
  libzmq3-dev                       # validator and client transport (CURVE)
  libcriterion-dev                  # unit tests
  libjansson-dev                    # JSON for events, genesis, reports
  liblmdb-dev                       # cold store of the licence state (archived grants, event history)
  lmdb-utils                        # mdb_copy, mdb_stat: backup and inspection of the cold store
  libmicrohttpd-dev                 # Prometheus metrics endpoint, the gateway (HTTP, HTTPS)
  libcurl4-openssl-dev              # certa monitor: a gateway's checkpoints and tiles over HTTP(S)
  openssl                           # test certificates of the gateway over HTTPS (it_gateway)
  fio                               # disk limit measured beside bench/store
  wrk                               # HTTP load of bench/gateway.sh
  curl                              # batched POSTs of bench/gateway.sh
  nginx-light                       # the plain static file server bench/tiles.sh measures tiles against
  python3                           # test helpers only
  python3-zmq                       # client protocol checked from the spec (it_client_spec, it_conformance)
  python3-cryptography              # Ed25519 of the independent conformance client (it_conformance)
  python3-jsonschema                # the gateway's answers checked against docs/openapi.yaml (it_gateway)
  python3-yaml                      # reads docs/openapi.yaml and the alert rules (it_gateway, it_alerts)
  help2man                          # the man page of the Debian package (tools/package.sh)
  prometheus                        # promtool: checks and unit-tests docs/monitoring/alerts.yml (it_alerts)
  chromium                          # headless browser: the gateway's web page tested (it_gateway_web)
  fonts-noto-cjk                    # the page's Chinese text in its screenshots (it_gateway_web)
  golang-go golang-golang-x-mod-dev # Go's sumdb/tlog checks certa's Merkle proofs (it_merkle_tlog)
)

missing=()
for p in "${PACKAGES[@]}"; do
  # Read the status whole (no pipe into grep -q: with pipefail an early
  # exit of grep could make a present package look missing).
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} package(s)"

#!/usr/bin/env bash
# install-deps.sh - installs every system package feedrank builds, tests and benchmarks with
# (Debian/Ubuntu, apt). Safe to re-run: skips apt entirely when everything is present.
# The CUDA toolkit is not installed here: the CUDA backend is built when nvcc is on PATH.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config git curl ca-certificates python3 python3-pip python3-venv
  libopenblas-openmp-dev  # BLAS for the CPU encoder (OpenMP build: one thread pool)
  libcjson-dev         # JSON (model configs, tokenizer.json, JSONL)
  libgrpc-dev          # gRPC C core (server)
  libprotobuf-c-dev protobuf-c-compiler  # protobuf-c messages
  libmicrohttpd-dev    # Prometheus metrics endpoint
  libhiredis-dev       # the shared log of replicas (--log redis://..., server/oplog_redis.c)
  redis-server redis-tools  # tests/test_replicas.py: a real Redis (7.0 in Debian 12) with AOF, and redis-cli
  clang libclang-rt-14-dev  # libFuzzer + sanitizers
  clang-format         # tests: scripts/format.sh --check (the sources stay formatted by .clang-format)
  gnuplot-nox          # benchmark plots
  python3-numpy        # tests/test_outputs.sh loads `embed --format npy` files with numpy itself
  valgrind
  python3-grpcio python3-grpc-tools python3-protobuf openssl  # the server's interoperability test
  curl
  nginx-light          # the scale-out test's gRPC load balancer (grpc_pass)
  prometheus           # promtool: the server test checks /metrics with `promtool check metrics`
)
# Python packages Debian 12 does not ship, from PyPI: the real `openai` client that
# tests/test_server_http.py points at the HTTP listener (/usr/bin/python3 runs the tests).
pip_step() {
  /usr/bin/python3 -c 'import openai' 2>/dev/null && return 0
  echo "install-deps.sh: pip installing openai"
  if [ "$(id -u)" -eq 0 ]; then /usr/bin/python3 -m pip install -q --break-system-packages 'openai>=1.0,<3'
  else /usr/bin/python3 -m pip install -q --user --break-system-packages 'openai>=1.0,<3'; fi
}
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# From PyPI (Debian ships no grpcio-reflection): the reflection test's client, pinned to Debian's
# python3-grpcio (1.51.1) and installed without dependencies, so Debian's grpcio/protobuf stay.
pip_pkgs=()
/usr/bin/python3 -c "import grpc_reflection" 2>/dev/null || pip_pkgs+=("grpcio-reflection==1.51.1")
pip_install() {
  [ ${#pip_pkgs[@]} -eq 0 ] && return 0
  echo "install-deps.sh: pip installing ${pip_pkgs[*]}"
  /usr/bin/python3 -m pip install -q --no-deps --break-system-packages "${pip_pkgs[@]}" ||
    { echo "install-deps.sh: pip install failed" >&2; exit 1; }
}
if [ ${#missing[@]} -eq 0 ]; then
  pip_install
  echo "install-deps.sh: all packages present"
  pip_step
  exit 0
fi
echo "install-deps.sh: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/feedrank-apt.log 2>&1 ||
  { tail -30 /tmp/feedrank-apt.log >&2; echo "install-deps.sh: apt-get install failed" >&2; exit 1; }
pip_install
pip_step
echo "install-deps.sh: done"

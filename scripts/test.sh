#!/usr/bin/env bash
# test.sh - the whole test suite, from a fresh machine: system packages, the default model
# (sha256-verified), a normal build and an AddressSanitizer + UBSan build, each running every
# test with ctest. No GPU needed: CUDA tests report "skipped: no CUDA device" when there is none.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)
scripts/install-deps.sh
scripts/fetch-model.sh all-MiniLM-L6-v2

echo "== build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.cmake.log 2>&1 || { cat build.cmake.log; exit 1; }
cmake --build build -j"$jobs"
echo "== tests (Release)"
(cd build && ctest --output-on-failure -j1)

if [ "${FEEDRANK_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFEEDRANK_SANITIZE=ON -DFEEDRANK_CUDA=OFF > build-asan.cmake.log 2>&1 || { cat build-asan.cmake.log; exit 1; }
  cmake --build build-asan -j"$jobs"
  echo "== tests (ASan + UBSan)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j1)
fi

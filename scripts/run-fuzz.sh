#!/usr/bin/env bash
# run-fuzz.sh [SECONDS] [TARGET...] - builds the libFuzzer targets with clang (build-fuzz/) and fuzzes
# each for SECONDS (default 600), two at a time. New corpus entries go to build-fuzz/corpus/TARGET;
# crashes to build-fuzz/crashes/TARGET (copy reproducers into fuzz/corpus/TARGET as regression cases).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-600}; shift || true
targets=${*:-"tokenizer tokenizer_json safetensors config store catalog request html priors priors_checkpoint index_journal profile seqmodel rerank_proto wire_check openai_embed reflection wal delta oplog_redis"}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFEEDRANK_FUZZ=ON -DFEEDRANK_CUDA=OFF > build-fuzz.cmake.log 2>&1 ||
  { cat build-fuzz.cmake.log; exit 1; }
for t in $targets; do cmake --build build-fuzz -j"$(nproc)" --target "fuzz_$t" > /dev/null; done
run() {
  local t=$1
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  "build-fuzz/fuzz_$t" -max_total_time="$secs" -max_len=65536 -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/crashes/$t/" "build-fuzz/corpus/$t" "fuzz/corpus/$t" > "build-fuzz/$t.log" 2>&1 || true
  printf '%-16s %s\n' "$t" "$(grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' "build-fuzz/$t.log" | tr '\n' ' ')"
}
set -- $targets
while [ $# -gt 0 ]; do
  run "$1" &
  if [ $# -gt 1 ]; then run "$2" & shift; fi
  wait
  shift
done

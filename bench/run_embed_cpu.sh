#!/usr/bin/env bash
# run_embed_cpu.sh [VENV] - builds feedrank, then times feedrank (fp32, bf16, fp16: each the CPU
# supports) and its peers on the same texts, RUNS times in one run on this machine, and prints
# per point the median over the runs of each implementation's median batch latency.
#   VENV (default /opt/frvenv) has sentence-transformers, onnx and onnxruntime
#   (pip install sentence-transformers onnx onnxruntime); never a product or CI dependency.
#   RUNS (default 3), MIN_SECONDS (default 3: per point and implementation, at least 5 batches),
#   LENS (default 16,128), BATCHES (default 1,8,64).
# Raw JSON lines (each with "run") go to bench/results/embed_cpu-<host>.jsonl, the summary table
# (markdown) to bench/results/embed_cpu-<host>.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-/opt/frvenv}
runs=${RUNS:-3}
min_s=${MIN_SECONDS:-3}
lens=${LENS:-16,128}
batches=${BATCHES:-1,8,64}
cd "$root"
[ -x "$venv/bin/python" ] || { echo "run_embed_cpu.sh: no python in venv $venv (see the header)" >&2; exit 2; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target embed_cpu > /dev/null
texts=$(mktemp -d)
trap 'rm -rf "$texts"' EXIT
out="bench/results/embed_cpu-$(hostname).jsonl"
summary="bench/results/embed_cpu-$(hostname).md"
mkdir -p bench/results
: > "$out"
precisions="fp32"
for p in bf16 fp16; do
  if ./build/embed_cpu --model models/all-MiniLM-L6-v2 --precision "$p" --lens 16 --batches 1 --min-seconds 0 --no-tokenizer > /dev/null 2>&1; then
    precisions="$precisions $p"
  fi
done
tag() { sed "s/^{/{\"run\":$1,/"; }
{ echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
  ./build/embed_cpu --model models/all-MiniLM-L6-v2 --dump-texts "$texts" --lens "$lens" --batches "$batches" --min-seconds 0 \
    ${FEEDRANK_TOK_CORPUS:+--tok-corpus "$FEEDRANK_TOK_CORPUS"} | grep '"tokenizer"'
  for r in $(seq 1 "$runs"); do
    for p in $precisions; do
      ./build/embed_cpu --model models/all-MiniLM-L6-v2 --precision "$p" --lens "$lens" --batches "$batches" \
        --min-seconds "$min_s" --no-tokenizer | tag "$r"
    done
    for impl in st ort ort-opt; do
      "$venv/bin/python" bench/peers/embed_peers.py --impl $impl --model models/all-MiniLM-L6-v2 --texts-dir "$texts" \
        --lens "$lens" --batches "$batches" --min-seconds "$min_s" 2>/dev/null | tag "$r"
    done
    echo "# run $r done $(date -u +%TZ); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  done
} | tee -a "$out"
python3 bench/summarize_cpu.py "$out" | tee "$summary"

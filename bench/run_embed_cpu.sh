#!/usr/bin/env bash
# run_embed_cpu.sh [VENV] - builds feedrank, then times feedrank and its peers on the same texts
# in one run, on this machine. VENV (default /opt/frvenv) has sentence-transformers, onnx and
# onnxruntime (pip install sentence-transformers onnx onnxruntime). Writes JSON lines to
# bench/results/embed_cpu-<host>.jsonl and prints them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-/opt/frvenv}
cd "$root"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target embed_cpu > /dev/null
texts=$(mktemp -d)
out="bench/results/embed_cpu-$(hostname).jsonl"
mkdir -p bench/results
: > "$out"
{ echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  ./build/embed_cpu --model models/all-MiniLM-L6-v2 --dump-texts "$texts" ${FEEDRANK_TOK_CORPUS:+--tok-corpus "$FEEDRANK_TOK_CORPUS"}
  for impl in st ort ort-opt; do
    "$venv/bin/python" bench/peers/embed_peers.py --impl $impl --model models/all-MiniLM-L6-v2 --texts-dir "$texts" 2>/dev/null
  done
} | tee -a "$out"
rm -rf "$texts"

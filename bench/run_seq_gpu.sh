#!/usr/bin/env bash
# run_seq_gpu.sh - the sequential model's CUDA trainer on a GPU machine (issue #17 items 2 and 5):
#   1. builds with CUDA (Release, no server) and runs test_seqmodel_cuda: every op's gradient
#      tensor, the states, the loss and 6 AdamW steps against the CPU reference (must pass: a GPU
#      is present, so "Skipped" counts as a failure here);
#   2. times training steps: build/seq_train_cpu --device cuda (feedrank's CUDA trainer) and
#      bench/peers/seq_train_peer.py --device cuda (PyTorch eager), same model, data, batch 128 and
#      1,024 negatives, one after the other in this run; then the same C trainer on the CPU for
#      scale.
# Results (JSON lines, nvidia-smi, the test's output) go under $OUT (default bench/results/seq_gpu).
# Settings from the environment: DATA (a RecBole feed file; default ../shared/data/amazon-games/
# Games.dev.inter, which must be present on the machine), EPOCHS (default 2), MAX_SEQ (default 0 =
# all), PY (a python with torch and CUDA; default python3), ITEMS (catalogue size, default 16859).
# Not yet run: written in a session without a GPU (2026-12-03).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-bench/results/seq_gpu}
mkdir -p "$out"
data=${DATA:-../shared/data/amazon-games/Games.dev.inter}
epochs=${EPOCHS:-2}
max_seq=${MAX_SEQ:-0}
py=${PY:-python3}
items=${ITEMS:-16859}
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; } > "$out/machine.txt" 2>&1
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DFEEDRANK_CUDA=ON -DFEEDRANK_SERVER=OFF > "$out/cmake.log" 2>&1 &&
  cmake --build build-gpu -j"$(nproc)" --target test_seqmodel_cuda seq_train_cpu >> "$out/cmake.log" 2>&1 ||
  { echo "build failed: see $out/cmake.log"; tail -30 "$out/cmake.log"; exit 1; }
./build-gpu/test_seqmodel_cuda > "$out/test_seqmodel_cuda.txt" 2>&1
test_rc=$?
tail -25 "$out/test_seqmodel_cuda.txt"
echo "test_seqmodel_cuda exit $test_rc (0 = pass; 77 = no usable device, a failure on this machine)"
if [ ! -f "$data" ]; then echo "no data at $data: set DATA"; exit 1; fi
res="$out/seq_train_gpu.jsonl"
{ echo "# $(date -u +%FT%TZ) $(head -2 "$out/machine.txt" | tail -1); data $data, epochs $epochs, max_seq $max_seq"
  ./build-gpu/seq_train_cpu --data "$data" --epochs "$epochs" --max-seq "$max_seq" --device cuda
  "$py" bench/peers/seq_train_peer.py --data "$data" --epochs "$epochs" --max-seq "$max_seq" --device cuda --items "$items"
  OMP_WAIT_POLICY=passive ./build-gpu/seq_train_cpu --data "$data" --epochs 1 --max-seq 12800 --threads "$(nproc)"
} 2>&1 | tee "$res"
exit $test_rc

#!/usr/bin/env bash
# run_embed_gpu.sh OUT_DIR - the one GPU-machine call: CUDA correctness tests, a sanitizer pass,
# the GPU benchmark and its same-run PyTorch peer. Run from the repository root on the GPU
# machine after scripts/prepare-device-carry.sh has filled .devcarry/ here (see bench/RESULTS.md
# for the exact device call). Every stage runs under its own time limit and writes its log to
# OUT_DIR; a short summary is printed last.
set -u
FINAL=${1:?usage: run_embed_gpu.sh OUT_DIR}
# everything goes to $FINAL/logs.tgz (logs) and $FINAL/*.jsonl + summary.md (results)
OUT=/tmp/frgpu-out
rm -rf "$OUT"; mkdir -p "$OUT" "$FINAL"
trap 'tar -C "$OUT" -czf "$FINAL/logs.tgz" . ; cp "$OUT"/*.jsonl "$OUT"/summary.md "$FINAL"/ 2>/dev/null' EXIT
ROOT=$PWD
W=/tmp/frgpu
mkdir -p "$W"
# the test binaries were built in /work/main and look for their fixtures there
if [ ! -e /work/main/tests ]; then mkdir -p /work && rm -rf /work/main && ln -s "$ROOT" /work/main; fi
tar -C "$W" -xJf .devcarry/bins.tar.xz
CUBLAS_DIR=$(dirname "$(find / -xdev -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$ROOT/.devcarry/lib:$CUBLAS_DIR:${LD_LIBRARY_PATH:-}"
MINILM=$ROOT/.devcarry/minilm-f16
stage() { echo "== $(date -u +%T) $*"; }
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
  nvcc --version | tail -1; python3 -c 'import torch, sentence_transformers as s; print("torch", torch.__version__, "sentence-transformers", s.__version__)'
  echo "cublas: $CUBLAS_DIR"; lscpu | grep 'Model name'; } > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

stage "golden vectors for the fp16 MiniLM copy (upstream sentence-transformers, fp32 on the CPU)"
timeout 180 python3 scripts/golden/upstream_vectors.py "$MINILM" tests/fixtures/minilm_golden.txt "$W/minilm_f16_golden" > "$OUT/golden.log" 2>&1
tail -1 "$OUT/golden.log"

stage "test_ops cuda (fp32, fp16, bf16; attention: mma.sync kernel)"
timeout 180 "$W/test_ops" cuda > "$OUT/test_ops_cuda.log" 2>&1; echo "rc $?" >> "$OUT/test_ops_cuda.log"
grep -E "FAIL|passed|skipped|rc " "$OUT/test_ops_cuda.log" | head -12; tail -2 "$OUT/test_ops_cuda.log"
stage "test_ops cuda fp16 + bf16 with the wmma attention kernel"
for p in fp16 bf16; do FEEDRANK_CUDA_ATTENTION=wmma timeout 120 "$W/test_ops" cuda $p > "$OUT/test_ops_cuda_wmma_$p.log" 2>&1; echo "rc $?" >> "$OUT/test_ops_cuda_wmma_$p.log"; tail -2 "$OUT/test_ops_cuda_wmma_$p.log"; done
stage "compute-sanitizer memcheck: test_ops cuda fp32 and fp16"
for p in fp32 fp16; do timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 "$W/test_ops" cuda $p > "$OUT/sanitizer_$p.log" 2>&1; echo "rc $?" >> "$OUT/sanitizer_$p.log"; grep -E "ERROR SUMMARY|Invalid|Misaligned|at 0x|by thread|rc " "$OUT/sanitizer_$p.log" | head -8; done

stage "test_encoder_cuda"
FEEDRANK_CUDA_MODEL=$MINILM FEEDRANK_CUDA_GOLDEN=$W/minilm_f16_golden timeout 300 "$W/test_encoder_cuda" > "$OUT/test_encoder_cuda.log" 2>&1
echo "rc $?" >> "$OUT/test_encoder_cuda.log"
grep -E "FAIL|passed|skipped|rc " "$OUT/test_encoder_cuda.log" | tail -8

stage "feedrank embed --device cuda"
printf 'cordless drill\nwooden garden bench with storage\n' > "$W/t.txt"
{ "$W/feedrank" embed --model "$MINILM" --device cuda --input "$W/t.txt" --output "$W/gpu.jsonl" &&
  "$W/feedrank" embed --model "$MINILM" --device cpu --input "$W/t.txt" --output "$W/cpu.jsonl" &&
  python3 -c "
import json, math
a=[json.loads(l) for l in open('$W/gpu.jsonl')]; b=[json.loads(l) for l in open('$W/cpu.jsonl')]
print('cosine cuda vs cpu:', [round(sum(x*y for x,y in zip(u,v)),6) for u,v in zip(a,b)])"; } > "$OUT/embed_cli.log" 2>&1
cat "$OUT/embed_cli.log"

stage "bench models"
timeout 120 python3 scripts/make-bench-model.py "$MINILM" "$W/bge-small-shape" > "$OUT/bench_model.log" 2>&1
tail -1 "$OUT/bench_model.log"

stage "embed_gpu (feedrank)"
B="$W/embed_gpu"
timeout 150 "$B" --model "$W/bge-small-shape" --label bge-small-shape --precision fp16 --min-seconds 0.3 >> "$OUT/embed_gpu.jsonl" 2>> "$OUT/embed_gpu.err"
FEEDRANK_CUDA_ATTENTION=wmma timeout 60 "$B" --model "$W/bge-small-shape" --label bge-small-shape-wmma --precision fp16 --lens 128,512 --batches 64,256 --min-seconds 0.3 --skip-score >> "$OUT/embed_gpu.jsonl" 2>> "$OUT/embed_gpu.err"
timeout 90 "$B" --model "$W/bge-small-shape" --label bge-small-shape --precision bf16 --min-seconds 0.3 --skip-score >> "$OUT/embed_gpu.jsonl" 2>> "$OUT/embed_gpu.err"
timeout 120 "$B" --model "$W/bge-small-shape" --label bge-small-shape --precision fp32 --min-seconds 0.2 --skip-score >> "$OUT/embed_gpu.jsonl" 2>> "$OUT/embed_gpu.err"
timeout 90 "$B" --model "$MINILM" --label all-MiniLM-L6-v2 --precision fp16 --lens 16,32,128,256 --min-seconds 0.3 --skip-score >> "$OUT/embed_gpu.jsonl" 2>> "$OUT/embed_gpu.err"
tail -3 "$OUT/embed_gpu.err"

stage "peer: PyTorch + sentence-transformers"
P=bench/peers/embed_gpu_peer.py
PYTHONUNBUFFERED=1 timeout 150 python3 $P --model "$W/bge-small-shape" --label bge-small-shape --precision fp16 --min-seconds 0.3 >> "$OUT/peer.jsonl" 2>> "$OUT/peer.err"
PYTHONUNBUFFERED=1 timeout 90 python3 $P --model "$MINILM" --label all-MiniLM-L6-v2 --precision fp16 --lens 16,32,128,256 --min-seconds 0.3 --skip-score >> "$OUT/peer.jsonl" 2>> "$OUT/peer.err"
grep -v Warning "$OUT/peer.err" | tail -3

stage "compute-sanitizer racecheck: test_ops cuda fp16 (shared-memory hazards in the attention kernels)"
timeout 90 compute-sanitizer --tool racecheck --error-exitcode 9 --print-limit 20 "$W/test_ops" cuda fp16 > "$OUT/racecheck_fp16.log" 2>&1; echo "rc $?" >> "$OUT/racecheck_fp16.log"
grep -E "RACECHECK SUMMARY|ERROR SUMMARY|hazard|passed|rc " "$OUT/racecheck_fp16.log" | head -6

stage "compute-sanitizer memcheck: embed_gpu (a forward with graphs, scoring and top-k)"
timeout 120 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 "$B" --model "$MINILM" --lens 16 --batches 8 --min-seconds 0 --candidates 1000 > "$OUT/sanitizer_embed.log" 2>&1; echo "rc $?" >> "$OUT/sanitizer_embed.log"
grep -E "ERROR SUMMARY|Invalid|Misaligned|at 0x|rc " "$OUT/sanitizer_embed.log" | head -8

stage "ncu: the attention kernel at 64 x 512 tokens"
timeout 90 ncu --kernel-name regex:attention_mma --launch-count 1 --section SpeedOfLight --section Occupancy \
  "$B" --model "$W/bge-small-shape" --precision fp16 --lens 512 --batches 64 --min-seconds 0 --skip-score > "$OUT/ncu.log" 2>&1
grep -E "Duration|Throughput|Achieved Occupancy|Registers" "$OUT/ncu.log" | head -12

stage "summary"
python3 bench/summarize_gpu.py "$OUT/embed_gpu.jsonl" "$OUT/peer.jsonl" | tee "$OUT/summary.md"

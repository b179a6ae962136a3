#!/usr/bin/env bash
# run_device.sh [--dry-run] OUT_DIR - the one prepared GPU-machine call of issue #21 (item 5), in
# under 8 minutes: CUDA tests, compute-sanitizer, the encoder grid with the same-run PyTorch peer
# (bench/run_embed_gpu.sh: test_ops cuda, test_encoder_cuda, compute-sanitizer), the gRPC server's load test on the machine's loopback (500 candidates
# + a 16-token query per request, concurrency 1 .. saturation, CUDA and CPU servers side by side)
# and the batch re-rank benchmark (`feedrank rerank --device cuda` vs `--device cpu`). Raw results
# and logs go to OUT_DIR (at most 8 files come back from a device call: see the list at the end).
#
# Before the call, here: scripts/prepare-device-carry.sh (fills .devcarry/: binaries built with
# CUDA and the server, the server's runtime libraries from Debian's .debs, the fp16 MiniLM).
# The device call (carry .devcarry; timeout 540 leaves a rerun inside 15 device minutes):
#   run(command="bash bench/run_device.sh $OUT", carry=[".devcarry"], timeout_s=540)
# --dry-run prints the stages and their time limits and checks the carried files, running nothing.
# Stage limits add up to 480 s (8 minutes); most stages end well before theirs.
set -u
dry=0
if [ "${1:-}" = "--dry-run" ]; then dry=1; shift; fi
FINAL=${1:?usage: run_device.sh [--dry-run] OUT_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
W=/tmp/frdev
LOGS=$W/logs
RT=$W/runtime
load_s=8           # seconds of load per point (after a 2 s warm-up)
rerank_rounds=${RERANK_ROUNDS:-5000} # x 200 requests = 1M re-rank requests on CUDA

total=0
stage() { # NAME LIMIT_S COMMAND... : runs COMMAND under a time limit, logging to $LOGS/NAME.log
  local name=$1 limit=$2; shift 2
  total=$((total + limit))
  if [ $dry = 1 ]; then printf '%-14s %4ss  %s\n' "$name" "$limit" "$*"; return 0; fi
  echo "== $(date -u +%T) $name (limit ${limit}s)"
  timeout "$limit" bash -c "$*" > "$LOGS/$name.log" 2>&1
  local rc=$?
  echo "rc $rc" >> "$LOGS/$name.log"
  grep -E "FAIL|passed|ERROR SUMMARY|rc [0-9]|qps|rps|error" "$LOGS/$name.log" | tail -6
  return 0
}

need=(.devcarry/bins.tar.xz .devcarry/runtime.tar.xz .devcarry/lib/libcjson.so.1 .devcarry/minilm-f16/model.safetensors)
for f in "${need[@]}"; do
  [ -e "$f" ] || { echo "run_device.sh: missing $f (run scripts/prepare-device-carry.sh here first)"; [ $dry = 1 ] || exit 2; }
done

if [ $dry = 0 ]; then
  rm -rf "$W"; mkdir -p "$W" "$LOGS" "$RT" "$FINAL"
  trap 'tar -C "$LOGS" -czf "$FINAL/logs.tgz" . ; cp "$W"/*.jsonl "$W"/*.md "$FINAL"/ 2>/dev/null' EXIT
  tar -C "$W" -xJf .devcarry/bins.tar.xz
  tar -C "$RT" -xJf .devcarry/runtime.tar.xz
  CUBLAS_DIR=$(dirname "$(find / -xdev -name 'libcublasLt.so.13*' 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH="$ROOT/.devcarry/lib:$RT:$CUBLAS_DIR:${LD_LIBRARY_PATH:-}"
  # the test binaries were built in /work/main and look for their fixtures there
  if [ ! -e /work/main/tests ]; then mkdir -p /work && rm -rf /work/main && ln -s "$ROOT" /work/main; fi
  { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; lscpu | grep 'Model name'; nproc
    ldd "$W/feedrank" | grep -E "not found" || echo "all libraries found"; } > "$W/machine.md" 2>&1
  cat "$W/machine.md"
fi
M=$ROOT/.devcarry/minilm-f16
B=$W

# 1+2. CUDA tests (test_ops cuda in every precision, test_encoder_cuda), compute-sanitizer memcheck
# and racecheck, and the encoder grid with the PyTorch peer in the same run: run_embed_gpu.sh
stage embed_grid 270 "bash bench/run_embed_gpu.sh $W/grid; cp $W/grid/*.jsonl $W/grid/summary.md $W/ 2>/dev/null"
# 3. the server under load: a 2,000-item store, requests of 500 candidates + a 16-token query
stage load_prepare 30 "python3 bench/device_load_inputs.py $W && $B/feedrank index --model $M --catalog $W/catalog.csv --out $W/lt.store --device cuda"
for dev in cuda cpu; do
  for c in 1 8 64; do
    stage "load_${dev}_c$c" $((load_s + 7)) "$B/feedrank serve --model $M --store $W/lt.store --device $dev --listen 127.0.0.1:50099 --log-level 1 > $W/srv_$dev.out 2>&1 & srv=\$!; \
      for i in \$(seq 100); do grep -q listening $W/srv_$dev.out && break; sleep 0.1; done; \
      echo -n '{\"device\":\"$dev\",\"concurrency\":$c,\"load\":' >> $W/load.jsonl; \
      $B/load --addr 127.0.0.1:50099 --requests $W/requests.jsonl --concurrency $c --duration $load_s --warmup 2 | tr -d '\n' >> $W/load.jsonl; \
      echo '}' >> $W/load.jsonl; kill \$srv; wait \$srv"
  done
done
# 4. batch re-ranking: the 200 requests repeated (1M on CUDA, 10k on the CPU) through stdin
stage rerank_cuda 60 "{ time ( for i in \$(seq $rerank_rounds); do cat $W/requests.jsonl; done | $B/feedrank rerank --model $M --store $W/lt.store --device cuda --input - --output /dev/null ); } > $W/rerank_cuda.txt 2>&1; cat $W/rerank_cuda.txt"
stage rerank_cpu 30 "{ time ( for i in \$(seq 50); do cat $W/requests.jsonl; done | $B/feedrank rerank --model $M --store $W/lt.store --device cpu --input - --output /dev/null ); } > $W/rerank_cpu.txt 2>&1; cat $W/rerank_cpu.txt"
[ $dry = 1 ] && { echo "(dry run: nothing ran; stage limits total $total s; results would be $FINAL/{logs.tgz,machine.md,summary.md,embed_gpu.jsonl,peer.jsonl,load.jsonl,device_summary.md})"; exit 0; }
{ echo "## load (requests of 500 candidates + a 16-token query; per device and concurrency)"; cat "$W/load.jsonl"
  echo "## rerank (CUDA: $((rerank_rounds * 200)) requests, CPU: 10000)"; grep -E 'real|user|requests|error' "$W"/rerank_*.txt; } > "$W/device_summary.md" 2>&1
cat "$W/device_summary.md" 2>/dev/null
